/**
 * Cache rules: the TTL of hot prefixes that miss too often (raise), of busy prefixes that are
 * never re-read (shorten, for cost), and the list of keys every warming run pre-warms.
 *
 * @module
 */
import type { WindowFigures } from '../observe.ts';
import { clamp } from '../settings.ts';
import {
  type CandidateChange,
  ev,
  type Evidence,
  pct,
  type Recommendation,
  type RuleContext,
  type RuleInput,
} from './types.ts';

/**
 * Expected hit rate when the TTL grows by `factor`, from the measured one (Poisson model).
 *
 * @example
 * ```ts
 * projectedHitRate(0.5, 2); // 0.667
 * ```
 */
export function projectedHitRate(hitRate: number, factor: number): number {
  const h = Math.min(Math.max(hitRate, 0.01), 0.99);
  const lambdaT = h / (1 - h);
  return (factor * lambdaT) / (1 + factor * lambdaT);
}

/**
 * The change doubling the base TTL of prefix class `cls` (within bounds), with its projected
 * gain; `undefined` when the bound leaves no room.
 *
 * @example
 * ```ts
 * ttlRaise(figures, 'pub:robots:list', context, evidence)?.to; // twice the current TTL
 * ```
 */
export function ttlRaise(
  f: WindowFigures,
  cls: string,
  ctx: RuleContext,
  evidence: Evidence[],
): CandidateChange | undefined {
  const p = f.prefixes[cls];
  const current = ctx.settings.ttlByPrefix[cls] ?? ctx.baseTtlMs;
  const to = clamp(Math.round(current * 2), ctx.bounds.ttlMs);
  if (to <= current) return undefined;
  const projected = projectedHitRate(p.hitRate, to / current);
  const savedMs = p.requests * Math.max(0, projected - p.hitRate) * p.originMeanMs;
  const change: CandidateChange = {
    area: 'cache',
    setting: `ttlByPrefix.${cls}`,
    change: `raise the base TTL of '${cls}'`,
    from: current,
    to,
    estimatedGainPercent: f.totalOperationMs > 0 ? pct(savedMs / f.totalOperationMs) : 0,
    gainBasis: `requests ${p.requests} x projected hit-rate gain ${
      (projected - p.hitRate).toFixed(3)
    } (h=${p.hitRate} -> ${projected.toFixed(3)} for TTL x${
      (to / current).toFixed(2)
    }, h' = k*l/(1+k*l), l = h/(1-h)) x origin mean ${p.originMeanMs} ms / operation time ${f.totalOperationMs} ms`,
    goals: ['performance', 'cost'],
    evidence,
  };
  return change;
}

/**
 * Hot prefixes that miss too often: lengthen their TTL (one recommendation per prefix).
 *
 * @example
 * ```ts
 * const { recommendations, changes } = hotPrefixTtlRules(input);
 * ```
 */
export function hotPrefixTtlRules(
  { f, t, ctx }: RuleInput,
): { recommendations: Recommendation[]; changes: CandidateChange[] } {
  const recommendations: Recommendation[] = [];
  const changes: CandidateChange[] = [];
  for (const [cls, p] of Object.entries(f.prefixes)) {
    if (p.requests < t.minRequests || p.share < t.hotPrefixShare) continue;
    if (p.hitRate >= t.hotPrefixMaxHitRate) continue;
    const evidence = [
      ev(`cache.prefix.share:${cls}`, p.share, '>=', t.hotPrefixShare),
      ev(`cache.prefix.hit_rate:${cls}`, p.hitRate, '<', t.hotPrefixMaxHitRate),
      ev(`cache.prefix.requests:${cls}`, p.requests, '>=', t.minRequests),
    ];
    const change = ttlRaise(f, cls, ctx, evidence);
    if (!change) continue;
    changes.push(change);
    recommendations.push({
      id: `cache-ttl:${cls}`,
      kind: 'single-area',
      area: 'cache',
      title: `Hot prefix '${cls}' misses too often: lengthen its TTL`,
      severity: p.hitRate < t.lowHitRate ? 'high' : 'medium',
      evidence,
      action: `set ttlByPrefix['${cls}'] ${change.from} -> ${change.to} ms`,
      changes: [change],
    });
  }
  return { recommendations, changes };
}

