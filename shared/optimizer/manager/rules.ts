/**
 * Decide: the manager's rules, pure functions of an {@link Observation}. Each rule that holds
 * yields a recommendation carrying its evidence (metric, value, threshold, window), a severity,
 * the action, and the candidate changes that would apply it; a rule that does not hold yields
 * nothing. The same rules feed `GET /optimizer/recommendations` (advise) and the runs (apply).
 *
 * The rules live by area in `rules/`: `cache.ts` (TTLs, pre-warm list), `edge.ts` (warming
 * interval), `capacity.ts` (pools, throttle limits), `advice.ts` (retries, indexes: advice
 * only), `correlations.ts` (two areas at once). This module runs them in a fixed order.
 *
 * Gain estimates are computed from the measured figures of the window; each candidate says how
 * (`gainBasis`). See docs/operations.md for every rule, threshold and formula.
 *
 * @module
 */
import type { Observation } from './observe.ts';
import { queryIndexesRule, retryTuningRule } from './rules/advice.ts';
import { hotPrefixTtlRules, prewarmListRule, rarelyReadTtlRules } from './rules/cache.ts';
import { poolSizeRule, throttleLimitRule } from './rules/capacity.ts';
import { correlationRules } from './rules/correlations.ts';
import { warmingIntervalRule } from './rules/edge.ts';
import {
  type CandidateChange,
  type Recommendation,
  RULE_WINDOW,
  type RuleContext,
  type RuleInput,
} from './rules/types.ts';

export { projectedHitRate } from './rules/cache.ts';
export type {
  CandidateChange,
  ChangeArea,
  Evidence,
  Goal,
  Recommendation,
  RuleContext,
} from './rules/types.ts';

/**
 * Every recommendation whose condition holds in the observation.
 *
 * @example
 * ```ts
 * const recommendations = evaluateRules(await observe(store), context);
 * ```
 */
export function evaluateRules(obs: Observation, ctx: RuleContext): Recommendation[] {
  const t = ctx.thresholds;
  const f = obs.windows[RULE_WINDOW];
  const enoughCache = f.cacheRequests >= t.minRequests;
  const slowOrigin = f.originCalls > 0 && f.originP95Ms > t.slowOriginP95Ms;
  const input: RuleInput = {
    f,
    t,
    ctx,
    enoughCache,
    enoughOps: f.operations >= t.minRequests,
    slowOrigin,
    lowHit: enoughCache && f.hitRate < t.lowHitRate,
    coldStarts: f.coldStarts > 0 && f.coldStartRate > t.coldStartRate,
  };
  const hot = hotPrefixTtlRules(input);
  const prewarm = prewarmListRule(input);
  const warming = warmingIntervalRule(input);
  const pool = poolSizeRule(input);
  const single = [
    ...hot.recommendations,
    ...rarelyReadTtlRules(input),
    prewarm.recommendation,
    warming.recommendation,
    pool.recommendation,
    throttleLimitRule(input),
    retryTuningRule(input),
    queryIndexesRule(input),
  ].filter((r): r is Recommendation => r !== undefined);
  return [
    ...single,
    ...correlationRules(input, {
      ttlChanges: hot.changes,
      poolChanges: pool.changes,
      warmingChange: warming.change,
      prewarmChange: prewarm.change,
    }),
  ];
}

/** Every distinct candidate change of the recommendations (first one per setting wins). */
export function candidateChanges(recommendations: Recommendation[]): CandidateChange[] {
  const seen = new Map<string, CandidateChange>();
  for (const r of recommendations) {
    for (const c of r.changes) if (!seen.has(c.setting)) seen.set(c.setting, c);
  }
  return [...seen.values()];
}
