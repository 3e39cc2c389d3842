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

export { BackendOptimizationManager, type ManagerDeps } from './manager.ts';
export {
  type AppliedChange,
  DEFAULT_WARMING_INTERVAL_MS,
  type OptimizationResult,
  type OptimizeSystemOptions,
  RecommendationError,
  type WarmupReport,
} from './results.ts';
export { STORE_WINDOW_MS } from './context.ts';
export type { WarmOptions } from './warm_run.ts';
export {
  type AlertThresholds,
  DEFAULT_ALERTS,
  DEFAULT_THRESHOLDS,
  type ManagerBounds,
  type ManagerOptions,
  type ManagerOptionsInput,
  type ManagerThresholds,
  parseManagerOptions,
} from './options.ts';
export {
  type AppliedSettings,
  AppliedSettingsReader,
  clamp,
  emptySettings,
  keyPrefixClass,
  SETTINGS_KEY,
  SettingsStore,
} from './settings.ts';
export {
  figuresOf,
  type Observation,
  observationOf,
  observe,
  type PrefixFigures,
  type WindowFigures,
  type WindowName,
  WINDOWS,
} from './observe.ts';
export {
  type CandidateChange,
  candidateChanges,
  type ChangeArea,
  evaluateRules,
  type Evidence,
  type Goal,
  projectedHitRate,
  type Recommendation,
  type RuleContext,
} from './rules.ts';
export { deliverWebhook, detectDegradations, fetchWithTimeout, TimeoutError } from './alerts.ts';
export {
  activeAlerts,
  aggregateMetrics,
  type AlertRecord,
  bucketsFromPostgres,
  type DegradationInput,
  finishRun,
  listRuns,
  metricTotals,
  prune,
  recordAlerts,
  type RunRecord,
  setMeasuredGain,
  setWebhookStatus,
  startRun,
} from './records.ts';
export {
  type IntervalDecision,
  nextWarmingInterval,
  pingFunctions,
  type WarmupEntry,
} from './warmup.ts';
export {
  type Series,
  SERIES_METRICS,
  SERIES_RANGES,
  seriesOf,
  type SeriesPoint,
  type SeriesRange,
} from './series.ts';
export { recordCacheAccess } from './access.ts';

/**
 * The isolate's manager. Creating it makes the isolate's optimizer use the applied settings
 * (TTL per key-prefix class), re-read at most every `settingsRefreshMs`.
 */
export const backendOptimizationManager: BackendOptimizationManager =
  new BackendOptimizationManager({ optimizer: advancedBackendOptimizer, database: getDatabase });
