/**
 * Observe: the figures the rules decide from, per time window, computed from the metrics every
 * isolate flushed to the shared store (exact across isolates, see `Metrics.flushTo`).
 *
 * @module
 */
import type { KeyValueStore } from '../../store/types.ts';
import { mergeSnapshots, type MetricsSnapshot, readSharedBuckets } from '../metrics.ts';

/** Window names the status and metrics endpoints accept. */
export const WINDOWS = { '1m': 60_000, '15m': 900_000, '1h': 3_600_000 } as const;
/** A window name. */
export type WindowName = keyof typeof WINDOWS;

/** Figures of one key-prefix class. */
export interface PrefixFigures {
  requests: number;
  hits: number;
  hitRate: number;
  /** Share of all cached requests. */
  share: number;
  /** Mean origin time of its misses, ms. */
  originMeanMs: number;
}

/** Everything the rules read, for one window. Rates are 0..1, times ms. */
export interface WindowFigures {
  fromMs: number;
  toMs: number;
  operations: number;
  totalOperationMs: number;
  operationP95Ms: number;
  originCalls: number;
  originP95Ms: number;
  originMeanMs: number;
  dbErrors: number;
  dbErrorRate: number;
  cacheRequests: number;
  cacheHits: number;
  hitRate: number;
  cacheStoreFailures: number;
  cacheErrorRate: number;
  edgeRequests: number;
  edgeErrors: number;
  edgeErrorRate: number;
  edgeP95Ms: number;
  edgeTotalMs: number;
  coldStarts: number;
  coldStartRate: number;
  /** Mean latency of cold and warm requests, ms (0 when none). */
  coldMeanMs: number;
  warmMeanMs: number;
  throttleCalls: number;
  throttleRejected: number;
  throttleRejectionRate: number;
  poolWaitP95Ms: number;
  poolWaitTotalMs: number;
  poolRejected: number;
  retryCalls: number;
  retryRetried: number;
  retryExhausted: number;
  seqScans: number;
  prefixes: Record<string, PrefixFigures>;
  /** Public keys by requests, most first. */
  hotKeys: { key: string; requests: number }[];
}

const ratio = (a: number, b: number) => (b > 0 ? a / b : 0);
const round = (n: number, digits = 4) => Math.round(n * 10 ** digits) / 10 ** digits;

/**
 * Computes the figures of a merged snapshot covering `[fromMs, toMs)`.
 *
 * @example
 * ```ts
 * const figures = figuresOf(await readSharedMetrics(store, { windowMs: 900_000 }), from, to);
 * ```
 */
