/**
 * Options of the predictive cache (`OptimizationConfig.cache`), with defaults and their
 * environment variables. The base TTL is the spec's top-level `predictiveCacheTTL`.
 *
 * This module imports nothing of the optimizer's `config.ts`: `config.ts` imports it to build
 * `OptimizationConfig`, and the cache takes a {@link PredictiveCacheConfig}, the part of that
 * configuration it reads (an `OptimizationConfig` is one).
 *
 * @module
 */
import { z } from 'zod';
import type { EnvBinding } from '../env.ts';
import { countSchemaBuild, setsOnlyDefaults } from '../options_defaults.ts';

/**
 * The cache options' defaults (what `cacheOptionsSchema.parse({})` yields; the schema takes its
 * defaults from here). Frozen: copy it to change a value.
 */
export const CACHE_OPTION_DEFAULTS = Object.freeze({
  memoryMaxEntries: 5000,
  memoryMaxBytes: 32 * 1024 * 1024,
  memoryStalenessMs: 2000,
  ttlFloorFactor: 0.5,
  ttlCeilingFactor: 4,
  popularityHalfSaturation: 20,
  popularityHalfLifeMs: 600_000,
  popularityFlushMs: 5000,
  staleWhileRevalidateMs: 60_000,
  staleIfErrorMs: 300_000,
  refreshAheadRatio: 0.2,
  refreshAheadMinPopularity: 3,
  predictionWindowMs: 2000,
  predictionThreshold: 0.4,
  predictionMinSamples: 5,
  predictionMaxKeys: 5000,
  storeTimeoutMs: 150,
  storeRetryAfterMs: 1000,
  leaseMs: 5000,
  leaseWaitMs: 1000,
  leasePollMs: 25,
  invalidationRetryMs: 250,
  keyPrefix: 'qf:cache:',
});

/**
 * Schema of `OptimizationConfig.cache`; every field documents its default. Built on its first
 * use (`z.lazy`): the defaults need no schema (see {@link parseCacheOptions}).
 */