/**
 * Cost: a busy prefix that almost never hits wastes store commands and memory; shorten its TTL.
 *
 * @example
 * ```ts
 * const recommendations = rarelyReadTtlRules(input);
 * ```
 */
export function rarelyReadTtlRules({ f, t, ctx, slowOrigin }: RuleInput): Recommendation[] {
  const out: Recommendation[] = [];
  for (const [cls, p] of Object.entries(f.prefixes)) {
    if (p.requests < t.minRequests || p.hitRate >= 0.1 || slowOrigin) continue;
    const current = ctx.settings.ttlByPrefix[cls] ?? ctx.baseTtlMs;
    const to = clamp(Math.round(current / 2), ctx.bounds.ttlMs);
    if (to >= current) continue;
    const evidence = [
      ev(`cache.prefix.hit_rate:${cls}`, p.hitRate, '<', 0.1),
      ev('optimizer.origin.p95_ms', f.originP95Ms, '<', t.slowOriginP95Ms),
    ];
    out.push({
      id: `cache-ttl-cost:${cls}`,
      kind: 'single-area',
      area: 'cache',
      title: `Prefix '${cls}' is rarely re-read: shorten its TTL budget`,
      severity: 'low',
      evidence,
      action: `set ttlByPrefix['${cls}'] ${current} -> ${to} ms`,
      changes: [{
        area: 'cache',
        setting: `ttlByPrefix.${cls}`,
        change: `shorten the base TTL of '${cls}'`,
        from: current,
        to,
        estimatedGainPercent: 0,
        gainBasis: 'cost only: entries that are never re-read hold store memory for less time',
        goals: ['cost'],
        evidence,
      }],
    });
  }
  return out;
}

/**
 * The most requested keys become the pre-warm list, when it differs from the applied one.
 *
 * @example
 * ```ts
 * const { recommendation, change } = prewarmListRule(input);
 * ```
 */
export function prewarmListRule(
  { f, t, ctx }: RuleInput,
): { recommendation?: Recommendation; change?: CandidateChange } {
  const hot = f.hotKeys.filter((k) => k.requests >= t.prewarmMinRequests).slice(
    0,
    ctx.bounds.prewarmKeys,
  );
  const prewarmList = hot.map((k) => k.key).sort();
  const currentList = [...ctx.settings.prewarmKeys].sort();
  if (!prewarmList.length || JSON.stringify(prewarmList) === JSON.stringify(currentList)) {
    return {};
  }
  let savedMs = 0;
  for (const k of hot) {
    const cls = Object.keys(f.prefixes).find((c) => k.key.startsWith(c));
    const p = cls ? f.prefixes[cls] : undefined;
    if (!p) continue;
    const ttl = ctx.settings.ttlByPrefix[cls!] ?? ctx.baseTtlMs;
    const expiries = Math.max(1, (f.toMs - f.fromMs) / ttl);
    savedMs += Math.min(k.requests * (1 - p.hitRate), expiries) * p.originMeanMs;
  }
  const evidence = hot.map((k) =>
    ev(`cache.key.requests:${k.key}`, k.requests, '>=', t.prewarmMinRequests)
  );
  const change: CandidateChange = {
    area: 'prewarm',
    setting: 'prewarmKeys',
    change: 'pre-warm the most requested public keys in every warming run',
    from: ctx.settings.prewarmKeys,
    to: prewarmList,
    estimatedGainPercent: f.totalOperationMs > 0 ? pct(savedMs / f.totalOperationMs) : 0,
    gainBasis:
      'per key: min(misses, window / TTL) origin loads avoided x its prefix origin mean, / operation time',
    goals: ['performance'],
    evidence,
  };
  return {
    change,
    recommendation: {
      id: 'prewarm-list',
      kind: 'single-area',
      area: 'cache',
      title: `Pre-warm the ${prewarmList.length} most requested public keys`,
      severity: 'low',
      evidence,
      action: `set prewarmKeys to ${prewarmList.length} keys`,
      changes: [change],
    },
  };
}
