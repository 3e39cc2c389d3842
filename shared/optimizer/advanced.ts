/**
 * `advancedBackendOptimizer`: the spec's entry points, composing the predictive cache and the
 * resilience layer into one call.
 *
 * Composition of {@link AdvancedBackendOptimizer.executeOptimizedOperation}, outermost first:
 *
 * 1. **Predictive cache with deduplication**: a hit (memory, Redis, stale-while-revalidate)
 *    answers here; concurrent misses of one key share one load (singleflight, then a Redis lease
 *    across isolates). With caching off, identical in-flight calls are still deduplicated.
 * 2. **Adaptive throttling** of `resourceKey`: a rate token and a concurrency slot, waiting a
 *    short bounded delay for a free one, else `ThrottledError` (429).
 * 3. **Circuit breaker** of `resourceKey`: open means fail fast with `CircuitOpenError` (503);
 *    the cache then serves a stale entry within `staleIfErrorMs` instead of the error.
 * 4. **Intelligent retry** with backoff and jitter, for idempotent operations only.
 * 5. **Bulkhead** (resource pooling): each attempt holds one of the resource's slots.
 * 6. The **origin** (the operation), timed; every layer records its metrics.
 *
 * Issue #4 lists throttle and breaker before the cache. They sit behind it here because they
 * protect the resource, and a cache hit does not touch the resource: in front of the cache, every
 * hit would count as a success of the resource (an origin that is down behind a 90% hit rate never
 * reaches the breaker's failure ratio), an open breaker would refuse hits that need no origin,
 * cache-hit latencies would dilute the throttle's latency signal, and a memory-tier hit would
 * cost a Redis round trip for the rate window on Upstash. So a memory hit touches no network, a
 * Redis-tier hit costs one round trip, and the rate window meters the calls that reach the origin.
 *
 * @module
 */
import type { KeyValueStore } from '../store/types.ts';
import { getStore } from '../store/mod.ts';
import { runInBackground } from '../runtime/background.ts';
import {
  type OptimizationConfig,
  optimizationConfigFromEnv,
  type OptimizationConfigInput,
  parseOptimizationConfig,
} from './config.ts';
import { type Metrics, metrics as sharedMetrics } from './metrics.ts';
import {
  type CacheResult,
  type ExecuteOptions,
  LoadCompanions,
  PredictiveCache,
} from './cache/mod.ts';
import type { Loader } from './cache/loaders.ts';
import { recordCacheAccess } from './manager/access.ts';
import {
  deleteOutboxRow,
  drainInvalidationOutbox,
  type DrainReport,
  type OutboxDatabase,
} from './cache/outbox.ts';
import { type IndexAdvice, QueryPlanOptimizer } from './query-plan/mod.ts';
import {
  AdaptiveThrottle,
  BulkheadRegistry,
  CircuitBreakerRegistry,
  classifyError,
  Deduplicator,
  resultError,
  type RetryCallOptions,
  RetryPolicy,
  retrySuccessRate,
  signalsOverload,
  throttlingRate,
} from './resilience/mod.ts';

/** Options of {@link AdvancedBackendOptimizer.executeOptimizedOperation}, the spec's names first. */
export interface OptimizedOperationOptions {
  /** Cache key. Without it the result is not cached (writes, one-off reads). Include the caller's scope for user data (`userKey`). */
  cacheKey?: string;
  /** Table the operation reads, for query-plan analysis and metrics. */
  table?: string;
  /** Filters the operation applies, for query-plan analysis. */
  filters?: Record<string, unknown>;
  /** Throttle, breaker and pool key. @default table, else 'default' */
  resourceKey?: string;
  /** Keys to pre-warm in the background (declared prediction). */
  dependencies?: string[];
  /** Cache tags, for invalidation by tag. */
  tags?: string[];
  /** Base TTL of this entry (ms) before popularity adjusts it. @default config.predictiveCacheTTL */
  ttlMs?: number;
  /** Whether the operation may run twice (reads: yes). Non-idempotent ones are never retried. @default true */
  idempotent?: boolean;
  /** Stops waiting, retrying and the attempt in flight. */
  signal?: AbortSignal;
}