export const cacheOptionsSchema = z.lazy(() => {
  countSchemaBuild();
  return z.object({
    /** Entries the memory tier holds at most. @default 5000 */
    memoryMaxEntries: z.number().int().min(1).default(CACHE_OPTION_DEFAULTS.memoryMaxEntries),
    /** Estimated bytes (JSON length x 2) the memory tier holds at most. @default 33554432 (32 MiB) */
    memoryMaxBytes: z.number().int().min(1024).default(CACHE_OPTION_DEFAULTS.memoryMaxBytes),
    /**
     * Longest time a memory-tier entry is served without re-checking the Redis tier: the bound on
     * how long this isolate may serve a value another isolate has invalidated. `0` re-checks on
     * every read (no memory-only hits). @default 2000
     */
    memoryStalenessMs: z.number().int().min(0).default(CACHE_OPTION_DEFAULTS.memoryStalenessMs),
    /** Lowest TTL, as a factor of `predictiveCacheTTL` (unpopular keys). @default 0.5 */
    ttlFloorFactor: z.number().positive().max(1).default(CACHE_OPTION_DEFAULTS.ttlFloorFactor),
    /** Highest TTL, as a factor of `predictiveCacheTTL` (very popular keys). @default 4 */
    ttlCeilingFactor: z.number().min(1).max(100).default(CACHE_OPTION_DEFAULTS.ttlCeilingFactor),
    /**
     * Decayed access count at which the TTL is halfway between floor and ceiling
     * (`ttl = floor + (ceiling - floor) * p / (p + popularityHalfSaturation)`). @default 20
     */
    popularityHalfSaturation: z.number().positive().default(
      CACHE_OPTION_DEFAULTS.popularityHalfSaturation,
    ),
    /** Half-life of the access counts' time decay. @default 600000 (10 min) */
    popularityHalfLifeMs: z.number().int().min(1000).default(
      CACHE_OPTION_DEFAULTS.popularityHalfLifeMs,
    ),
    /** How often aggregated access counts are flushed to the store (background). @default 5000 */
    popularityFlushMs: z.number().int().min(0).default(CACHE_OPTION_DEFAULTS.popularityFlushMs),
    /** After the fresh window, how long a stale entry is served while one revalidation runs. @default 60000 */
    staleWhileRevalidateMs: z.number().int().min(0).default(
      CACHE_OPTION_DEFAULTS.staleWhileRevalidateMs,
    ),
    /** After the fresh window, how long a stale entry replaces an origin error. @default 300000 */
    staleIfErrorMs: z.number().int().min(0).default(CACHE_OPTION_DEFAULTS.staleIfErrorMs),
    /**
     * Refresh ahead (in the background) a read entry whose remaining fresh time is below this
     * fraction of its TTL, when popular enough (see `refreshAheadMinPopularity`). @default 0.2
     */
    refreshAheadRatio: z.number().min(0).max(1).default(CACHE_OPTION_DEFAULTS.refreshAheadRatio),
    /** Decayed access count from which an entry near expiry is refreshed ahead. @default 3 */
    refreshAheadMinPopularity: z.number().min(0).default(
      CACHE_OPTION_DEFAULTS.refreshAheadMinPopularity,
    ),
    /** Co-access window: key B "follows" key A when read within this time after A. @default 2000 */
    predictionWindowMs: z.number().int().min(1).default(CACHE_OPTION_DEFAULTS.predictionWindowMs),
    /** Learned P(next = B | A) from which B is pre-warmed after A is read. @default 0.4 */
    predictionThreshold: z.number().gt(0).max(1).default(CACHE_OPTION_DEFAULTS.predictionThreshold),
    /** Observations of A needed before its successors are predicted. @default 5 */
    predictionMinSamples: z.number().int().min(1).default(
      CACHE_OPTION_DEFAULTS.predictionMinSamples,
    ),
    /** Keys whose successors are learned (oldest forgotten first). @default 5000 */
    predictionMaxKeys: z.number().int().min(1).default(CACHE_OPTION_DEFAULTS.predictionMaxKeys),
    /** Longest wait for one store round trip before the cache fails open. @default 150 */
    storeTimeoutMs: z.number().int().min(1).default(CACHE_OPTION_DEFAULTS.storeTimeoutMs),
    /** After a store failure, how long the store is skipped (memory and origin only). @default 1000 */
    storeRetryAfterMs: z.number().int().min(0).default(CACHE_OPTION_DEFAULTS.storeRetryAfterMs),
    /** Lifetime of the cross-isolate load lease (`SET NX PX`). @default 5000 */
    leaseMs: z.number().int().min(10).default(CACHE_OPTION_DEFAULTS.leaseMs),
    /** Longest time a lease loser polls the cache before loading itself. @default 1000 */
    leaseWaitMs: z.number().int().min(0).default(CACHE_OPTION_DEFAULTS.leaseWaitMs),
    /** Interval between a lease loser's polls. @default 25 */
    leasePollMs: z.number().int().min(1).default(CACHE_OPTION_DEFAULTS.leasePollMs),
    /**
     * Interval between retries of an invalidation the store did not confirm (store down during a
     * write). Memory copies are re-checked this much sooner than `memoryStalenessMs`, so that
     * bound holds for such writes too (see {@link memoryRecheckMs}). @default 250
     */
    invalidationRetryMs: z.number().int().min(1).default(CACHE_OPTION_DEFAULTS.invalidationRetryMs),
    /** Prefix of every key the cache writes to the store. @default 'qf:cache:' */
    keyPrefix: z.string().min(1).default(CACHE_OPTION_DEFAULTS.keyPrefix),
  }).strict();
});

/** The cache options, defaults applied. */
export type CacheOptions = z.infer<typeof cacheOptionsSchema>;

/**
 * Validates cache options, defaults applied: `cacheOptionsSchema.parse(input)`, except that an
 * input setting only default values returns a copy of {@link CACHE_OPTION_DEFAULTS} without
 * building the schema. Throws zod's error as `parse` does.
 *
 * @example
 * ```ts
 * parseCacheOptions({ leaseMs: 2000 }).leasePollMs; // 25
 * ```
 */
export function parseCacheOptions(input: unknown = {}): CacheOptions {
  if (setsOnlyDefaults(input, CACHE_OPTION_DEFAULTS)) return { ...CACHE_OPTION_DEFAULTS };
  return cacheOptionsSchema.parse(input, { jitless: true });
}

const n = (env: string, path: string): EnvBinding => ({
  env,
  path: `cache.${path}`,
  type: 'number',
});

