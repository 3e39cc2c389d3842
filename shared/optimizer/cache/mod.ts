/**
 * The predictive cache's public entry.
 *
 * @module
 */
export {
  type CacheReason,
  type CacheResult,
  type CacheStats,
  type CacheStatus,
  type CacheTier,
  type ExecuteOptions,
  executeWithPredictiveCaching,
  type InvalidateOptions,
  PredictiveCache,
  type PredictiveCacheOptions,
  type PrewarmReport,
} from './predictive_cache.ts';
export {
  invalidateTagScript,
  readEntryScript,
  releaseLeaseScript,
  writeBackScript,
} from './scripts.ts';
export { type Loader, LoaderRegistry } from './loaders.ts';
export type { CompanionRate, LoadCompanion } from './types.ts';
export {
  type CompanionBreakers,
  type CompanionRateDecision,
  CompanionRateWindow,
  LoadCompanions,
  type LoadCompanionsDeps,
  type SharedRateWindow,
} from './companion.ts';
export { type CacheEntry, estimateBytes, MemoryTier } from './memory_tier.ts';
export { Popularity, popularityTtl } from './popularity.ts';
export { Predictor } from './predictor.ts';
export {
  cacheEnvBindings,
  type CacheOptions,
  cacheOptionsSchema,
  defaultPredictiveCacheConfig,
  type PredictiveCacheConfig,
} from './options.ts';
export {
  deleteOutboxRow,
  drainInvalidationOutbox,
  type DrainOptions,
  type DrainReport,
  enqueueInvalidation,
  MAX_OUTBOX_TAG_LENGTH,
  MAX_OUTBOX_TAGS,
  type OutboxDatabase,
  pruneInvalidationOutbox,
} from './outbox.ts';