export function figuresOf(s: MetricsSnapshot, fromMs: number, toMs: number): WindowFigures {
  const c = (name: string) => s.counters[name] ?? 0;
  const h = (name: string) => s.histograms[name];
  const sumPrefix = (prefix: string) =>
    Object.entries(s.counters).filter(([k]) => k.startsWith(prefix)).reduce(
      (a, [, v]) => a + v,
      0,
    );
  const op = h('optimizer.operation.ms');
  const origin = h('optimizer.origin.ms');
  const edge = h('edge.request.ms');
  const cold = h('edge.request.cold.ms');
  const hits = c('cache.hit.memory') + c('cache.hit.redis') + c('cache.stale.served') +
    c('cache.stale_if_error.served');
  const misses = c('cache.origin.calls');
  const cacheRequests = Math.max(hits + misses, sumPrefix('cache.prefix.requests:'));
  const cacheHits = Math.max(hits, sumPrefix('cache.prefix.hits:'));
  const storeFailures = c('cache.store.timeout') + c('cache.store.error');
  const edgeRequests = c('edge.requests');
  const coldStarts = c('edge.cold_starts');
  const prefixes: Record<string, PrefixFigures> = {};
  let prefixTotal = 0;
  for (const [name, value] of Object.entries(s.counters)) {
    if (!name.startsWith('cache.prefix.requests:')) continue;
    prefixTotal += value;
  }
  for (const [name, requests] of Object.entries(s.counters)) {
    if (!name.startsWith('cache.prefix.requests:')) continue;
    const cls = name.slice('cache.prefix.requests:'.length);
    const prefixHits = c(`cache.prefix.hits:${cls}`);
    const misses = requests - prefixHits;
    prefixes[cls] = {
      requests,
      hits: prefixHits,
      hitRate: round(ratio(prefixHits, requests)),
      share: round(ratio(requests, prefixTotal)),
      originMeanMs: round(ratio(c(`cache.prefix.origin_ms:${cls}`), misses), 2),
    };
  }
  const hotKeys = Object.entries(s.counters)
    .filter(([name]) => name.startsWith('cache.key.requests:'))
    .map(([name, requests]) => ({ key: name.slice('cache.key.requests:'.length), requests }))
    .sort((a, b) => b.requests - a.requests || a.key.localeCompare(b.key));
  const warmCount = (edge?.count ?? 0) - (cold?.count ?? 0);
  const throttleCalls = c('throttle.calls');
  const throttleRejected = c('throttle.rejected');
  return {
    fromMs,
    toMs,
    operations: c('optimizer.operations'),
    totalOperationMs: round(op?.sum ?? 0, 2),
    operationP95Ms: round(op?.p95 ?? 0, 2),
    originCalls: origin?.count ?? 0,
    originP95Ms: round(origin?.p95 ?? 0, 2),
    originMeanMs: round(origin?.mean ?? 0, 2),
    dbErrors: c('optimizer.errors'),
    dbErrorRate: round(ratio(c('optimizer.errors'), c('optimizer.operations'))),
    cacheRequests,
    cacheHits,
    hitRate: round(ratio(cacheHits, cacheRequests)),
    cacheStoreFailures: storeFailures,
    cacheErrorRate: round(ratio(storeFailures, cacheRequests)),
    edgeRequests,
    edgeErrors: c('edge.errors'),
    edgeErrorRate: round(ratio(c('edge.errors'), edgeRequests)),
    edgeP95Ms: round(edge?.p95 ?? 0, 2),
    edgeTotalMs: round(edge?.sum ?? 0, 2),
    coldStarts,
    coldStartRate: round(ratio(coldStarts, edgeRequests)),
    coldMeanMs: round(cold?.mean ?? 0, 2),
    warmMeanMs: round(ratio((edge?.sum ?? 0) - (cold?.sum ?? 0), warmCount), 2),
    throttleCalls,
    throttleRejected,
    throttleRejectionRate: round(ratio(throttleRejected, throttleCalls)),
    poolWaitP95Ms: round(h('pool.wait.ms')?.p95 ?? 0, 2),
    poolWaitTotalMs: round(h('pool.wait.ms')?.sum ?? 0, 2),
    poolRejected: c('pool.rejected.queue-full') + c('pool.rejected.queue-timeout'),
    retryCalls: c('retry.calls'),
    retryRetried: c('retry.retried'),
    retryExhausted: c('retry.exhausted'),
    seqScans: c('queryplan.seq_scans'),
    prefixes,
    hotKeys,
  };
}

/** The windows the manager compares: each named window, and the one before the 15-minute one. */
export interface Observation {
  at: number;
  windows: Record<WindowName, WindowFigures>;
  /** The 15 minutes before the current 15-minute window (alerts compare against it). */
  previous15m: WindowFigures;
}

/**
 * Reads the last two hours of shared buckets once and computes every window.
 *
 * @example
 * ```ts
 * const observation = await observe(store);
 * observation.windows['15m'].hitRate;
 * ```
 */
export async function observe(
  store: KeyValueStore,
  options: { now?: () => number; bucketMs?: number } = {},
): Promise<Observation> {
  const now = (options.now ?? Date.now)();
  const buckets = await readSharedBuckets(store, {
    now: () => now,
    windowMs: 2 * WINDOWS['1h'],
    bucketMs: options.bucketMs,
  });
  return observationOf(buckets, now, options.bucketMs ?? 60_000);
}

/** Builds an {@link Observation} from buckets (pure: unit tests feed synthetic buckets). */
export function observationOf(
  buckets: { start: number; snapshot: MetricsSnapshot }[],
  now: number,
  bucketMs = 60_000,
): Observation {
  // A window of W ms holds the buckets that started within the last W ms (the current, partial
  // bucket included): the 1 min window is the current bucket and the one before.
  const within = (fromMs: number, toMs: number) =>
    figuresOf(
      mergeSnapshots(
        buckets.filter((b) => b.start + bucketMs > fromMs && b.start <= toMs).map((b) =>
          b.snapshot
        ),
      ),
      fromMs,
      toMs,
    );
  const windows = Object.fromEntries(
    Object.entries(WINDOWS).map(([name, ms]) => [name, within(now - ms, now)]),
  ) as Record<WindowName, WindowFigures>;
  const previous15m = within(now - 2 * WINDOWS['15m'], now - WINDOWS['15m'] - bucketMs);
  return { at: now, windows, previous15m };
}
