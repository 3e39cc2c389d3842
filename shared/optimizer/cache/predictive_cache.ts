/**
 * The predictive cache: two tiers (memory LRU, Redis through the key-value port), popularity-
 * adjusted TTL, declared and learned pre-warming, stale-while-revalidate, stale-if-error,
 * stampede protection in two layers, invalidation by key and tag, fail-open degradation.
 *
 * This file holds the public class and the memory-hit hot path; it composes the parts:
 *
 * | file               | holds                                                                |
 * | ------------------ | -------------------------------------------------------------------- |
 * | `core.ts`          | shared state: store, clock, metrics, memory tier, counters, tasks    |
 * | `remote_tier.ts`   | bounded fail-open store calls, key names, the read and write-back    |
 * | `record.ts`        | the Redis-tier record's encoding, every field documented             |
 * | `leases.ts`        | the cross-isolate load lease: claim, contention, waiting for others  |
 * | `load.ts`          | origin loads (a named `LoadMode`) and the entries they make        |
 * | `read_path.ts`     | the read past memory: Redis, stale, load, stale-if-error             |
 * | `prewarm.ts`       | revalidation, refresh-ahead, pre-warming and its loaders             |
 * | `invalidation.ts`  | generations, invalidation by key and tag, pending retries            |
 *
 * @module
 */
import { metrics as sharedMetrics } from '../metrics.ts';
import { scopeOfKey } from '../keys.ts';
import { CacheCore, FAILED } from './core.ts';
import type { CacheEntry } from './memory_tier.ts';
import type { Loader } from './loaders.ts';
import { OriginLoads } from './load.ts';
import { Predictor } from './predictor.ts';
import { Invalidations } from './invalidation.ts';
import { Leases } from './leases.ts';
import { Prewarming } from './prewarm.ts';
import { ReadPath } from './read_path.ts';
import { RemoteTier } from './remote_tier.ts';
import { defaultPredictiveCacheConfig } from './options.ts';
import { releaseLeaseScript } from './scripts.ts';
import type {
  CacheReason,
  CacheResult,
  CacheStats,
  CacheStatus,
  ExecuteOptions,
  InvalidateOptions,
  PredictiveCacheOptions,
  PrewarmReport,
} from './types.ts';

export type {
  CacheReason,
  CacheResult,
  CacheStats,
  CacheStatus,
  CacheTier,
  ExecuteOptions,
  InvalidateOptions,
  PredictiveCacheOptions,
  PrewarmReport,
} from './types.ts';
export { releaseLeaseScript };

/**
 * Two-tier predictive cache. Create one per isolate and share it.
 *
 * @example
 * ```ts
 * const cache = new PredictiveCache({ store: new MemoryStore() });
 * cache.registerLoader('robot:*', (key) => loadRobot(key.slice(6)));
 * const result = await cache.execute('robots:list', () => listRobots(), ['strategies:list']);
 * result.status; // 'miss', then 'hit'
 * ```
 */
export class PredictiveCache {
  #core: CacheCore;
  #remote: RemoteTier;
  #invalidations: Invalidations;
  #predictor: Predictor;
  #ahead: Prewarming;
  #reads: ReadPath;
  #nextFlushAt: number;
  // Hot-path copies of options.
  #enabled: boolean;
  #recheckMs: number;
  #refreshRatio: number;
  #flushMs: number;