/** What {@link AdvancedBackendOptimizer.executeOptimizedOperationDetailed} reports besides the value. */
export interface OptimizedResult<T> {
  value: T;
  /** How the cache served it; `undefined` when the call was not cacheable. */
  cache?: Omit<CacheResult<T>, 'value'>;
  /** How the throttle admitted it. */
  throttle: 'allowed' | 'delayed' | 'fail-open' | 'disabled';
  /** Whether the origin ran for this call. */
  originCalled: boolean;
  /** Wall time of the whole call, ms. */
  durationMs: number;
}

/** The spec's metrics, from this isolate's counters. Rates are 0..1. */
export interface OptimizerMetrics {
  predictiveCacheHitRate: number;
  queryPlanImprovement: number;
  resourceUtilization: number;
  retrySuccessRate: number;
  adaptiveThrottlingRate: number;
  /** Origin time saved by the cache, as a share of the time all requests would have taken. */
  totalOptimizationGain: number;
  operations: number;
  originCalls: number;
}

/** Constructor options of {@link AdvancedBackendOptimizer}. */
export interface AdvancedBackendOptimizerOptions {
  /** Configuration; missing options come from defaults (not the environment). */
  config?: OptimizationConfigInput | OptimizationConfig;
  /** The shared store. @default the isolate's store (`getStore()`) */
  store?: KeyValueStore;
  /** @default the isolate's shared metrics */
  metrics?: Metrics;
  /** How often metrics are flushed to the store in the background, ms (0: never). @default 10000 */
  metricsFlushIntervalMs?: number;
  /**
   * Overrides the manager applied: TTL per key-prefix class, throttle limit and pool size per
   * resource (each clamped by the throttle and the pools to their configured bounds).
   * @default none
   */
  settings?: SettingsOverrides;
}

/** What the optimizer reads from the manager's applied settings (synchronous, no I/O). */
export interface SettingsOverrides {
  /** Base TTL (ms) for a cache key, overriding the call's and the configuration's. */
  ttlFor(cacheKey: string): number | undefined;
  /** Requests per window of a resource, replacing `resilience.throttleLimit` (clamped). */
  throttleLimitFor?(resourceKey: string): number | undefined;
  /** Slots of a resource's pool, replacing `resilience.poolMaxConcurrent` (clamped). */
  poolSizeFor?(resourceKey: string): number | undefined;
}

interface SqlClient {
  query(sql: string, params?: readonly unknown[]): Promise<Record<string, unknown>[]>;
}

function isSqlClient(client: unknown): client is SqlClient & object {
  return typeof client === 'object' && client !== null &&
    typeof (client as Partial<SqlClient>).query === 'function' &&
    // supabase-js has no query(); postgres.js sql`` is a function, not this shape.
    !('from' in client);
}

/** Carries a `{ data, error }` result whose error must not be cached, through the layers. */
class ResultCarrier extends Error {
  override name = 'ResultCarrier';
  constructor(readonly result: unknown, readonly inner: unknown) {
    super('operation returned an error result');
  }
}

/**
 * The optimizer: one instance per isolate (clients and limiters are created once, outside
 * request handlers), shared by every request.
 *
 * @example
 * ```ts
 * const optimizer = new AdvancedBackendOptimizer({ config: { maxRetryAttempts: 4 } });
 * const robots = await optimizer.executeOptimizedOperation(supabase, () =>
 *   supabase.from('robots').select('*').limit(10), {
 *   cacheKey: userKey(userId, 'robots', 'list'),
 *   table: 'robots',
 *   resourceKey: 'robots_api',
 * });
 * ```
 */
export class AdvancedBackendOptimizer {
  readonly config: OptimizationConfig;
  readonly store: KeyValueStore;
  readonly metrics: Metrics;
  readonly cache: PredictiveCache;
  readonly retry: RetryPolicy;
  readonly breakers: CircuitBreakerRegistry;
  readonly throttle: AdaptiveThrottle;
  readonly pools: BulkheadRegistry;
  readonly dedup: Deduplicator;
  /** One plan analyser per SQL client (the analyses and their cache belong to that database). */
  #queryPlans = new WeakMap<object, QueryPlanOptimizer>();
  #flushIntervalMs: number;
  #nextFlushAt: number;
  #settings: SettingsOverrides | undefined;
  /** What rides in the cache read before an origin call (issue 11: cold miss in 2 requests). */
  #companions: LoadCompanions;

