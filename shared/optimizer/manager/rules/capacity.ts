/**
 * Capacity rules: pool sizes (grown when operations wait for slots) and throttle limits (raised
 * when a healthy origin's calls are refused), per resource this isolate knows.
 *
 * @module
 */
import { clamp } from '../settings.ts';
import {
  type CandidateChange,
  ev,
  pct,
  type Recommendation,
  type RuleContext,
  type RuleInput,
} from './types.ts';

/** One resource's per-resource setting, now and scaled. */
export interface ScaledSetting {
  resource: string;
  current: number;
  to: number;
}

/**
 * Every known resource's pool size or throttle limit scaled by `factor` (rounded by `round`,
 * clamped to its bounds), keeping only those that move in the factor's direction. Without any
 * known resource, the `default` one.
 *
 * @example
 * ```ts
 * scaledPerResource(ctx, 'poolSizes', 1.5, Math.ceil); // [{ resource: 'db', current: 10, to: 15 }]
 * ```
 */
export function scaledPerResource(
  ctx: RuleContext,
  setting: 'poolSizes' | 'throttleLimits',
  factor: number,
  round: (n: number) => number,
): ScaledSetting[] {
  const [base, bounds] = setting === 'poolSizes'
    ? [ctx.basePoolSize, ctx.bounds.poolSize]
    : [ctx.baseThrottleLimit, ctx.bounds.throttleLimit];
  const out: ScaledSetting[] = [];
  for (const resource of ctx.resources.length ? ctx.resources : ['default']) {
    const current = ctx.settings[setting][resource] ?? base;
    const to = clamp(round(current * factor), bounds);
    if (factor > 1 ? to > current : to < current) out.push({ resource, current, to });
  }
  return out;
}

/**
 * Operations wait for pool slots (or are refused one): grow the pools.
 *
 * @example
 * ```ts
 * const { recommendation, changes } = poolSizeRule(input);
 * ```
 */
export function poolSizeRule(
  { f, t, ctx }: RuleInput,
): { recommendation?: Recommendation; changes: CandidateChange[] } {
  const changes: CandidateChange[] = [];
  if (!(f.poolRejected > 0 || f.poolWaitP95Ms > t.poolWaitP95Ms)) return { changes };
  const evidence = [
    ev('pool.rejected', f.poolRejected, '>', 0),
    ev('pool.wait.p95_ms', f.poolWaitP95Ms, '>', t.poolWaitP95Ms),
  ];
  for (const { resource, current, to } of scaledPerResource(ctx, 'poolSizes', 1.5, Math.ceil)) {
    changes.push({
      area: 'pool',
      setting: `poolSizes.${resource}`,
      change: `grow the pool of '${resource}'`,
      from: current,
      to,
      estimatedGainPercent: f.totalOperationMs > 0
        ? pct((f.poolWaitTotalMs * (1 - current / to)) / f.totalOperationMs)
        : 0,
      gainBasis:
        `pool wait ${f.poolWaitTotalMs} ms x (1 - old/new size) / operation time ${f.totalOperationMs} ms`,
      goals: ['performance', 'reliability'],
      evidence,
    });
  }
  if (!changes.length) return { changes };
  return {
    changes,
    recommendation: {
      id: 'pool-size',
      kind: 'single-area',
      area: 'database',
      title: 'Operations wait for pool slots: grow the pools',
      severity: f.poolRejected > 0 ? 'high' : 'medium',
      evidence,
      action: changes.map((c) => `${c.setting} ${c.from} -> ${c.to}`).join('; '),
      changes,
    },
  };
}

/**
 * The throttle refuses calls while the origin is fast and healthy: raise its limits.
 *
 * @example
 * ```ts
 * const recommendation = throttleLimitRule(input);
 * ```
 */
export function throttleLimitRule(
  { f, t, ctx, slowOrigin, enoughOps }: RuleInput,
): Recommendation | undefined {
  const dbErrorsHigh = enoughOps && f.dbErrorRate > t.errorRate;
  if (
    !(f.throttleCalls >= t.minRequests && f.throttleRejectionRate > t.throttleRejectionRate &&
      !slowOrigin && !dbErrorsHigh)
  ) {
    return undefined;
  }
  const evidence = [
    ev('throttle.rejection_rate', f.throttleRejectionRate, '>', t.throttleRejectionRate),
    ev('optimizer.origin.p95_ms', f.originP95Ms, '<', t.slowOriginP95Ms),
    ev('optimizer.error_rate', f.dbErrorRate, '<', t.errorRate),
  ];
  const changes: CandidateChange[] = scaledPerResource(ctx, 'throttleLimits', 1.5, Math.ceil)
    .map(({ resource, current, to }) => ({
      area: 'throttle',
      setting: `throttleLimits.${resource}`,
      change: `raise the rate limit of '${resource}' (healthy origin, requests refused)`,
      from: current,
      to,
      estimatedGainPercent: f.operations > 0
        ? pct(Math.min(f.throttleRejected, f.throttleCalls * (to / current - 1)) / f.operations)
        : 0,
      gainBasis: 'refused calls the higher limit admits / operations',
      goals: ['performance', 'reliability'],
      evidence,
    }));
  if (!changes.length) return undefined;
  return {
    id: 'throttle-limit',
    kind: 'single-area',
    area: 'resilience',
    title: 'The throttle refuses calls a healthy origin could serve',
    severity: 'medium',
    evidence,
    action: changes.map((c) => `${c.setting} ${c.from} -> ${c.to}`).join('; '),
    changes,
  };
}
