/**
 * Decide: the manager's rules, pure functions of an {@link Observation}. Each rule that holds
 * yields a recommendation carrying its evidence (metric, value, threshold, window), a severity,
 * the action, and the candidate changes that would apply it; a rule that does not hold yields
 * nothing. The same rules feed `GET /optimizer/recommendations` (advise) and the runs (apply).
 *
 * Gain estimates are computed from the measured figures of the window; each candidate says how
 * (`gainBasis`). See docs/operations.md for every rule, threshold and formula.
 *
 * @module
 */
import type { Observation, WindowFigures, WindowName } from './observe.ts';
import type { ManagerBounds, ManagerThresholds } from './options.ts';
import { type AppliedSettings, clamp } from './settings.ts';

/** One measured value compared with its threshold. */
export interface Evidence {
  metric: string;
  value: number;
  comparison: '<' | '>' | '>=';
  threshold: number;
  window: WindowName;
}

/** What the manager can change. */
export type ChangeArea = 'cache' | 'prewarm' | 'edge' | 'pool' | 'throttle';
/** What a change serves (`optimizeSystem` ranks by it). */
export type Goal = 'performance' | 'cost' | 'reliability';

/** A change a rule proposes: `setting` is the path in the applied settings. */
export interface CandidateChange {
  area: ChangeArea;
  setting: string;
  change: string;
  from: number | string[] | null;
  to: number | string[];
  estimatedGainPercent: number;
  gainBasis: string;
  goals: Goal[];
  evidence: Evidence[];
}

/** A recommendation. */
export interface Recommendation {
  id: string;
  kind: 'correlation' | 'single-area';
  area: 'cross-system' | 'cache' | 'database' | 'edge' | 'resilience';
  title: string;
  severity: 'low' | 'medium' | 'high' | 'critical';
  evidence: Evidence[];
  action: string;
  changes: CandidateChange[];
  /** `create index` statements from the query-plan advisor. */
  indexStatements?: string[];
}

/** What the rules read besides the observation. */
export interface RuleContext {
  thresholds: ManagerThresholds;
  bounds: ManagerBounds;
  settings: AppliedSettings;
  /** The configuration's base TTL, ms. */
  baseTtlMs: number;
  /** The configuration's throttle limit and pool size. */
  baseThrottleLimit: number;
  basePoolSize: number;
  /** Default warming interval, ms. @default 300_000 */
  baseWarmingIntervalMs?: number;
  /** Throttle and pool resources this isolate knows. */
  resources: string[];
  /** The query-plan advisor's statements. */
  indexAdvice: { sql: string; reason?: string }[];
  /** Breakers currently open. */
  openBreakers: string[];
}

const W: WindowName = '15m';
const pct = (n: number) => Math.round(n * 10_000) / 100;
const ev = (
  metric: string,
  value: number,
  comparison: Evidence['comparison'],
  threshold: number,
): Evidence => ({ metric, value, comparison, threshold, window: W });

/** Expected hit rate when the TTL grows by `factor`, from the measured one (Poisson model). */
export function projectedHitRate(hitRate: number, factor: number): number {
  const h = Math.min(Math.max(hitRate, 0.01), 0.99);
  const lambdaT = h / (1 - h);
  return (factor * lambdaT) / (1 + factor * lambdaT);
}

