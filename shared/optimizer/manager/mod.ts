/**
 * The optimization manager's public entry: `backendOptimizationManager`, the isolate's manager
 * over the isolate's optimizer (`advancedBackendOptimizer`) and database, and its parts.
 *
 * @example
 * ```ts
 * import { backendOptimizationManager } from '@shared/optimizer/manager/mod.ts';
 * const result = await backendOptimizationManager.performPredictiveOptimization(db);
 * ```
 *
 * @module
 */
import { getDatabase } from '../../db/mod.ts';
import { advancedBackendOptimizer } from '../mod.ts';
import { BackendOptimizationManager } from './manager.ts';

export * from './manager.ts';
export * from './options.ts';
export * from './settings.ts';
export * from './observe.ts';
export * from './rules.ts';
export * from './alerts.ts';
export * from './records.ts';
export * from './warmup.ts';
export * from './series.ts';
export { recordCacheAccess } from './access.ts';

/**
 * The isolate's manager. Creating it makes the isolate's optimizer use the applied settings
 * (TTL per key-prefix class), re-read at most every `settingsRefreshMs`.
 */
export const backendOptimizationManager: BackendOptimizationManager =
  new BackendOptimizationManager({ optimizer: advancedBackendOptimizer, database: getDatabase });
