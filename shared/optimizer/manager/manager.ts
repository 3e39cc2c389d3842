/**
 * `BackendOptimizationManager`: observe -> decide -> apply -> record, composing the optimizer
 * that exists (metrics, cache, breakers, throttle, pools, query-plan advisor), not copying it.
 *
 * - observe: the shared metric buckets of every isolate (1 min, 15 min, 1 h windows and the
 *   15 minutes before), this isolate's breakers, throttle limits and pools (`context.ts`);
 * - decide: the rules of `rules.ts` (recommendations with evidence and candidate changes);
 * - apply: the applied-settings document in the store (bounded by the options' bounds), which
 *   every isolate reads within `settingsRefreshMs` (`optimize_run.ts`);
 * - record: `optimization_runs`, `optimization_metrics` (aggregated, pruned) and
 *   `optimization_alerts` in Postgres; the alert webhook.
 *
 * The warming run is `warm_run.ts`, the status and metrics views `status.ts`, the result types
 * `results.ts`. This class holds the collaborators and is the spec's entry point.
 *
 * @module
 */
import type { Database } from '../../db/types.ts';
import type { KeyValueStore } from '../../store/types.ts';
import { type EnvReader, processEnv } from '../../runtime/env.ts';
import type { AdvancedBackendOptimizer } from '../advanced.ts';
import { type ManagerContext, observeShared } from './context.ts';
import type { Observation, WindowName } from './observe.ts';
import { type ManagerOptions, type ManagerOptionsInput, parseManagerOptions } from './options.ts';
import { chooseForPriority, ruleContextOf, runOptimization } from './optimize_run.ts';
import { listRuns, type RunRecord } from './records.ts';
import {
  type OptimizationResult,
  type OptimizeSystemOptions,
  RecommendationError,
  type WarmupReport,
} from './results.ts';
import { evaluateRules, type Recommendation } from './rules.ts';
import type { Series, SeriesRange } from './series.ts';
import { AppliedSettingsReader, SettingsStore } from './settings.ts';
import { metricsSeriesOf, metricsWindowOf, optimizationStatus } from './status.ts';
import { runWarmup, type WarmOptions } from './warm_run.ts';

/** Constructor dependencies of {@link BackendOptimizationManager}. */
export interface ManagerDeps {
  optimizer: AdvancedBackendOptimizer;
  /** @default optimizer.store */
  store?: KeyValueStore;
  /** The database runs are recorded in. */
  database: () => Promise<Database>;
  options?: ManagerOptionsInput;
  /** @default Date.now */
  now?: () => number;
  /** @default the process environment (ALERT_WEBHOOK_URL) */
  env?: EnvReader;
  /** @default fetch */
  fetch?: typeof fetch;
  /**
   * Prefix of the manager's store keys: settings at `<ns>manager:settings`, metric buckets read
   * at `<ns>metrics:` (what `Metrics.flushTo` writes by default). @default 'qf:'
   */
  namespace?: string;
}

/**
 * The optimization manager.
 *
 * @example
 * ```ts
 * const manager = new BackendOptimizationManager({ optimizer, database: getDatabase });
 * const result = await manager.performPredictiveOptimization(await getDatabase());
 * result.optimizationsApplied; // [{ area: 'cache', change: ..., from, to, evidence }]
 * ```
 */
export class BackendOptimizationManager {
  readonly optimizer: AdvancedBackendOptimizer;
  readonly options: ManagerOptions;
  readonly settings: AppliedSettingsReader;
  #ctx: ManagerContext;

