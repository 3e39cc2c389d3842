/**
 * `BackendOptimizationManager`: observe -> decide -> apply -> record, composing the optimizer
 * that exists (metrics, cache, breakers, throttle, pools, query-plan advisor), not copying it.
 *
 * - observe: the shared metric buckets of every isolate (1 min, 15 min, 1 h windows and the
 *   15 minutes before), this isolate's breakers, throttle limits and pools;
 * - decide: the rules of `rules.ts` (recommendations with evidence and candidate changes);
 * - apply: the applied-settings document in the store (bounded by the options' bounds), which
 *   every isolate reads within `settingsRefreshMs`;
 * - record: `optimization_runs`, `optimization_metrics` (aggregated, pruned) and
 *   `optimization_alerts` in Postgres; the alert webhook.
 *
 * @module
 */
import type { Database } from '../../db/types.ts';
import type { KeyValueStore } from '../../store/types.ts';
import type { EnvReader } from '../../store/mod.ts';
import { processEnv } from '../../store/mod.ts';
import type { AdvancedBackendOptimizer } from '../advanced.ts';
import { readSharedBuckets } from '../metrics.ts';
import { deliverWebhook, detectDegradations } from './alerts.ts';
import type { PrewarmReport } from '../cache/mod.ts';
import {
  type IntervalDecision,
  nextWarmingInterval,
  pingFunctions,
  type WarmupEntry,
} from './warmup.ts';
import { type Observation, observationOf, type WindowName, WINDOWS } from './observe.ts';
import { type ManagerOptions, type ManagerOptionsInput, parseManagerOptions } from './options.ts';
import {
  activeAlerts,
  aggregateMetrics,
  type AlertRecord,
  bucketsFromPostgres,
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
import {
  type CandidateChange,
  candidateChanges,
  evaluateRules,
  type Evidence,
  type Goal,
  type Recommendation,
} from './rules.ts';
import { type AppliedSettings, AppliedSettingsReader, clamp, SettingsStore } from './settings.ts';
import {
  type Series,
  SERIES_METRICS,
  SERIES_RANGES,
  seriesOf,
  type SeriesRange,
} from './series.ts';

/** One change the manager applied. */
export interface AppliedChange {
  area: CandidateChange['area'];
  change: string;
  setting: string;
  from: CandidateChange['from'];
  to: CandidateChange['to'];
  evidence: Evidence[];
  estimatedGainPercent: number;
  gainBasis: string;
}

/** The result of a run (the spec's shape, plus what an operator needs to follow it). */
export interface OptimizationResult {
  success: boolean;
  optimizationsApplied: AppliedChange[];
  estimatedGainPercent: number;
  /** How the estimate was computed. */
  gainMethod: string;
  runId: string | null;
  recommendations: Recommendation[];
  alerts: AlertRecord[];
  durationMs: number;
  /** What failed, when `success` is false or a step was skipped. */
  errors: string[];
  /** `optimizeSystem` only: why it stopped. */
  stoppedBecause?: 'target-reached' | 'time-bound' | 'no-more-changes';
  /** What the run also did: metric rows aggregated, rows pruned, invalidations drained. */
  maintenance: Record<string, unknown>;
}

/** The default warming interval (the cron schedule's 5 minutes), ms. */
export const DEFAULT_WARMING_INTERVAL_MS = 300_000;

/** What a warming run reports. */
export interface WarmupReport {
  success: boolean;
  /** One entry per function. */
  functions: WarmupEntry[];
  prewarm: { requested: number; warmed: string[]; skipped: PrewarmReport['skipped'] };
  interval: IntervalDecision;
  /** Pending cache invalidations drained (`{ drained, pending }`), null without a database. */
  invalidations: unknown;
  runId: string | null;
  durationMs: number;
  errors: string[];
}

/** Options of {@link BackendOptimizationManager.optimizeSystem}. */
export interface OptimizeSystemOptions {
  /** What to favour. @default 'performance' */
  priority?: Goal;
  /** Time bound of the run, ms. @default 10_000 */
  maxDurationMs?: number;
  /** Stop once the estimated gain reaches this, percent. @default 10 */
  targetGainPercent?: number;
  /** Recorded as the run's trigger. @default 'manual' */
  trigger?: string;
}

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

/** Width of a metrics bucket, ms (Metrics.flushTo's default). */
const BUCKET_MS = 60_000;
/**
 * How far back the observation reads the store: the 15-minute window, the one before it, and
 * one bucket of margin. Older minutes come from Postgres.
 */
export const STORE_WINDOW_MS = 2 * WINDOWS['15m'] + BUCKET_MS;
/** Minutes re-aggregated before the last aggregation's mark (late flushes). */
const AGGREGATION_MARGIN_MS = 5 * BUCKET_MS;

const GAIN_METHOD =
  'sum over applied changes of (origin or wait time each change is projected to save, from the ' +
  'measured 15-min figures) / (total operation time of the window), capped at 100; see each ' +
  "change's gainBasis";

const r2 = (n: number) => Math.round(n * 100) / 100;
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

function setIn(settings: AppliedSettings, path: string, value: unknown): AppliedSettings {
  const next = structuredClone(settings);
  const dot = path.indexOf('.');
  if (dot < 0) {
    (next as unknown as Record<string, unknown>)[path] = value;
  } else {
    const head = path.slice(0, dot) as 'ttlByPrefix' | 'throttleLimits' | 'poolSizes';
    next[head] = { ...next[head], [path.slice(dot + 1)]: value as number };
  }
  return next;
}

/** Why a recommendation cannot be applied. */
export class RecommendationError extends Error {
  /** `not_found`: no current recommendation has the id; `advice_only`: it changes nothing. */
  readonly code: 'not_found' | 'advice_only';
  readonly id: string;
  constructor(code: 'not_found' | 'advice_only', id: string) {
    super(
      code === 'not_found'
        ? `No current recommendation has the id ${JSON.stringify(id.slice(0, 200))}`
        : `Recommendation ${
          JSON.stringify(id.slice(0, 200))
        } is advice only: it has no setting to apply`,
    );
    this.name = 'RecommendationError';
    this.code = code;
    this.id = id;
  }
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
  #store: KeyValueStore;
  #settingsStore: SettingsStore;
  #database: () => Promise<Database>;
  #now: () => number;
  #env: EnvReader;
  #fetch: typeof fetch;
  #lastRecommendations: Recommendation[] = [];
  #metricsPrefix: string;
  #scope: string;
  #aggregatedKey: string;

  constructor(deps: ManagerDeps) {
    this.optimizer = deps.optimizer;
    this.#store = deps.store ?? deps.optimizer.store;
    this.options = parseManagerOptions(deps.optimizer.config, deps.options);
    const ns = deps.namespace ?? 'qf:';
    this.#metricsPrefix = `${ns}metrics:`;
    // Rows of optimization_metrics: 'global' for the default namespace.
    this.#scope = ns === 'qf:' ? 'global' : ns.slice(0, 200);
    this.#aggregatedKey = `${ns}manager:aggregated_until`;
    this.#settingsStore = new SettingsStore(this.#store, `${ns}manager:settings`);
    this.settings = new AppliedSettingsReader(this.#store, {
      refreshMs: this.options.settingsRefreshMs,
      now: deps.now,
      key: `${ns}manager:settings`,
    });
    this.#database = deps.database;
    this.#now = deps.now ?? Date.now;
    this.#env = deps.env ?? processEnv;
    this.#fetch = deps.fetch ?? fetch;
    // The optimizer's cache now uses the applied TTLs.
    this.optimizer.useSettings(this.settings);
  }

  /**
   * Observes the shared metrics (every window at once): the last {@link STORE_WINDOW_MS} from
   * the store (every isolate's flushed minutes), older minutes from `optimization_metrics` (what
   * earlier runs aggregated), so a run costs about 32 store commands plus one per writer and
   * minute, not 120 minutes' worth.
   */
  async observe(db?: Database): Promise<Observation> {
    // This isolate's own counts first, so a run sees them without waiting for the next flush.
    await this.optimizer.metrics.flushTo(this.#store, { prefix: this.#metricsPrefix })
      .catch(() => {});
    const now = this.#now();
    const recent = await readSharedBuckets(this.#store, {
      now: () => now,
      windowMs: STORE_WINDOW_MS,
      prefix: this.#metricsPrefix,
    });
    const firstRecent = now - (now % BUCKET_MS) -
      Math.floor(STORE_WINDOW_MS / BUCKET_MS) * BUCKET_MS;
    let older: Awaited<ReturnType<typeof bucketsFromPostgres>> = [];
    const database = db ?? await this.#database().catch(() => undefined);
    if (database) {
      older = await bucketsFromPostgres(database, now - 2 * WINDOWS['1h'], firstRecent, this.#scope)
        .catch(() => []);
    }
    return observationOf([...older, ...recent], now);
  }

  /** The recommendations of the current observation (nothing is applied). */
  async recommendations(client?: unknown): Promise<Recommendation[]> {
    const database = await this.#database().catch(() => undefined);
    const [observation, settings] = await Promise.all([
      this.observe(database),
      this.#settingsStore.read(),
    ]);
    this.#lastRecommendations = evaluateRules(observation, this.#ruleContext(settings, client));
    return this.#lastRecommendations;
  }

  #ruleContext(settings: AppliedSettings, client: unknown) {
    const o = this.optimizer;
    const resources = [
      ...new Set([
        ...Object.keys(o.pools.utilization()),
        ...Object.keys(o.breakers.states()),
      ]),
    ].sort();
    return {
      thresholds: this.options.thresholds,
      bounds: this.options.bounds,
      settings,
      baseTtlMs: o.config.predictiveCacheTTL,
      baseThrottleLimit: o.config.resilience.throttleLimit,
      basePoolSize: o.config.resilience.poolMaxConcurrent,
      resources,
      indexAdvice: client === undefined ? [] : o.queryPlanAdvice(client),
      openBreakers: Object.entries(o.breakers.states()).filter(([, s]) => s !== 'closed').map((
        [k],
      ) => k),
    };
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
    return this.#run(client, options.trigger ?? 'manual', (candidates) => ({
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
    const started = this.#now();
    return await this.#run(
      client,
      options.trigger ?? `system:${priority}`,
      (candidates) => {
        const ranked = candidates.filter((c) => c.goals.includes(priority)).sort((a, b) =>
          b.estimatedGainPercent - a.estimatedGainPercent || a.setting.localeCompare(b.setting)
        );
        const chosen: CandidateChange[] = [];
        let gain = 0;
        for (const c of ranked) {
          if (this.#now() - started >= maxDurationMs) {
            return { chosen, stoppedBecause: 'time-bound' as const };
          }
          if (gain >= target && chosen.length > 0) {
            return { chosen, stoppedBecause: 'target-reached' as const };
          }
          chosen.push(c);
          gain += c.estimatedGainPercent;
        }
        return {
          chosen,
          stoppedBecause: gain >= target && chosen.length
            ? 'target-reached' as const
            : 'no-more-changes' as const,
        };
      },
      { priority, maxDurationMs, targetGainPercent: target },
    );
  }

  async #run(
    client: unknown,
    trigger: string,
    choose: (candidates: CandidateChange[], recommendations: Recommendation[]) => {
      chosen: CandidateChange[];
      stoppedBecause: OptimizationResult['stoppedBecause'];
    },
    extraDetails: Record<string, unknown> = {},
  ): Promise<OptimizationResult> {
    const started = this.#now();
    const t0 = performance.now();
    const errors: string[] = [];
    const maintenance: Record<string, unknown> = {};
    let db: Database | undefined;
    let runId: string | null = null;
    try {
      db = await this.#database();
      runId = await startRun(db, 'optimize', trigger);
    } catch (error) {
      errors.push(`record: ${message(error)}`);
    }
    let observation: Observation;
    let settings: AppliedSettings;
    try {
      [observation, settings] = await Promise.all([
        this.observe(db),
        this.#settingsStore.read(),
      ]);
    } catch (error) {
      errors.push(`observe: ${message(error)}`);
      const result = this.#result(false, [], [], [], runId, t0, errors, maintenance);
      if (db && runId) {
        await finishRun(db, runId, {
          status: 'failed',
          applied: [],
          estimatedGainPercent: null,
          details: { errors, ...extraDetails },
        }).catch(() => {});
      }
      return result;
    }
    const recommendations = evaluateRules(observation, this.#ruleContext(settings, client ?? db));
    this.#lastRecommendations = recommendations;
    const { chosen, stoppedBecause } = choose(candidateChanges(recommendations), recommendations);

    // Apply: one write of the settings document, every value clamped to its bounds.
    const applied: AppliedChange[] = [];
    let next = settings;
    for (const c of chosen) {
      const to = this.#bounded(c);
      next = setIn(next, c.setting, to);
      applied.push({
        area: c.area,
        change: c.change,
        setting: c.setting,
        from: c.from,
        to,
        evidence: c.evidence,
        estimatedGainPercent: c.estimatedGainPercent,
        gainBasis: c.gainBasis,
      });
    }
    if (applied.length) {
      try {
        const written = await this.#settingsStore.write(next);
        this.settings.adopt(written);
      } catch (error) {
        errors.push(`apply: ${message(error)}`);
        applied.length = 0;
      }
    }
    const estimatedGainPercent = r2(
      Math.min(100, applied.reduce((sum, c) => sum + c.estimatedGainPercent, 0)),
    );

    // Alerts, metrics aggregation, pruning, pending invalidations.
    let alerts: AlertRecord[] = [];
    if (db) {
      try {
        alerts = await this.#alerts(db, observation, runId);
      } catch (error) {
        errors.push(`alerts: ${message(error)}`);
      }
      try {
        maintenance.metricRowsAggregated = await this.#aggregate(db, started);
        maintenance.metricRowsPruned = await prune(db, this.options.retention);
      } catch (error) {
        errors.push(`aggregate: ${message(error)}`);
      }
      // Invalidations left pending by isolates that died before their retry got through
      // (the cache's outbox, shared/optimizer/cache/outbox.ts).
      try {
        maintenance.invalidations = await this.optimizer.drainInvalidations(db);
      } catch (error) {
        errors.push(`drain invalidations: ${message(error)}`);
      }
      try {
        maintenance.previousRunMeasured = await this.#measurePrevious(db, runId, observation);
      } catch (error) {
        errors.push(`measure: ${message(error)}`);
      }
    }
    const result = this.#result(
      errors.every((e) => !e.startsWith('apply')),
      applied,
      recommendations,
      alerts,
      runId,
      t0,
      errors,
      maintenance,
    );
    result.estimatedGainPercent = estimatedGainPercent;
    if (stoppedBecause) result.stoppedBecause = stoppedBecause;
    if (db && runId) {
      const f = observation.windows['15m'];
      try {
        await finishRun(db, runId, {
          status: errors.length ? 'partial' : 'succeeded',
          applied,
          estimatedGainPercent,
          details: {
            ...extraDetails,
            stoppedBecause,
            gainMethod: GAIN_METHOD,
            recommendations: recommendations.map((r) => ({
              id: r.id,
              severity: r.severity,
              evidence: r.evidence,
            })),
            baseline: {
              operationP95Ms: f.operationP95Ms,
              hitRate: f.hitRate,
              operations: f.operations,
              coldStartRate: f.coldStartRate,
            },
            alerts: alerts.map((a) => a.metric),
            maintenance,
            errors,
            durationMs: result.durationMs,
          },
        });
      } catch (error) {
        result.errors.push(`record: ${message(error)}`);
      }
    }
    return result;
  }

  /**
   * Writes every minute since the last aggregation (at most a day, the store's retention) into
   * `optimization_metrics`; the current minute is rewritten by the next run (rows are replaced,
   * never added to).
   */
  async #aggregate(db: Database, now: number): Promise<number> {
    const until = Number(await this.#store.get<number>(this.#aggregatedKey)) || 0;
    const windowMs = Math.min(
      86_400_000,
      // Five minutes of margin: a flush retried late still reaches Postgres.
      Math.max(2 * BUCKET_MS, until ? now - until + AGGREGATION_MARGIN_MS : WINDOWS['1h']),
    );
    const buckets = await readSharedBuckets(this.#store, {
      now: () => now,
      windowMs,
      prefix: this.#metricsPrefix,
    });
    const rows = await aggregateMetrics(db, buckets, BUCKET_MS, this.#scope);
    await this.#store.set(this.#aggregatedKey, now - (now % BUCKET_MS));
    return rows;
  }

  #bounded(c: CandidateChange): CandidateChange['to'] {
    const b = this.options.bounds;
    if (Array.isArray(c.to)) return c.to.slice(0, b.prewarmKeys);
    if (c.area === 'cache') return clamp(c.to, b.ttlMs);
    if (c.area === 'throttle') return clamp(c.to, b.throttleLimit);
    if (c.area === 'pool') return clamp(c.to, b.poolSize);
    if (c.area === 'edge') return clamp(c.to, b.warmingIntervalMs);
    return c.to;
  }

  #result(
    success: boolean,
    applied: AppliedChange[],
    recommendations: Recommendation[],
    alerts: AlertRecord[],
    runId: string | null,
    t0: number,
    errors: string[],
    maintenance: Record<string, unknown>,
  ): OptimizationResult {
    return {
      success,
      optimizationsApplied: applied,
      estimatedGainPercent: 0,
      gainMethod: GAIN_METHOD,
      runId,
      recommendations,
      alerts,
      durationMs: r2(performance.now() - t0),
      errors,
      maintenance,
    };
  }

  async #alerts(db: Database, observation: Observation, runId: string | null) {
    const seen = detectDegradations(observation, this.options.alerts, this.options.thresholds);
    const recorded = await recordAlerts(db, seen, runId);
    const url = this.#env('ALERT_WEBHOOK_URL');
    if (url) {
      await Promise.all(
        recorded.filter((a) => a.isNew).map(async (a) => {
          const status = await deliverWebhook(
            url,
            { type: 'optimizer.alert', alert: { ...a, isNew: undefined } },
            this.options.webhookTimeoutMs,
            this.#fetch,
          );
          a.webhookStatus = status;
          await setWebhookStatus(db, a.id, status);
        }),
      );
    }
    return recorded.map(({ isNew: _isNew, ...a }) => a);
  }

  /** The previous optimize run's measured effect: its baseline p95 vs now. */
  async #measurePrevious(db: Database, runId: string | null, observation: Observation) {
    const [previous] = (await listRuns(db, { limit: 2, kind: 'optimize' })).filter((r) =>
      r.id !== runId && r.finishedAt !== null
    );
    const baseline = previous?.details?.baseline as { operationP95Ms?: number } | undefined;
    const now = observation.windows['15m'];
    if (!previous || !baseline?.operationP95Ms || now.operations === 0) return null;
    const measured = r2(
      ((baseline.operationP95Ms - now.operationP95Ms) / baseline.operationP95Ms) * 100,
    );
    await setMeasuredGain(db, previous.id, measured);
    return { runId: previous.id, measuredGainPercent: measured };
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
  async getOptimizationStatus(): Promise<Record<string, unknown>> {
    const errors: string[] = [];
    const o = this.optimizer;
    const database = await this.#database().catch((e) => {
      errors.push(`database: ${message(e)}`);
      return undefined;
    });
    const [observation, settings] = await Promise.all([
      this.observe(database).catch((e) => void errors.push(`store: ${message(e)}`)),
      this.#settingsStore.read().catch((e) => void errors.push(`settings: ${message(e)}`)),
    ]);
    let runs: RunRecord[] = [];
    let alerts: AlertRecord[] = [];
    let durable: Record<string, { count: number; sum: number }> = {};
    if (database) {
      try {
        [runs, alerts, durable] = await Promise.all([
          listRuns(database, { limit: 5 }),
          activeAlerts(database),
          metricTotals(database, this.#now() - WINDOWS['1h'], this.#scope),
        ]);
      } catch (error) {
        errors.push(`database: ${message(error)}`);
      }
    }
    const resources = [
      ...new Set([...Object.keys(o.pools.utilization()), ...Object.keys(o.breakers.states())]),
    ].sort();
    const metrics = observation
      ? Object.fromEntries(
        (Object.keys(WINDOWS) as WindowName[]).map((w) => [w, areas(observation.windows[w])]),
      )
      : null;
    return {
      config: o.config,
      overrides: settings ?? null,
      bounds: this.options.bounds,
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
   * const last15 = await backendOptimizationManager.metricsWindow('15m');
   * ```
   */
  async metricsWindow(window: WindowName): Promise<Record<string, unknown>> {
    const database = await this.#database().catch(() => undefined);
    const observation = await this.observe(database);
    const f = observation.windows[window];
    let durable: Record<string, { count: number; sum: number }> | null = null;
    if (database) {
      durable = await metricTotals(database, this.#now() - WINDOWS[window], this.#scope)
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
    return await this.#run(
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
  async metricsSeries(range: SeriesRange): Promise<Series> {
    await this.optimizer.metrics.flushTo(this.#store, { prefix: this.#metricsPrefix })
      .catch(() => {});
    const now = this.#now();
    const recent = await readSharedBuckets(this.#store, {
      now: () => now,
      windowMs: STORE_WINDOW_MS,
      prefix: this.#metricsPrefix,
    });
    const firstRecent = now - (now % BUCKET_MS) -
      Math.floor(STORE_WINDOW_MS / BUCKET_MS) * BUCKET_MS;
    const database = await this.#database().catch(() => undefined);
    const older = database
      ? await bucketsFromPostgres(
        database,
        now - SERIES_RANGES[range].rangeMs,
        firstRecent,
        this.#scope,
        SERIES_METRICS,
      ).catch(() => [])
      : [];
    return seriesOf([...older, ...recent], range, now);
  }

  /** Recent runs. */
  async runs(limit = 20, kind?: 'optimize' | 'warm'): Promise<RunRecord[]> {
    return await listRuns(await this.#database(), { limit, kind });
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
  async warm(options: {
    functions: string[];
    baseUrl: string;
    trigger?: string;
    timeoutMs?: number;
    headers?: Record<string, string>;
  }): Promise<WarmupReport> {
    const t0 = performance.now();
    const errors: string[] = [];
    let db: Database | undefined;
    let runId: string | null = null;
    try {
      db = await this.#database();
      runId = await startRun(db, 'warm', options.trigger ?? 'manual');
    } catch (error) {
      errors.push(`record: ${message(error)}`);
    }
    const entries = await pingFunctions(options.functions, options.baseUrl, {
      timeoutMs: options.timeoutMs,
      fetch: this.#fetch,
      headers: options.headers,
    });
    let invalidations: unknown = null;
    if (db) {
      try {
        invalidations = await this.optimizer.drainInvalidations(db);
      } catch (error) {
        errors.push(`drain invalidations: ${message(error)}`);
      }
    }
    const answered = entries.filter((e) => e.ok);
    const cold = answered.filter((e) => e.coldStart).length;
    const m = this.optimizer.metrics;
    m.increment('warmup.runs');
    m.increment('warmup.pinged', answered.length);
    m.increment('warmup.cold', cold);
    let settings: AppliedSettings | undefined;
    try {
      settings = await this.#settingsStore.read();
    } catch (error) {
      errors.push(`settings: ${message(error)}`);
    }
    const keys = (settings?.prewarmKeys ?? []).slice(0, this.options.bounds.prewarmKeys);
    let prewarm: PrewarmReport = { warmed: [], skipped: [] };
    if (keys.length) {
      try {
        prewarm = await this.optimizer.cache.prewarm(keys);
      } catch (error) {
        errors.push(`prewarm: ${message(error)}`);
      }
    }
    const interval = nextWarmingInterval(
      settings?.warmingIntervalMs ?? DEFAULT_WARMING_INTERVAL_MS,
      cold,
      answered.length,
      this.options.bounds.warmingIntervalMs,
    );
    if (settings && interval.nextMs !== interval.previousMs) {
      try {
        // Re-read just before writing: an optimizer run may have written meanwhile.
        const latest = await this.#settingsStore.read();
        this.settings.adopt(
          await this.#settingsStore.write({ ...latest, warmingIntervalMs: interval.nextMs }),
        );
      } catch (error) {
        errors.push(`interval: ${message(error)}`);
      }
    }
    const report: WarmupReport = {
      success: answered.length === entries.length && errors.length === 0,
      functions: entries,
      prewarm: { requested: keys.length, warmed: prewarm.warmed, skipped: prewarm.skipped },
      interval,
      invalidations,
      runId,
      durationMs: r2(performance.now() - t0),
      errors,
    };
    if (db && runId) {
      try {
        await finishRun(db, runId, {
          status: report.success ? 'succeeded' : answered.length ? 'partial' : 'failed',
          applied: interval.nextMs !== interval.previousMs
            ? [{
              area: 'edge',
              change: 'warming interval',
              setting: 'warmingIntervalMs',
              from: interval.previousMs,
              to: interval.nextMs,
              evidence: [{ metric: 'warmup.cold_start_rate', value: interval.coldStartRate }],
            }]
            : [],
          estimatedGainPercent: null,
          details: {
            functions: entries,
            prewarm: report.prewarm,
            interval,
            errors,
            durationMs: report.durationMs,
          },
        });
      } catch (error) {
        report.errors.push(`record: ${message(error)}`);
      }
    }
    return report;
  }

  /** Waits for a settings refresh in flight. */
  async close(): Promise<void> {
    await this.settings.settle();
  }
}

function areas(f: ReturnType<typeof observationOf>['windows']['1m']) {
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
