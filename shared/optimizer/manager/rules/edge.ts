/**
 * Edge rule: the warming interval, halved while cold starts exceed their threshold, grown by
 * half while every request meets a warm instance (cost).
 *
 * @module
 */
import { clamp } from '../settings.ts';
import { type CandidateChange, ev, pct, type Recommendation, type RuleInput } from './types.ts';

/** The warming interval when no run has set one, ms (the cron schedule's 5 minutes). */
const DEFAULT_BASE_WARMING_INTERVAL_MS = 300_000;

/**
 * Warm more often after cold starts, less often while everything stays warm.
 *
 * @example
 * ```ts
 * const { recommendation, change } = warmingIntervalRule(input);
 * ```
 */
export function warmingIntervalRule(
  { f, t, ctx, coldStarts }: RuleInput,
): { recommendation?: Recommendation; change?: CandidateChange } {
  const baseInterval = ctx.baseWarmingIntervalMs ?? DEFAULT_BASE_WARMING_INTERVAL_MS;
  const currentInterval = ctx.settings.warmingIntervalMs ?? baseInterval;
  if (coldStarts) {
    const to = clamp(Math.round(currentInterval / 2), ctx.bounds.warmingIntervalMs);
    if (to >= currentInterval) return {};
    const penalty = Math.max(0, f.coldMeanMs - f.warmMeanMs);
    const evidence = [
      ev('edge.cold_start_rate', f.coldStartRate, '>', t.coldStartRate),
      ev('edge.cold_starts', f.coldStarts, '>', 0),
    ];
    const change: CandidateChange = {
      area: 'edge',
      setting: 'warmingIntervalMs',
      change: 'warm the functions more often',
      from: currentInterval,
      to,
      estimatedGainPercent: f.edgeTotalMs > 0
        ? pct((f.coldStarts * penalty * (1 - to / currentInterval)) / f.edgeTotalMs)
        : 0,
      gainBasis: `cold starts ${f.coldStarts} x cold penalty ${
        penalty.toFixed(1)
      } ms (cold mean - warm mean) x share avoided (1 - new/old interval) / edge time ${f.edgeTotalMs} ms`,
      goals: ['performance'],
      evidence,
    };
    return {
      change,
      recommendation: {
        id: 'warming-interval',
        kind: 'single-area',
        area: 'edge',
        title: 'Cold starts: warm more often',
        severity: f.coldStartRate > 2 * t.coldStartRate ? 'high' : 'medium',
        evidence,
        action: `set warmingIntervalMs ${currentInterval} -> ${to}`,
        changes: [change],
      },
    };
  }
  if (f.edgeRequests < t.minRequests || f.coldStarts !== 0) return {};
  const to = clamp(Math.round(currentInterval * 1.5), ctx.bounds.warmingIntervalMs);
  if (to <= currentInterval) return {};
  const evidence = [ev('edge.cold_starts', 0, '<', 1)];
  return {
    recommendation: {
      id: 'warming-interval-cost',
      kind: 'single-area',
      area: 'edge',
      title: 'Everything stays warm: warm less often',
      severity: 'low',
      evidence,
      action: `set warmingIntervalMs ${currentInterval} -> ${to}`,
      changes: [{
        area: 'edge',
        setting: 'warmingIntervalMs',
        change: 'warm the functions less often',
        from: currentInterval,
        to,
        estimatedGainPercent: 0,
        gainBasis: 'cost only: fewer warming invocations and store commands',
        goals: ['cost'],
        evidence,
      }],
    },
  };
}