  constructor(deps: ManagerDeps) {
    this.optimizer = deps.optimizer;
    const store = deps.store ?? deps.optimizer.store;
    this.options = parseManagerOptions(deps.optimizer.config, deps.options);
    const ns = deps.namespace ?? 'qf:';
    this.settings = new AppliedSettingsReader(store, {
      refreshMs: this.options.settingsRefreshMs,
      now: deps.now,
      key: `${ns}manager:settings`,
    });
    this.#ctx = {
      optimizer: this.optimizer,
      options: this.options,
      settings: this.settings,
      settingsStore: new SettingsStore(store, `${ns}manager:settings`),
      store,
      database: deps.database,
      now: deps.now ?? Date.now,
      env: deps.env ?? processEnv,
      fetch: deps.fetch ?? fetch,
      metricsPrefix: `${ns}metrics:`,
      // Rows of optimization_metrics: 'global' for the default namespace.
      scope: ns === 'qf:' ? 'global' : ns.slice(0, 200),
      aggregatedKey: `${ns}manager:aggregated_until`,
    };
    // The optimizer's cache now uses the applied TTLs.
    this.optimizer.useSettings(this.settings);
  }

  /**
   * Observes the shared metrics (every window at once): the last {@link STORE_WINDOW_MS} from
   * the store (every isolate's flushed minutes), older minutes from `optimization_metrics` (what
   * earlier runs aggregated), so a run costs about 32 store commands plus one per writer and
   * minute, not 120 minutes' worth.
   */
  observe(db?: Database): Promise<Observation> {
    return observeShared(this.#ctx, db);
  }

  /** The recommendations of the current observation (nothing is applied). */
  async recommendations(client?: unknown): Promise<Recommendation[]> {
    const ctx = this.#ctx;
    const database = await ctx.database().catch(() => undefined);
    const [observation, settings] = await Promise.all([
      this.observe(database),
      ctx.settingsStore.read(),
    ]);
    return evaluateRules(observation, ruleContextOf(ctx, settings, client));
  }

  /**
   * Observes, decides and applies every change the rules propose (bounded), records the run,
   * raises alerts, aggregates the shared metrics into Postgres and prunes.
   *
   * @example
   * ```ts
   * const { optimizationsApplied, estimatedGainPercent } =
   *   await backendOptimizationManager.performPredictiveOptimization(db);
   * ```
   */
  performPredictiveOptimization(
    client?: unknown,
    options: { trigger?: string } = {},
  ): Promise<OptimizationResult> {
    return runOptimization(this.#ctx, client, options.trigger ?? 'manual', (candidates) => ({
      chosen: candidates,
      stoppedBecause: undefined,
    }));
  }

  /**
   * Coordinated optimization toward one priority: candidates serving `priority` are applied
   * best first until the estimated gain reaches `targetGainPercent` or `maxDurationMs` passes.
   *
   * @example
   * ```ts
   * await backendOptimizationManager.optimizeSystem({ priority: 'cost', maxDurationMs: 5000 });
   * ```
   */
  async optimizeSystem(
    options: OptimizeSystemOptions = {},
    client?: unknown,
  ): Promise<OptimizationResult> {
    const priority = options.priority ?? 'performance';
    if (!['performance', 'cost', 'reliability'].includes(priority)) {
      throw new RangeError(
        `'priority' must be 'performance', 'cost' or 'reliability': received ${
          JSON.stringify(priority)
        }`,
      );
    }
    const maxDurationMs = options.maxDurationMs ?? 10_000;
    const target = options.targetGainPercent ?? 10;
    if (!Number.isFinite(maxDurationMs) || maxDurationMs <= 0) {
      throw new RangeError(`'maxDurationMs' must be a number > 0: received ${maxDurationMs}`);
    }
    if (!Number.isFinite(target) || target < 0 || target > 100) {
      throw new RangeError(`'targetGainPercent' must be within 0..100: received ${target}`);
    }
    const started = this.#ctx.now();
    return await runOptimization(
      this.#ctx,
      client,
      options.trigger ?? `system:${priority}`,
      chooseForPriority(priority, target, maxDurationMs, started, this.#ctx.now),
      { priority, maxDurationMs, targetGainPercent: target },
    );
  }

  /**
   * Configuration in force with the applied overrides, metrics per area over 1 min, 15 min and
   * 1 h (live store) with the Postgres totals of the last hour, breakers, throttle limits, pool
   * use, last runs and active alerts.
   *
   * @example
   * ```ts
   * const status = await backendOptimizationManager.getOptimizationStatus();
   * status.overrides.ttlByPrefix;
   * ```
   */
  getOptimizationStatus(): Promise<Record<string, unknown>> {
    return optimizationStatus(this.#ctx);
  }

  /**
   * Metrics of one window: per-area figures from the live store, and the Postgres totals.
   *
   * @example
   * ```ts
   * const last15 = await backendOptimizationManager.metricsWindow('15m');
   * ```
   */
  metricsWindow(window: WindowName): Promise<Record<string, unknown>> {
    return metricsWindowOf(this.#ctx, window);
  }

  /**
   * Applies the changes of one recommendation (re-evaluated now, bounded as a run's are) and
   * records it as an optimize run with trigger `trigger` and `details.recommendationId`. Throws
   * {@link RecommendationError} when no current recommendation has that id (`not_found`) or
   * it changes nothing (`advice_only`: index statements belong in a migration).
   *
   * @example
   * ```ts
   * const result = await manager.applyRecommendation('cache-ttl:pub:robots:list', db);
   * result.optimizationsApplied; // the recommendation's changes
   * ```
   */
  async applyRecommendation(
    id: string,
    client?: unknown,
    options: { trigger?: string } = {},
  ): Promise<OptimizationResult> {
    const current = (await this.recommendations(client)).find((r) => r.id === id);
    if (!current) throw new RecommendationError('not_found', id);
    if (current.changes.length === 0) throw new RecommendationError('advice_only', id);
    return await runOptimization(
      this.#ctx,
      client,
      options.trigger ?? `apply:${id}`.slice(0, 100),
      (_candidates, recommendations) => ({
        chosen: recommendations.find((r) => r.id === id)?.changes ?? [],
        stoppedBecause: undefined,
      }),
      { recommendationId: id, title: current.title },
    );
  }

  /**
   * Time series of the edge, cache and resilience figures over `range` (1 h in 1 min steps,
   * 24 h in 15 min steps): the store's recent minutes, the older ones from
   * `optimization_metrics` (only the metrics the series needs).
   *
   * @example
   * ```ts
   * const { points } = await backendOptimizationManager.metricsSeries('24h');
   * ```
   */
  metricsSeries(range: SeriesRange): Promise<Series> {
    return metricsSeriesOf(this.#ctx, range);
  }

  /** Recent runs. */
  async runs(limit = 20, kind?: 'optimize' | 'warm'): Promise<RunRecord[]> {
    return await listRuns(await this.#ctx.database(), { limit, kind });
  }

  /**
   * The warming run: pings every function, pre-warms the applied pre-warm list through the
   * registered loaders, stores the next interval, records a `warm` run.
   *
   * @example
   * ```ts
   * const report = await manager.warm({ functions: ['health', 'robots'], baseUrl });
   * report.functions.map((f) => f.coldStart);
   * ```
   */
  warm(options: WarmOptions): Promise<WarmupReport> {
    return runWarmup(this.#ctx, options);
  }

  /** Waits for a settings refresh in flight. */
  async close(): Promise<void> {
    await this.settings.settle();
  }
}