function ttlRaise(f: WindowFigures, cls: string, ctx: RuleContext, evidence: Evidence[]) {
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
 * Every recommendation whose condition holds in the observation.
 *
 * @example
 * ```ts
 * const recommendations = evaluateRules(await observe(store), context);
 * ```
 */
export function evaluateRules(obs: Observation, ctx: RuleContext): Recommendation[] {
  const t = ctx.thresholds;
  const f = obs.windows[W];
  const out: Recommendation[] = [];
  const enoughCache = f.cacheRequests >= t.minRequests;
  const enoughOps = f.operations >= t.minRequests;
  const slowOrigin = f.originCalls > 0 && f.originP95Ms > t.slowOriginP95Ms;
  const lowHit = enoughCache && f.hitRate < t.lowHitRate;
  const coldStarts = f.coldStarts > 0 && f.coldStartRate > t.coldStartRate;
  const baseInterval = ctx.baseWarmingIntervalMs ?? 300_000;
  const currentInterval = ctx.settings.warmingIntervalMs ?? baseInterval;

  // --- single-area: cache strategy per hot prefix -------------------------------------------
  const ttlChanges: CandidateChange[] = [];
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
    ttlChanges.push(change);
    out.push({
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
  // Cost: a busy prefix that almost never hits wastes store commands and memory.
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

  // --- pre-warm list --------------------------------------------------------------------------
  const hot = f.hotKeys.filter((k) => k.requests >= t.prewarmMinRequests).slice(
    0,
    ctx.bounds.prewarmKeys,
  );
  const prewarmList = hot.map((k) => k.key).sort();
  const currentList = [...ctx.settings.prewarmKeys].sort();
  let prewarmChange: CandidateChange | undefined;
  if (prewarmList.length && JSON.stringify(prewarmList) !== JSON.stringify(currentList)) {
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
    prewarmChange = {
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
    out.push({
      id: 'prewarm-list',
      kind: 'single-area',
      area: 'cache',
      title: `Pre-warm the ${prewarmList.length} most requested public keys`,
      severity: 'low',
      evidence,
      action: `set prewarmKeys to ${prewarmList.length} keys`,
      changes: [prewarmChange],
    });
  }

  // --- edge warming interval --------------------------------------------------------------------
  let warmingChange: CandidateChange | undefined;
  if (coldStarts) {
    const to = clamp(Math.round(currentInterval / 2), ctx.bounds.warmingIntervalMs);
    if (to < currentInterval) {
      const penalty = Math.max(0, f.coldMeanMs - f.warmMeanMs);
      const evidence = [
        ev('edge.cold_start_rate', f.coldStartRate, '>', t.coldStartRate),
        ev('edge.cold_starts', f.coldStarts, '>', 0),
      ];
      warmingChange = {
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
      out.push({
        id: 'warming-interval',
        kind: 'single-area',
        area: 'edge',
        title: 'Cold starts: warm more often',
        severity: f.coldStartRate > 2 * t.coldStartRate ? 'high' : 'medium',
        evidence,
        action: `set warmingIntervalMs ${currentInterval} -> ${to}`,
        changes: [warmingChange],
      });
    }
  } else if (f.edgeRequests >= t.minRequests && f.coldStarts === 0) {
    const to = clamp(Math.round(currentInterval * 1.5), ctx.bounds.warmingIntervalMs);
    if (to > currentInterval) {
      const evidence = [ev('edge.cold_starts', 0, '<', 1)];
      out.push({
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
      });
    }
  }

  // --- pool size -----------------------------------------------------------------------------
  const poolChanges: CandidateChange[] = [];
  if (f.poolRejected > 0 || f.poolWaitP95Ms > t.poolWaitP95Ms) {
    const evidence = [
      ev('pool.rejected', f.poolRejected, '>', 0),
      ev('pool.wait.p95_ms', f.poolWaitP95Ms, '>', t.poolWaitP95Ms),
    ];
    for (const resource of ctx.resources.length ? ctx.resources : ['default']) {
      const current = ctx.settings.poolSizes[resource] ?? ctx.basePoolSize;
      const to = clamp(Math.ceil(current * 1.5), ctx.bounds.poolSize);
      if (to <= current) continue;
      poolChanges.push({
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
    if (poolChanges.length) {
      out.push({
        id: 'pool-size',
        kind: 'single-area',
        area: 'database',
        title: 'Operations wait for pool slots: grow the pools',
        severity: f.poolRejected > 0 ? 'high' : 'medium',
        evidence,
        action: poolChanges.map((c) => `${c.setting} ${c.from} -> ${c.to}`).join('; '),
        changes: poolChanges,
      });
    }
  }

  // --- throttle ------------------------------------------------------------------------------
  const throttleChanges: CandidateChange[] = [];
  const dbErrorsHigh = enoughOps && f.dbErrorRate > t.errorRate;
  if (
    f.throttleCalls >= t.minRequests && f.throttleRejectionRate > t.throttleRejectionRate &&
    !slowOrigin && !dbErrorsHigh
  ) {
    const evidence = [
      ev('throttle.rejection_rate', f.throttleRejectionRate, '>', t.throttleRejectionRate),
      ev('optimizer.origin.p95_ms', f.originP95Ms, '<', t.slowOriginP95Ms),
      ev('optimizer.error_rate', f.dbErrorRate, '<', t.errorRate),
    ];
    for (const resource of ctx.resources.length ? ctx.resources : ['default']) {
      const current = ctx.settings.throttleLimits[resource] ?? ctx.baseThrottleLimit;
      const to = clamp(Math.ceil(current * 1.5), ctx.bounds.throttleLimit);
      if (to <= current) continue;
      throttleChanges.push({
        area: 'throttle',
        setting: `throttleLimits.${resource}`,
        change: `raise the rate limit of '${resource}' (healthy origin, requests refused)`,
        from: current,
        to,
        estimatedGainPercent: f.operations > 0
          ? pct(
            Math.min(f.throttleRejected, f.throttleCalls * (to / current - 1)) / f.operations,
          )
          : 0,
        gainBasis: 'refused calls the higher limit admits / operations',
        goals: ['performance', 'reliability'],
        evidence,
      });
    }
    if (throttleChanges.length) {
      out.push({
        id: 'throttle-limit',
        kind: 'single-area',
        area: 'resilience',
        title: 'The throttle refuses calls a healthy origin could serve',
        severity: 'medium',
        evidence,
        action: throttleChanges.map((c) => `${c.setting} ${c.from} -> ${c.to}`).join('; '),
        changes: throttleChanges,
      });
    }
  }

  // --- retries (advice only) ----------------------------------------------------------------
  if (f.retryRetried >= 5 && f.retryExhausted / f.retryRetried > t.retryExhaustedRate) {
    const rate = Math.round((f.retryExhausted / f.retryRetried) * 10_000) / 10_000;
    out.push({
      id: 'retry-tuning',
      kind: 'single-area',
      area: 'resilience',
      title: 'Most retried calls fail anyway: retries add load without recovering',
      severity: 'medium',
      evidence: [ev('retry.exhausted_rate', rate, '>', t.retryExhaustedRate)],
      action: 'lower maxRetryAttempts (QF_MAX_RETRY_ATTEMPTS) or raise retryBackoffBase',
      changes: [],
    });
  }

  // --- database indexes (advice: DDL goes through a migration) ----------------------------
  if (ctx.indexAdvice.length && (slowOrigin || f.seqScans > 0)) {
    out.push({
      id: 'query-indexes',
      kind: 'single-area',
      area: 'database',
      title: 'Hot filters scan sequentially: add the advised indexes',
      severity: slowOrigin ? 'high' : 'medium',
      evidence: [
        ev('optimizer.origin.p95_ms', f.originP95Ms, '>', t.slowOriginP95Ms),
        ev('queryplan.seq_scans', f.seqScans, '>', 0),
      ],
      action: 'add the statements to a migration of their own (create index concurrently)',
      changes: [],
      indexStatements: ctx.indexAdvice.map((a) => a.sql),
    });
  }

  // --- correlations -----------------------------------------------------------------------------
  if (lowHit && slowOrigin) {
    const busiest = Object.entries(f.prefixes).filter(([, p]) => p.requests >= t.minRequests)
      .sort((a, b) => b[1].requests - a[1].requests).slice(0, 3);
    const evidence = [
      ev('cache.hit_rate', f.hitRate, '<', t.lowHitRate),
      ev('optimizer.origin.p95_ms', f.originP95Ms, '>', t.slowOriginP95Ms),
    ];
    const changes = busiest.map(([cls]) =>
      ttlChanges.find((c) => c.setting === `ttlByPrefix.${cls}`) ?? ttlRaise(f, cls, ctx, evidence)
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
    const changes: CandidateChange[] = [...poolChanges];
    if (!poolChanges.length) {
      for (const resource of ctx.resources.length ? ctx.resources : ['default']) {
        const current = ctx.settings.poolSizes[resource] ?? ctx.basePoolSize;
        const to = clamp(Math.ceil(current * 1.5), ctx.bounds.poolSize);
        if (to > current) {
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
    }
    if (warmingChange) changes.push(warmingChange);
    if (prewarmChange) changes.push(prewarmChange);
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
    const changes: CandidateChange[] = [];
    for (const resource of ctx.resources.length ? ctx.resources : ['default']) {
      const current = ctx.settings.throttleLimits[resource] ?? ctx.baseThrottleLimit;
      const to = clamp(Math.floor(current * 0.7), ctx.bounds.throttleLimit);
      if (to >= current) continue;
      changes.push({
        area: 'throttle',
        setting: `throttleLimits.${resource}`,
        change: `lower the rate limit of '${resource}' while errors spread`,
        from: current,
        to,
        estimatedGainPercent: 0,
        gainBasis: 'reliability: less load on a failing origin; no latency gain claimed',
        goals: ['reliability'],
        evidence,
      });
    }
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

/** Every distinct candidate change of the recommendations (first one per setting wins). */
export function candidateChanges(recommendations: Recommendation[]): CandidateChange[] {
  const seen = new Map<string, CandidateChange>();
  for (const r of recommendations) {
    for (const c of r.changes) if (!seen.has(c.setting)) seen.set(c.setting, c);
  }
  return [...seen.values()];
}