/** Environment variables of the cache options. */
export const cacheEnvBindings: readonly EnvBinding[] = [
  n('QF_CACHE_MEMORY_MAX_ENTRIES', 'memoryMaxEntries'),
  n('QF_CACHE_MEMORY_MAX_BYTES', 'memoryMaxBytes'),
  n('QF_CACHE_MEMORY_STALENESS_MS', 'memoryStalenessMs'),
  n('QF_CACHE_TTL_FLOOR_FACTOR', 'ttlFloorFactor'),
  n('QF_CACHE_TTL_CEILING_FACTOR', 'ttlCeilingFactor'),
  n('QF_CACHE_POPULARITY_HALF_SATURATION', 'popularityHalfSaturation'),
  n('QF_CACHE_POPULARITY_HALF_LIFE_MS', 'popularityHalfLifeMs'),
  n('QF_CACHE_POPULARITY_FLUSH_MS', 'popularityFlushMs'),
  n('QF_CACHE_STALE_WHILE_REVALIDATE_MS', 'staleWhileRevalidateMs'),
  n('QF_CACHE_STALE_IF_ERROR_MS', 'staleIfErrorMs'),
  n('QF_CACHE_REFRESH_AHEAD_RATIO', 'refreshAheadRatio'),
  n('QF_CACHE_REFRESH_AHEAD_MIN_POPULARITY', 'refreshAheadMinPopularity'),
  n('QF_CACHE_PREDICTION_WINDOW_MS', 'predictionWindowMs'),
  n('QF_CACHE_PREDICTION_THRESHOLD', 'predictionThreshold'),
  n('QF_CACHE_PREDICTION_MIN_SAMPLES', 'predictionMinSamples'),
  n('QF_CACHE_PREDICTION_MAX_KEYS', 'predictionMaxKeys'),
  n('QF_CACHE_STORE_TIMEOUT_MS', 'storeTimeoutMs'),
  n('QF_CACHE_STORE_RETRY_AFTER_MS', 'storeRetryAfterMs'),
  n('QF_CACHE_LEASE_MS', 'leaseMs'),
  n('QF_CACHE_LEASE_WAIT_MS', 'leaseWaitMs'),
  n('QF_CACHE_LEASE_POLL_MS', 'leasePollMs'),
  { env: 'QF_CACHE_KEY_PREFIX', path: 'cache.keyPrefix', type: 'string' },
];

/**
 * How long a memory copy is served before this isolate re-checks the Redis tier:
 * `memoryStalenessMs - invalidationRetryMs`, but at least half of `memoryStalenessMs`.
 *
 * An invalidation the store missed (store down during the write) lands at most
 * `invalidationRetryMs` after the store answers again (the writer's retry loop); a copy
 * re-checked just before that lands is served for at most this interval more. So once the store
 * answers, no isolate serves a version older than an acknowledged write for longer than
 * `max(memoryStalenessMs, memoryStalenessMs / 2 + invalidationRetryMs)`: 2 s with the defaults
 * (2000 and 250 ms: re-checks every 1750 ms).
 *
 * @example
 * ```ts
 * memoryRecheckMs(cacheOptionsSchema.parse({})); // 1750
 * ```
 */
export function memoryRecheckMs(
  options: Pick<CacheOptions, 'memoryStalenessMs' | 'invalidationRetryMs'>,
): number {
  const staleness = options.memoryStalenessMs;
  return Math.max(staleness - options.invalidationRetryMs, staleness / 2);
}

/** Default of the spec's top-level `predictiveCacheTTL` (ms); `config.ts` uses it too. */
export const DEFAULT_PREDICTIVE_CACHE_TTL_MS = 300_000;

/**
 * What the predictive cache reads of the optimizer's configuration: the `cache` section and two
 * top-level options of the spec. A whole `OptimizationConfig` is one, so callers pass theirs.
 */
export interface PredictiveCacheConfig {
  /** `false`: every call goes to the origin (reason `'disabled'`). @default true */
  enablePredictiveCaching: boolean;
  /** Base TTL of an entry (ms) before popularity adjusts it. @default 300000 */
  predictiveCacheTTL: number;
  /** The cache's own options. */
  cache: CacheOptions;
}

/**
 * The defaults of {@link PredictiveCacheConfig} (what `parseOptimizationConfig()` yields).
 *
 * @example
 * ```ts
 * defaultPredictiveCacheConfig().cache.leaseMs; // 5000
 * ```
 */
export function defaultPredictiveCacheConfig(): PredictiveCacheConfig {
  return {
    enablePredictiveCaching: true,
    predictiveCacheTTL: DEFAULT_PREDICTIVE_CACHE_TTL_MS,
    cache: { ...CACHE_OPTION_DEFAULTS },
  };
}