  constructor(options: PredictiveCacheOptions) {
    if (!options?.store) {
      throw new TypeError(`'store' must be a KeyValueStore: received ${options?.store}`);
    }
    const config = options.config ?? defaultPredictiveCacheConfig();
    const core = new CacheCore({
      store: options.store,
      config,
      metrics: options.metrics ?? sharedMetrics,
      now: options.now ?? Date.now,
      instanceId: options.instanceId ?? crypto.randomUUID(),
    });
    const c = config.cache;
    this.#core = core;
    this.#remote = new RemoteTier(core, {
      isPending: (key, tags) => this.#invalidations.isPending(key, tags),
      snapshot: () => this.#invalidations.snapshot(),
    });
    this.#invalidations = new Invalidations(core, this.#remote);
    const leases = new Leases(core, this.#remote);
    const loads = new OriginLoads({
      core,
      remote: this.#remote,
      leases,
      invalidations: this.#invalidations,
    });
    this.#predictor = new Predictor(
      c.predictionWindowMs,
      c.predictionThreshold,
      c.predictionMinSamples,
      c.predictionMaxKeys,
    );
    this.#ahead = new Prewarming(core, this.#remote, loads, this.#predictor);
    this.#reads = new ReadPath(core, this.#remote, leases, loads, this.#ahead);
    this.#enabled = config.enablePredictiveCaching;
    this.#recheckMs = this.#core.recheckMs;
    this.#refreshRatio = c.refreshAheadRatio;
    this.#flushMs = c.popularityFlushMs;
    this.#nextFlushAt = core.now() + c.popularityFlushMs;
  }

  /**
   * Registers how to load keys for pre-warming: an exact key, a `*` glob or a `RegExp`.
   *
   * @example
   * ```ts
   * cache.registerLoader('strategies:list', () => listStrategies());
   * ```
   */
  registerLoader<T>(nameOrPattern: string | RegExp, loader: Loader<T>): void {
    this.#ahead.loaders.register(nameOrPattern, loader);
  }

  /**
   * Returns `operation`'s value from the cache when it can. Origin errors propagate (unless a
   * stale entry within `staleIfErrorMs` exists); cache and store errors never do.
   *
   * @example
   * ```ts
   * const { value, status, tier } = await cache.execute('robots:list', () => listRobots());
   * ```
   */
  execute<T>(
    key: string,
    operation: () => Promise<T>,
    dependencies?: readonly string[],
    options?: ExecuteOptions,
  ): Promise<CacheResult<T>> {
    if (!this.#enabled) return this.#passThrough(operation);
    const core = this.#core;
    const now = core.now();
    const entry = core.memory.get(key);
    this.#recordAccess(key, now, options);
    if (this.#servable(entry, now)) {
      // Hot path: no network, no store.
      return Promise.resolve(
        this.#serveMemory<T>(key, entry!, now, dependencies, options, operation),
      );
    }
    this.#ahead.afterAccess(key, dependencies, now);
    return this.#reads.read(key, entry, operation, options, now);
  }

  /**
   * The memory-tier hit `execute` would answer, without an origin: `undefined` (and nothing
   * counted) unless the key is fresh in memory, needs no re-check against the store and is not
   * due for a refresh ahead (which needs the origin). Counted exactly as `execute` counts a
   * memory hit. With `expected`, only that value (the same object) is a hit. The HTTP layer's
   * hit lane (`shared/http/hit_lane.ts`) answers with it.
   *
   * @example
   * ```ts
   * const hit = cache.peekHit('pub:robots:list'); // { value, status: 'hit', tier: 'memory', ... }
   * ```
   */
  peekHit<T>(
    key: string,
    dependencies?: readonly string[],
    options?: ExecuteOptions,
    expected?: unknown,
  ): CacheResult<T> | undefined {
    if (!this.#enabled) return undefined;
    const core = this.#core;
    const now = core.now();
    const entry = core.memory.get(key);
    if (!this.#servable(entry, now) || this.#refreshDue(entry!, now)) return undefined;
    if (expected !== undefined && entry!.value !== expected) return undefined;
    this.#recordAccess(key, now, options);
    return this.#serveMemory<T>(key, entry!, now, dependencies, options);
  }

  /** Counts a request for `key` (popularity, co-access, the periodic flush). */
  #recordAccess(key: string, now: number, options: ExecuteOptions | undefined): void {
    this.#core.counts.requests++;
    this.#core.popularity.record(key, now);
    this.#predictor.observe(options?.scope ?? scopeOfKey(key), key, now);
    if (now >= this.#nextFlushAt) this.#scheduleFlush(now);
  }

  /** Whether a memory entry answers without the store: fresh and re-checked recently enough. */
  #servable(entry: CacheEntry | undefined, now: number): boolean {
    return entry !== undefined && now < entry.freshUntil &&
      now - entry.checkedAt <= this.#recheckMs;
  }

  /** Whether a fresh entry is close enough to its end to be refreshed ahead. */
  #refreshDue(entry: CacheEntry, now: number): boolean {
    return entry.freshUntil - now < (entry.freshUntil - entry.storedAt) * this.#refreshRatio;
  }

  /** A memory hit: counted, pre-warm and refresh-ahead triggered (the latter with an origin). */
  #serveMemory<T>(
    key: string,
    entry: CacheEntry,
    now: number,
    dependencies: readonly string[] | undefined,
    options: ExecuteOptions | undefined,
    operation?: () => Promise<T>,
  ): CacheResult<T> {
    const core = this.#core;
    entry.hits++;
    core.counts.hitsMemory++;
    core.metrics.increment('cache.hit.memory');
    core.credit(entry);
    const ttlMs = entry.freshUntil - entry.storedAt;
    let status: CacheStatus = 'hit';
    let reason: CacheReason = 'fresh';
    if (entry.prewarmed) {
      entry.prewarmed = false;
      status = reason = 'prewarmed';
      core.prewarmedRead();
    }
    if (operation && this.#refreshDue(entry, now)) {
      this.#ahead.maybeRefreshAhead(key, entry, operation, options, now);
    }
    this.#ahead.afterAccess(key, dependencies, now);
    return {
      value: entry.value as T,
      status,
      tier: 'memory',
      reason,
      ageMs: now - entry.storedAt,
      ttlMs,
    };
  }

  async #passThrough<T>(operation: () => Promise<T>): Promise<CacheResult<T>> {
    const value = await operation();
    return { value, status: 'miss', tier: 'origin', reason: 'disabled', ageMs: 0, ttlMs: 0 };
  }

  /**
   * Pre-warms keys with registered loaders (the warming run, a fresh isolate): entries fresh in
   * the Redis tier are copied to memory, the others loaded once under the lease.
   *
   * @example
   * ```ts
   * const report = await cache.prewarm(['strategies:list', 'robot:42']);
   * report.warmed; // ['strategies:list', 'robot:42']
   * ```
   */
  prewarm(keys: readonly string[]): Promise<PrewarmReport> {
    return this.#ahead.prewarm(keys);
  }

  #scheduleFlush(now: number): void {
    this.#nextFlushAt = now + this.#flushMs;
    if (!this.#core.popularity.hasPending) return;
    this.#core.background(() => this.#flush(), 'cache popularity flush');
  }

  /** Sends the aggregated access counts to the store; kept for the next flush on failure. */
  async #flush(): Promise<void> {
    const { popularity, metrics, store } = this.#core;
    if (!popularity.hasPending) return;
    const commands = popularity.takeFlush();
    const outcome = await this.#remote.bounded(() => store.pipeline(commands));
    if (outcome === FAILED) popularity.restore(commands);
    else metrics.increment('cache.popularity.flushes');
  }

  // --- invalidation (see invalidation.ts) ---------------------------------------------------

  /**
   * Removes `key` from both tiers. This isolate's memory copy is dropped at once (before any
   * await) and no load of this isolate that began before lands in memory. The store step moves
   * the key's generation, so no load that began before (in any isolate) is stored after it.
   * Resolves `false` when the store could not be reached: the invalidation then stays pending
   * and is retried in the background every `invalidationRetryMs` until the store answers.
   *
   * @example
   * ```ts
   * await cache.invalidate(userKey(userId, 'robot', robotId));
   * ```
   */
  invalidate(key: string): Promise<boolean> {
    this.#core.metrics.increment('cache.invalidate.key');
    return this.#invalidations.invalidate({ tags: [], keys: [key] }, true);
  }

  /**
   * Removes every entry written with `tag`, from both tiers (see {@link invalidateTags}).
   *
   * @example
   * ```ts
   * await cache.invalidateTag(scopedTag({ userId }, 'robots'));
   * ```
   */
  invalidateTag(tag: string): Promise<boolean> {
    return this.invalidateTags([tag]);
  }

  /**
   * Removes every entry written with any of `tags`, from both tiers, in one store round trip
   * (one script for every tag). This isolate's memory copies are dropped at once,
   * before any await. Each tag's generation moves to a new random token, so a load that read the
   * old generation is refused when it tries to store its value. Resolves whether the store
   * confirmed every tag; if not, the invalidation stays pending (Redis-tier records carrying a
   * pending tag are not served by this isolate) and is retried in the background until the store
   * answers, then `options.onInvalidated` runs.
   *
   * @example
   * ```ts
   * const ok = await cache.invalidateTags([scopedTag('public', 'robots')], {
   *   onInvalidated: () => deleteOutboxRow(id),
   * });
   * ```
   */
  invalidateTags(tags: readonly string[], options: InvalidateOptions = {}): Promise<boolean> {
    this.#core.metrics.increment('cache.invalidate.tag', tags.length);
    return this.#invalidations.invalidate(
      { tags: [...new Set(tags)], keys: [], onInvalidated: options.onInvalidated },
      options.retry ?? true,
    );
  }

  /** How many invalidations wait for the store (retried in the background). */
  get pendingInvalidations(): number {
    return this.#invalidations.pendingCount;
  }

  /**
   * Longest time an entry written now can live in the Redis tier (popularity ceiling TTL plus
   * the longer stale window). An invalidation older than this (plus a lease) has nothing left
   * to remove.
   */
  get maxEntryLifetimeMs(): number {
    return this.#core.maxLifetimeMs() + this.#core.options.leaseMs;
  }

  /**
   * Retries every pending invalidation now (the background loop does this on its own); resolves
   * how many are still pending.
   *
   * @example
   * ```ts
   * await cache.retryPendingInvalidations(); // 0 once the store answers
   * ```
   */
  retryPendingInvalidations(): Promise<number> {
    return this.#invalidations.retryPending();
  }

  // --- introspection and lifecycle ----------------------------------------------------------

  /**
   * This instance's counters and sizes; also sets the `cache.hit_rate` gauge.
   *
   * @example
   * ```ts
   * cache.stats().hitRate; // 0.83
   * ```
   */
  stats(): CacheStats {
    const core = this.#core;
    const c = core.counts;
    const served = c.hitsMemory + c.hitsRedis + c.staleServed + c.staleIfErrorServed;
    const hitRate = c.requests > 0 ? served / c.requests : 0;
    core.metrics.gauge('cache.hit_rate', hitRate);
    return {
      ...c,
      hitRate,
      memoryEntries: core.memory.size,
      memoryBytes: core.memory.bytes,
      learnedKeys: this.#predictor.size,
    };
  }

  /** Learned `P(to | from)` (for tests and the status endpoint). */
  successorProbability(from: string, to: string): number {
    return this.#predictor.probability(from, to);
  }

  /** Empties the memory tier (the Redis tier is untouched). */
  clearMemory(): void {
    this.#core.memory.clear();
  }

  /**
   * Stops background work from starting, waits for running work and flushes access counts.
   *
   * @example
   * ```ts
   * await cache.close();
   * ```
   */
  async close(): Promise<void> {
    this.#core.closed = true;
    this.#invalidations.wake();
    await this.#core.settle();
    await this.#flush();
  }
}

/**
 * The spec's call shape: the operation's value, from the cache when it can.
 *
 * @example
 * ```ts
 * const robots = await executeWithPredictiveCaching(cache, 'robots:list', () => listRobots(), [
 *   'strategies:list',
 * ]);
 * ```
 */
export async function executeWithPredictiveCaching<T>(
  cache: PredictiveCache,
  key: string,
  operation: () => Promise<T>,
  dependencies?: readonly string[],
  options?: ExecuteOptions,
): Promise<T> {
  return (await cache.execute(key, operation, dependencies, options)).value;
}
