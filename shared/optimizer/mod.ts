/**
 * The optimizer module's public entry: the spec's `advancedBackendOptimizer` (a ready instance
 * configured from the environment), its class and factory, the configuration, metrics, the
 * predictive cache, the resilience layer and the key helpers.
 *
 * @example
 * ```ts
 * import { advancedBackendOptimizer, userKey } from '@shared/optimizer/mod.ts';
 * const robots = await advancedBackendOptimizer.executeWithPredictiveCaching(
 *   userKey(userId, 'robots', 'list'), () => listRobots(userId));
 * ```
 *
 * @module
 */
import { createAdvancedBackendOptimizer } from './advanced.ts';
import type { AdvancedBackendOptimizer } from './advanced.ts';
import { AppliedSettingsReader } from './manager/settings.ts';

export * from './advanced.ts';
export * from './config.ts';
export * from './metrics.ts';
export * from './keys.ts';
export { SingleFlight } from './singleflight.ts';
export * from './cache/mod.ts';
export * from './resilience/mod.ts';

/**
 * The isolate's optimizer: configured from the `QF_*` environment variables, on the isolate's
 * store (Upstash when `UPSTASH_REDIS_REST_*` are set, memory otherwise). Created on import,
 * once per isolate, outside request handlers. It uses the settings the optimization manager
 * applied (TTL per key-prefix class), re-read from the store at most every 5 s.
 */
export const advancedBackendOptimizer: AdvancedBackendOptimizer = createAdvancedBackendOptimizer();
advancedBackendOptimizer.useSettings(new AppliedSettingsReader(advancedBackendOptimizer.store));