  constructor(options: AdvancedBackendOptimizerOptions = {}) {
    this.config = parseOptimizationConfig(options.config as OptimizationConfigInput);
    this.store = options.store ?? getStore();
    this.metrics = options.metrics ?? sharedMetrics;
    const deps = { store: this.store, metrics: this.metrics };
    this.cache = new PredictiveCache({ ...deps, config: this.config });
    this.retry = new RetryPolicy(this.config, { metrics: this.metrics });
    this.breakers = new CircuitBreakerRegistry(this.config, {
      ...deps,
      // A `{ data, error }` result counts by its error, as a thrown one would.
      isFailure: (error) =>
        classifyError(error instanceof ResultCarrier ? error.inner : error).transient,
    });
    // The throttle and the pools read the settings in force on every admission (useSettings
    // may replace them later).
    const settings = () => this.#settings;
    this.#companions = new LoadCompanions({
      ...deps,
      config: this.config,
      breakers: () => this.breakers,
      limitOf: (resourceKey) => this.throttle.configuredLimit(resourceKey),
    });
    const rateWindow = this.#companions.rateWindow;
    this.throttle = new AdaptiveThrottle(this.config, { ...deps, settings, rateWindow });
    this.pools = new BulkheadRegistry(this.config, { metrics: this.metrics, settings });
    this.dedup = new Deduplicator({ metrics: this.metrics });
    this.#flushIntervalMs = options.metricsFlushIntervalMs ?? 10_000;
    this.#nextFlushAt = Date.now() + this.#flushIntervalMs;
    this.#settings = options.settings;
  }

  /**
   * Makes the optimizer use the manager's applied settings: TTL per key-prefix class in the
   * cache, throttle limits in the throttle, pool sizes in the bulkheads.
   *
   * @example
   * ```ts
   * optimizer.useSettings(new AppliedSettingsReader(optimizer.store));
   * ```
   */
  useSettings(settings: SettingsOverrides | undefined): void {
    this.#settings = settings;
  }

  /**
   * The operation's value, from the predictive cache when it can (two tiers, popularity TTL,
   * stale-while-revalidate, stampede protection); `dependencies` are pre-warmed in the
   * background when a loader is registered for them.
   *
   * @example
   * ```ts
   * const list = await advancedBackendOptimizer.executeWithPredictiveCaching(
   *   'pub:strategies:list', () => listStrategies(), ['pub:strategies:popular']);
   * ```
   */
  async executeWithPredictiveCaching<T>(
    cacheKey: string,
    operation: () => Promise<T>,
    dependencies?: string[],
    options?: ExecuteOptions,
  ): Promise<T> {
    return (await this.cache.execute(cacheKey, operation, dependencies, options)).value;
  }

  /**
   * Runs `operation` within the adaptive rate window and concurrency limit of `resourceKey`:
   * over the limit it waits a short bounded delay for a slot, then rejects with
   * `ThrottledError` (`reason`, `retryAfterMs`).
   *
   * @example
   * ```ts
   * const quote = await advancedBackendOptimizer.executeWithAdaptiveThrottling(
   *   () => fetchQuote('EURUSD'), 'quotes_api');
   * ```
   */
  executeWithAdaptiveThrottling<T>(operation: () => Promise<T>, resourceKey: string): Promise<T> {
    if (!this.config.enableAdaptiveThrottling) return operation();
    return this.throttle.execute(resourceKey, operation);
  }

  /**
   * Retries transient failures with `retryBackoffBase * 2^(n-1) + jitter`, at most
   * `maxRetryAttempts` attempts. Pass `{ idempotent: false }` for writes: they are tried once.
   *
   * @example
   * ```ts
   * const rows = await advancedBackendOptimizer.executeWithIntelligentRetry(() => sql`select 1`);
   * ```
   */
  executeWithIntelligentRetry<T>(
    operation: () => Promise<T>,
    options: RetryCallOptions = {},
  ): Promise<T> {
    if (!this.config.enableIntelligentRetries) return operation();
    return this.retry.execute(() => operation(), options);
  }

  /**
   * Every enabled optimization composed (see the module's documentation for the order).
   * `client` is the supabase-js client or the project's `Database` the operation uses; a
   * supabase-js `{ data, error }` result with an error is returned as it is, never cached.
   *
   * @example
   * ```ts
   * const { data } = await advancedBackendOptimizer.executeOptimizedOperation(
   *   supabase, () => supabase.from('robots').select('*').limit(10),
   *   { cacheKey: 'pub:robots:list', table: 'robots', filters: { limit: 10 },
   *     resourceKey: 'robots_api', dependencies: ['pub:strategies:list'] });
   * ```
   */
  async executeOptimizedOperation<T>(
    client: unknown,
    operation: () => Promise<T>,
    options: OptimizedOperationOptions = {},
  ): Promise<T> {
    return (await this.executeOptimizedOperationDetailed(client, operation, options)).value;
  }

  /** {@link executeOptimizedOperation} with how each layer handled the call (`x-cache`, timings). */
  async executeOptimizedOperationDetailed<T>(
    _client: unknown,
    operation: () => Promise<T>,
    options: OptimizedOperationOptions = {},
  ): Promise<OptimizedResult<T>> {
    const started = performance.now();
    const resourceKey = options.resourceKey ?? options.table ?? 'default';
    const config = this.config;
    let originCalled = false;

    let admission: OptimizedResult<T>['throttle'] = 'disabled';

    // Layers 2-6: throttle, breaker, retry, bulkhead, origin.
    const origin = async (): Promise<T> => {
      originCalled = true;
      this.#inspectFilters(_client, options.table, options.filters);
      // The last attempt's result, to hand back a `{ data, error }` result whose retries ran out.
      let last: { value: T } | undefined;
      const pooled = config.enableResourcePooling
        ? () => this.pools.run(resourceKey, operation, options.signal)
        : operation;
      const attempt = async () => {
        last = undefined;
        const value = await pooled();
        last = { value };
        return value;
      };
      const retried = config.enableIntelligentRetries
        ? () =>
          this.retry.execute(attempt, {
            resourceKey,
            idempotent: options.idempotent ?? true,
            signal: options.signal,
          })
        : attempt;
      const guarded = async () => {
        let value: T;
        try {
          value = await retried();
        } catch (error) {
          if (last && resultError(last.value) !== undefined) {
            throw new ResultCarrier(last.value, resultError(last.value));
          }
          throw error;
        }
        const error = resultError(value);
        // An error result must not be cached, and counts against the breaker.
        if (error !== undefined) throw new ResultCarrier(value, error);
        return value;
      };
      // An open breaker answers before the throttle: 503, not 429, and no token spent.
      this.breakers.get(resourceKey).rejectIfOpen();
      const permit = config.enableAdaptiveThrottling
        ? await this.throttle.acquire(resourceKey, options.signal)
        : undefined;
      if (permit) admission = permit.admission;
      const t0 = performance.now();
      let failed = false;
      try {
        return await this.breakers.execute(resourceKey, guarded);
      } catch (error) {
        // Overload shrinks the adaptive limits; a resource that is down is the breaker's.
        failed = signalsOverload(error instanceof ResultCarrier ? error.inner : error);
        throw error;
      } finally {
        const originMs = performance.now() - t0;
        this.metrics.observe('optimizer.origin.ms', originMs);
        if (permit) this.throttle.release(permit, originMs, failed);
      }
    };

    // Layer 1: cache with deduplication.
    let cacheMeta: Omit<CacheResult<T>, 'value'> | undefined;
    let value: T;
    try {
      if (options.cacheKey === undefined) {
        value = await origin();
      } else if (!config.enablePredictiveCaching) {
        value = await this.dedup.run(options.cacheKey, origin);
      } else {
        const t0 = performance.now();
        const result = await this.cache.execute(options.cacheKey, origin, options.dependencies, {
          tags: options.tags,
          ttlMs: this.#settings?.ttlFor(options.cacheKey) ?? options.ttlMs,
          companion: this.#companions.for(resourceKey),
        });
        const { value: cachedValue, ...meta } = result;
        cacheMeta = meta;
        recordCacheAccess(
          this.metrics,
          options.cacheKey,
          meta.status !== 'miss',
          originCalled ? performance.now() - t0 : 0,
        );
        value = cachedValue;
      }
    } catch (error) {
      if (!(error instanceof ResultCarrier)) {
        this.metrics.increment('optimizer.errors');
        throw error;
      }
      value = error.result as T;
    } finally {
      this.metrics.increment('optimizer.operations');
      this.#maybeFlush();
    }
    const durationMs = performance.now() - started;
    this.metrics.observe('optimizer.operation.ms', durationMs);
    return { value, cache: cacheMeta, throttle: admission, originCalled, durationMs };
  }

  /**
   * The query-plan analyser of a SQL client (the project's `Database`, or anything with
   * `query(sql, params)`), created on first use; `undefined` for other clients (supabase-js).
   *
   * @example
   * ```ts
   * const analysis = await advancedBackendOptimizer.queryPlanFor(db)?.analyze(
   *   'select id from public.robots where strategy_type = $1', ['grid']);
   * ```
   */
  queryPlanFor(client: unknown): QueryPlanOptimizer | undefined {
    if (!isSqlClient(client)) return undefined;
    let analyser = this.#queryPlans.get(client);
    if (!analyser) {
      analyser = new QueryPlanOptimizer({
        query: (sql, params) => client.query(sql, params ?? []),
        metrics: this.metrics,
        enabled: this.config.enableQueryPlanOptimization,
        options: this.config.queryPlan,
      });
      this.#queryPlans.set(client, analyser);
    }
    return analyser;
  }

  /**
   * Index advice gathered so far for a SQL client's hot filters (`create index ... on ...`).
   *
   * @example
   * ```ts
   * advancedBackendOptimizer.queryPlanAdvice(db).map((a) => a.sql);
   * ```
   */
  queryPlanAdvice(client: unknown): IndexAdvice[] {
    return this.queryPlanFor(client)?.advice() ?? [];
  }

  /**
   * The spec's "analyzes table structures and filters": on an origin call with a SQL client, the
   * table and equality filters become `select * from <table> where <col> = $n`, analysed in the
   * background at most once per `queryPlan.analysisCacheTtlMs` (index scan or sequential scan,
   * advice for a hot filter that scans). Names that are not plain identifiers are skipped.
   */
  #inspectFilters(client: unknown, table?: string, filters?: Record<string, unknown>): void {
    if (!table || !this.config.enableQueryPlanOptimization) return;
    const analyser = this.queryPlanFor(client);
    if (!analyser) return;
    const identifier = /^[a-z_][a-z0-9_]*$/;
    const [schema, name] = table.includes('.') ? table.split('.', 2) : ['public', table];
    if (!identifier.test(schema) || !identifier.test(name)) return;
    const conditions: string[] = [];
    const params: unknown[] = [];
    for (const [column, value] of Object.entries(filters ?? {})) {
      // Paging knobs are not filters; only scalar equality filters on plain columns are.
      if (!identifier.test(column) || ['limit', 'offset', 'cursor', 'order'].includes(column)) {
        continue;
      }
      if (value === null || !['string', 'number', 'boolean'].includes(typeof value)) continue;
      params.push(value);
      conditions.push(`${column} = $${params.length}`);
    }
    const where = conditions.length ? ` where ${conditions.join(' and ')}` : '';
    analyser.inspect(`select * from ${schema}.${name}${where} limit 100`, params);
  }

  /**
   * Registers how to load keys for pre-warming (exact key, `*` glob or RegExp).
   *
   * @example
   * ```ts
   * advancedBackendOptimizer.registerLoader('pub:strategies:*', (key) => loadStrategies(key));
   * ```
   */
  registerLoader<T>(nameOrPattern: string | RegExp, loader: Loader<T>): void {
    this.cache.registerLoader(nameOrPattern, loader);
  }

  /**
   * Drops a key from both tiers; this isolate's copy at once. Resolves `false` when the store did
   * not confirm (the invalidation is then retried in the background).
   */
  invalidate(cacheKey: string): Promise<boolean> {
    return this.cache.invalidate(cacheKey);
  }

  /** Drops every key carrying `tag` from both tiers (see {@link invalidateTags}). */
  invalidateTag(tag: string): Promise<boolean> {
    return this.cache.invalidateTag(tag);
  }

  /**
   * Invalidates `tags` now, after the write that changed them committed. This isolate's memory
   * copies go at once; in the store, each tag's generation moves, so no load that began before
   * is stored after. With `outboxId` and `db` (the row `enqueueInvalidation` wrote in the write's
   * transaction), the row is deleted in the background once the store confirmed. Resolves `false`
   * when the store did not answer: the tags stay pending in memory and are retried every
   * `invalidationRetryMs` until it does (then the row is deleted); if this isolate dies first,
   * {@link drainInvalidations} replays the row.
   *
   * @example
   * ```ts
   * const outboxId = await db.asUser(claims, async (tx) => {
   *   await tx.query('update robots set is_public = false where id = $1', [id]);
   *   return await enqueueInvalidation(tx, tags);
   * });
   * await optimizer.invalidateTags(tags, { outboxId, db });
   * ```
   */
  invalidateTags(
    tags: string[],
    options: { outboxId?: string; db?: OutboxDatabase } = {},
  ): Promise<boolean> {
    const { outboxId, db } = options;
    return this.cache.invalidateTags(tags, {
      onInvalidated: outboxId !== undefined && db !== undefined
        ? () => deleteOutboxRow(db, outboxId)
        : undefined,
    });
  }

  /**
   * Replays the invalidation outbox (cold start, warming run, optimizer run): first this
   * isolate's pending invalidations, then the rows other isolates left. `drained`: rows done and
   * deleted; `pending`: rows kept plus this isolate's invalidations still waiting for the store.
   *
   * @example
   * ```ts
   * const { drained, pending } = await optimizer.drainInvalidations(db);
   * ```
   */
  async drainInvalidations(db: OutboxDatabase): Promise<DrainReport> {
    const waiting = await this.cache.retryPendingInvalidations();
    const report = await drainInvalidationOutbox(db, this.cache);
    return { drained: report.drained, pending: report.pending + waiting };
  }

  /**
   * The spec's metrics from this isolate's counters.
   *
   * @example
   * ```ts
   * advancedBackendOptimizer.getMetrics().predictiveCacheHitRate; // 0.87
   * ```
   */
  getMetrics(): OptimizerMetrics {
    const m = this.metrics;
    const stats = this.cache.stats();
    const utilization = Object.values(this.pools.utilization());
    const capacity = utilization.reduce((sum, u) => sum + u.maxConcurrent, 0);
    const inUse = utilization.reduce((sum, u) => sum + u.inUse, 0);
    const origin = m.histogram('optimizer.origin.ms');
    const originCalls = origin?.count ?? 0;
    const spent = origin?.sum ?? 0;
    const saved = stats.originMsSaved;
    const improvement = m.histogram('queryplan.improvement.percent');
    return {
      predictiveCacheHitRate: stats.hitRate,
      queryPlanImprovement: improvement ? improvement.mean : 0,
      resourceUtilization: capacity ? inUse / capacity : 0,
      retrySuccessRate: retrySuccessRate(m),
      adaptiveThrottlingRate: throttlingRate(m),
      totalOptimizationGain: spent + saved > 0 ? saved / (spent + saved) : 0,
      operations: m.counter('optimizer.operations'),
      originCalls,
    };
  }

  /** Flushes metrics and access counts, waits for background work (shutdown, tests). */
  async close(): Promise<void> {
    await this.cache.close();
    try {
      await this.metrics.flushTo(this.store);
    } catch {
      // A store that is down loses nothing: the counts stay for the next flush.
    }
  }

  #maybeFlush(): void {
    if (this.#flushIntervalMs <= 0 || !this.metrics.hasPending) return;
    const now = Date.now();
    if (now < this.#nextFlushAt) return;
    this.#nextFlushAt = now + this.#flushIntervalMs;
    runInBackground(() => this.metrics.flushTo(this.store), 'metrics flush');
  }
}

/**
 * Builds an optimizer configured from the environment (`QF_*` variables), with overrides.
 *
 * @example
 * ```ts
 * const optimizer = createAdvancedBackendOptimizer({ config: { enableAdaptiveThrottling: false } });
 * ```
 */
export function createAdvancedBackendOptimizer(
  options: AdvancedBackendOptimizerOptions = {},
): AdvancedBackendOptimizer {
  return new AdvancedBackendOptimizer({
    ...options,
    config: optimizationConfigFromEnv(undefined, options.config as OptimizationConfigInput),
  });
}
