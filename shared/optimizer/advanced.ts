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
 * Why throttle and breaker sit behind the cache, not in front as issue #4 lists them: see
 * `advanced/layers.ts`.
 *
 * @module
 */
import type { KeyValueStore } from '../store/types.ts';
import { getStore } from '../store/mod.ts';
import {
  type OptimizationConfig,
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
  Deduplicator,
  type RetryCallOptions,
  RetryPolicy,
} from './resilience/mod.ts';
import { countsAgainstResource, ResultCarrier, throughLayers } from './advanced/layers.ts';
import { QueryPlansByClient } from './advanced/query_plans.ts';
import { OperationAccounting } from './advanced/accounting.ts';
import { optimizerMetricsOf } from './advanced/spec_metrics.ts';
import type {
  AdvancedBackendOptimizerOptions,
  OptimizedOperationOptions,
  OptimizedResult,
  OptimizerMetrics,
  SettingsOverrides,
} from './advanced/types.ts';

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
  #queryPlans: QueryPlansByClient;
  #accounting: OperationAccounting;
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
      isFailure: countsAgainstResource,
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
    this.#queryPlans = new QueryPlansByClient(this.config, this.metrics);
    this.#accounting = new OperationAccounting(
      this.metrics,
      this.store,
      options.metricsFlushIntervalMs ?? 10_000,
    );
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

    // Layers 2-6: throttle, breaker, retry, bulkhead, origin. Not an async frame of its own:
    // every frame and promise held across the query is more for the collector to move.
    const origin = (): Promise<T> => {
      originCalled = true;
      const called = throughLayers(this, operation, {
        resourceKey,
        idempotent: options.idempotent,
        signal: options.signal,
        onAdmitted: (a) => admission = a,
      });
      // The plan inspection runs after this call and its answer, on the connection it used.
      this.#queryPlans.inspectFilters(_client, options.table, options.filters, called);
      return called;
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
        this.#accounting.ended();
        throw error;
      }
      value = error.result as T;
    }
    const durationMs = this.#accounting.answered(started);
    return { value, cache: cacheMeta, throttle: admission, originCalled, durationMs };
  }

  /**
   * The answer {@link executeOptimizedOperationDetailed} would give from the memory tier, when
   * it would give one without the origin (see `PredictiveCache.peekHit`): counted the same way
   * (cache, per-prefix and per-key access, operations, duration). `undefined`, with nothing
   * counted, otherwise: the caller then runs the operation as usual. The HTTP layer's hit lane
   * (`shared/http/hit_lane.ts`) answers repeated reads with it.
   *
   * @example
   * ```ts
   * const hit = advancedBackendOptimizer.memoryHit('pub:robots:list');
   * if (hit) return hit.value;
   * ```
   */
  memoryHit<T>(
    cacheKey: string,
    options: Pick<OptimizedOperationOptions, 'dependencies' | 'tags'> & {
      /** Only this value (the same object): another one under the key is not a hit here. */
      expected?: unknown;
    } = {},
  ): OptimizedResult<T> | undefined {
    if (!this.config.enablePredictiveCaching) return undefined;
    const started = performance.now();
    const result = this.cache.peekHit<T>(
      cacheKey,
      options.dependencies,
      { tags: options.tags },
      options.expected,
    );
    if (!result) return undefined;
    recordCacheAccess(this.metrics, cacheKey, true, 0);
    const durationMs = this.#accounting.answered(started);
    // `cache` is the cache's result itself (its `value` too): no copy on the hot path.
    return {
      value: result.value,
      cache: result,
      throttle: 'disabled',
      originCalled: false,
      durationMs,
    };
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
    return this.#queryPlans.for(client);
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
    return this.#queryPlans.advice(client);
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
    return optimizerMetricsOf(this.metrics, this.cache.stats(), this.pools.utilization());
  }

  /** Flushes metrics and access counts, waits for background work (shutdown, tests). */
  async close(): Promise<void> {
    await this.cache.close();
    await this.#accounting.flush();
  }
}
