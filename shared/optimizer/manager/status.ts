/**
 * What the manager reports: the status (configuration in force, overrides, metrics per area and
 * window, breakers, throttle, pools, last runs, active alerts), one window's metrics, and the
 * dashboard's time series.
 *
 * @module
 */
import {
  knownResources,
  type ManagerContext,
  message,
  observeShared,
  recentBuckets,
} from './context.ts';
import { type Observation, type WindowName, WINDOWS } from './observe.ts';
import {
  activeAlerts,
  type AlertRecord,
  bucketsFromPostgres,
  listRuns,
  metricTotals,
  type RunRecord,
} from './records.ts';
import {
  type Series,
  SERIES_METRICS,
  SERIES_RANGES,
  seriesOf,
  type SeriesRange,
} from './series.ts';

/**
 * Configuration in force with the applied overrides, metrics per area over 1 min, 15 min and
 * 1 h (live store) with the Postgres totals of the last hour, breakers, throttle limits, pool
 * use, last runs and active alerts.
 *
 * @example
 * ```ts
 * const status = await optimizationStatus(ctx);
 * status.overrides.ttlByPrefix;
 * ```
 */
export async function optimizationStatus(ctx: ManagerContext): Promise<Record<string, unknown>> {
  const errors: string[] = [];
  const o = ctx.optimizer;
  const database = await ctx.database().catch((e) => {
    errors.push(`database: ${message(e)}`);
    return undefined;
  });
  const [observation, settings] = await Promise.all([
    observeShared(ctx, database).catch((e) => void errors.push(`store: ${message(e)}`)),
    ctx.settingsStore.read().catch((e) => void errors.push(`settings: ${message(e)}`)),
  ]);
  let runs: RunRecord[] = [];
  let alerts: AlertRecord[] = [];
  let durable: Record<string, { count: number; sum: number }> = {};
  if (database) {
    try {
      [runs, alerts, durable] = await Promise.all([
        listRuns(database, { limit: 5 }),
        activeAlerts(database),
        metricTotals(database, ctx.now() - WINDOWS['1h'], ctx.scope),
      ]);
    } catch (error) {
      errors.push(`database: ${message(error)}`);
    }
  }
  const resources = knownResources(o);
  const metrics = observation
    ? Object.fromEntries(
      (Object.keys(WINDOWS) as WindowName[]).map((w) => [w, areas(observation.windows[w])]),
    )
    : null;
  return {
    config: o.config,
    overrides: settings ?? null,
    bounds: ctx.options.bounds,
    metrics,
    durableMetrics: {
      window: '1h',
      operations: durable['counter:optimizer.operations']?.sum ?? 0,
      edgeRequests: durable['counter:edge.requests']?.sum ?? 0,
      metrics: Object.keys(durable).length,
    },
    breakers: o.breakers.states(),
    throttle: Object.fromEntries(resources.map((r) => [r, {
      ...o.throttle.limits(r),
      override: settings?.throttleLimits[r] ?? null,
    }])),
    pools: o.pools.utilization(),
    lastRuns: runs,
    activeAlerts: alerts,
    errors,
  };
}

/**
 * Metrics of one window: per-area figures from the live store, and the Postgres totals.
 *
 * @example
 * ```ts
 * const last15 = await metricsWindowOf(ctx, '15m');
 * ```
 */
export async function metricsWindowOf(
  ctx: ManagerContext,
  window: WindowName,
): Promise<Record<string, unknown>> {
  const database = await ctx.database().catch(() => undefined);
  const observation = await observeShared(ctx, database);
  const f = observation.windows[window];
  let durable: Record<string, { count: number; sum: number }> | null = null;
  if (database) {
    durable = await metricTotals(database, ctx.now() - WINDOWS[window], ctx.scope)
      .catch(() => null);
  }
  return {
    window,
    from: new Date(f.fromMs).toISOString(),
    to: new Date(f.toMs).toISOString(),
    areas: areas(f),
    prefixes: f.prefixes,
    hotKeys: f.hotKeys.slice(0, 20),
    postgres: durable,
  };
}

/**
 * Time series of the edge, cache and resilience figures over `range` (1 h in 1 min steps,
 * 24 h in 15 min steps): the store's recent minutes, the older ones from
 * `optimization_metrics` (only the metrics the series needs).
 *
 * @example
 * ```ts
 * const { points } = await metricsSeriesOf(ctx, '24h');
 * ```
 */
export async function metricsSeriesOf(ctx: ManagerContext, range: SeriesRange): Promise<Series> {
  const { now, recent, firstRecent } = await recentBuckets(ctx);
  const database = await ctx.database().catch(() => undefined);
  const older = database
    ? await bucketsFromPostgres(
      database,
      now - SERIES_RANGES[range].rangeMs,
      firstRecent,
      ctx.scope,
      SERIES_METRICS,
    ).catch(() => [])
    : [];
  return seriesOf([...older, ...recent], range, now);
}

/** One window's figures grouped by area (cache, database, edge, resilience). */
function areas(f: Observation['windows']['1m']) {
  return {
    cache: {
      requests: f.cacheRequests,
      hits: f.cacheHits,
      hitRate: f.hitRate,
      storeFailures: f.cacheStoreFailures,
    },
    database: {
      operations: f.operations,
      originCalls: f.originCalls,
      originP95Ms: f.originP95Ms,
      operationP95Ms: f.operationP95Ms,
      errors: f.dbErrors,
      errorRate: f.dbErrorRate,
      seqScans: f.seqScans,
    },
    edge: {
      requests: f.edgeRequests,
      p95Ms: f.edgeP95Ms,
      coldStarts: f.coldStarts,
      coldStartRate: f.coldStartRate,
      errors: f.edgeErrors,
      errorRate: f.edgeErrorRate,
    },
    resilience: {
      throttleCalls: f.throttleCalls,
      throttleRejected: f.throttleRejected,
      poolWaitP95Ms: f.poolWaitP95Ms,
      poolRejected: f.poolRejected,
      retries: f.retryRetried,
      retriesExhausted: f.retryExhausted,
    },
  };
}
