/**
 * Correlation rules: conditions in two areas at once, answered together (cache and indexes,
 * pools and pre-warming, breakers and backpressure). They reuse the single-area rules' changes
 * where those exist, so a run applies one change per setting.
 *
 * @module
 */
import { ttlRaise } from './cache.ts';
import { scaledPerResource } from './capacity.ts';
import { type CandidateChange, ev, type Recommendation, type RuleInput } from './types.ts';

/** What the single-area rules proposed, for the correlations to reuse. */
export interface SingleAreaChanges {
  ttlChanges: CandidateChange[];
  poolChanges: CandidateChange[];
  warmingChange?: CandidateChange;
  prewarmChange?: CandidateChange;
}

/**
 * Every correlation that holds, in a fixed order.
 *
 * @example
 * ```ts
 * const correlations = correlationRules(input, { ttlChanges, poolChanges });
 * ```
 */
export function correlationRules(input: RuleInput, found: SingleAreaChanges): Recommendation[] {
  const { f, t, ctx, lowHit, slowOrigin, coldStarts, enoughOps, enoughCache } = input;
  const out: Recommendation[] = [];
  if (lowHit && slowOrigin) {
    const busiest = Object.entries(f.prefixes).filter(([, p]) => p.requests >= t.minRequests)
      .sort((a, b) => b[1].requests - a[1].requests).slice(0, 3);
    const evidence = [
      ev('cache.hit_rate', f.hitRate, '<', t.lowHitRate),
      ev('optimizer.origin.p95_ms', f.originP95Ms, '>', t.slowOriginP95Ms),
    ];
    const changes = busiest.map(([cls]) =>
      found.ttlChanges.find((c) => c.setting === `ttlByPrefix.${cls}`) ??
        ttlRaise(f, cls, ctx, evidence)
    ).filter((c): c is CandidateChange => c !== undefined);
    out.push({
      id: 'cache-and-index',
      kind: 'correlation',
      area: 'cross-system',
      title: 'Low cache hit rate and slow queries: cache longer and index',
      severity: 'high',
      evidence,
      action: 'raise the TTL of the busiest prefixes and create the advised indexes',
      changes,
      indexStatements: ctx.indexAdvice.map((a) => a.sql),
    });
  }
  if (coldStarts && slowOrigin) {
    const evidence = [
      ev('edge.cold_start_rate', f.coldStartRate, '>', t.coldStartRate),
      ev('optimizer.origin.p95_ms', f.originP95Ms, '>', t.slowOriginP95Ms),
    ];
    const changes: CandidateChange[] = [...found.poolChanges];
    if (!found.poolChanges.length) {
      for (const { resource, current, to } of scaledPerResource(ctx, 'poolSizes', 1.5, Math.ceil)) {
        changes.push({
          area: 'pool',
          setting: `poolSizes.${resource}`,
          change: `grow the pool of '${resource}' (cold isolates open connections under load)`,
          from: current,
          to,
          estimatedGainPercent: 0,
          gainBasis: 'no pool wait measured: reliability headroom, no latency gain claimed',
          goals: ['reliability'],
          evidence,
        });
      }
    }
    if (found.warmingChange) changes.push(found.warmingChange);
    if (found.prewarmChange) changes.push(found.prewarmChange);
    out.push({
      id: 'pooling-and-prewarm',
      kind: 'correlation',
      area: 'cross-system',
      title: 'Cold starts and a slow database: pool connections and pre-warm',
      severity: 'high',
      evidence,
      action: 'grow the pools, warm more often and pre-warm the hottest keys',
      changes,
    });
  }
  const failing = [
    ['database', 'optimizer.error_rate', f.dbErrorRate, enoughOps],
    ['cache', 'cache.store.error_rate', f.cacheErrorRate, enoughCache],
    ['edge', 'edge.error_rate', f.edgeErrorRate, f.edgeRequests >= t.minRequests],
  ].filter(([, , rate, enough]) => enough && (rate as number) > t.errorRate);
  if (failing.length >= 2) {
    const evidence = failing.map(([, metric, rate]) =>
      ev(metric as string, rate as number, '>', t.errorRate)
    );
    const changes: CandidateChange[] = scaledPerResource(ctx, 'throttleLimits', 0.7, Math.floor)
      .map(({ resource, current, to }) => ({
        area: 'throttle',
        setting: `throttleLimits.${resource}`,
        change: `lower the rate limit of '${resource}' while errors spread`,
        from: current,
        to,
        estimatedGainPercent: 0,
        gainBasis: 'reliability: less load on a failing origin; no latency gain claimed',
        goals: ['reliability'],
        evidence,
      }));
    out.push({
      id: 'circuit-breakers',
      kind: 'correlation',
      area: 'cross-system',
      title: `Errors in ${failing.map(([s]) => s).join(', ')}: circuit breakers and backpressure`,
      severity: failing.length >= 3 ? 'critical' : 'high',
      evidence,
      action: 'keep breakers on every resource (open now: ' +
        (ctx.openBreakers.join(', ') || 'none') +
        '), serve stale within staleIfErrorMs, lower the throttle limits',
      changes,
    });
  }
  return out;
}
