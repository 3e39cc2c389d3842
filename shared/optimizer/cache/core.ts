/**
 * The state every part of the predictive cache shares: the store, clock, metrics, the memory
 * tier, access counts, the isolate's invalidation generation and its background tasks. The
 * parts (`remote_tier.ts`, `leases.ts`, `load.ts`, `invalidation.ts`, `prewarm.ts`,
 * `read_path.ts`) each take this one object; only `predictive_cache.ts` creates it.
 *
 * @module
 */
import type { KeyValueStore } from '../../store/types.ts';
import type { Metrics } from '../metrics.ts';
import { runInBackground } from '../../runtime/background.ts';
import { SingleFlight } from '../singleflight.ts';
import { type CacheEntry, MemoryTier } from './memory_tier.ts';
import { Popularity } from './popularity.ts';
import { type CacheOptions, memoryRecheckMs, type PredictiveCacheConfig } from './options.ts';

/** What a bounded store call returns instead of throwing. */
export const FAILED: unique symbol = Symbol('store failed');
/** The type of {@link FAILED}. */
export type Failed = typeof FAILED;

/** The counters behind `CacheStats` (all but the derived ones). */
export interface CacheCounts {
  requests: number;
  hitsMemory: number;
  hitsRedis: number;
  misses: number;
  staleServed: number;
  staleIfErrorServed: number;
  prewarms: number;
  prewarmedRead: number;
  originCalls: number;
  originMsSaved: number;
  storeFailures: number;
}

/** What {@link CacheCore} is built from. */
export interface CacheCoreInit {
  store: KeyValueStore;
  config: PredictiveCacheConfig;
  metrics: Metrics;
  now: () => number;
  instanceId: string;
}

/**
 * The shared state of one cache instance (internal: not exported from `mod.ts`).
 *
 * @example
 * ```ts
 * const core = new CacheCore({ store, config, metrics, now: Date.now, instanceId: 'a' });
 * core.background(() => work(), 'label');
 * ```
 */
export class CacheCore {
  readonly store: KeyValueStore;
  readonly config: PredictiveCacheConfig;
  /** `config.cache`. */
  readonly options: CacheOptions;
  readonly metrics: Metrics;
  readonly now: () => number;
  readonly instanceId: string;
  readonly memory: MemoryTier;
  /**
   * How long a memory copy is served before the Redis tier is re-checked: a little under
   * `memoryStalenessMs`, so that bound holds for invalidations the store missed
   * ({@link memoryRecheckMs}).
   */
  readonly recheckMs: number;
  readonly popularity: Popularity;
  /** Joins concurrent loads of a key in this isolate (keyed by {@link flightKey}). */
  readonly flights: SingleFlight = new SingleFlight();
  readonly counts: CacheCounts = {
    requests: 0,
    hitsMemory: 0,
    hitsRedis: 0,
    misses: 0,
    staleServed: 0,
    staleIfErrorServed: 0,
    prewarms: 0,
    prewarmedRead: 0,
    originCalls: 0,
    originMsSaved: 0,
    storeFailures: 0,
  };
  /**
   * This isolate's invalidation count. Bumped synchronously by every invalidation: a load or
   * read that began under an older generation never lands in memory.
   */
  generation = 0;
  /** Set by `close()`: no background work starts after it. */
  closed = false;
  #seq = 0;
  #tasks = new Set<Promise<unknown>>();

  constructor(init: CacheCoreInit) {
    this.store = init.store;
    this.config = init.config;
    this.options = init.config.cache;
    this.metrics = init.metrics;
    this.now = init.now;
    this.instanceId = init.instanceId;
    const c = this.options;
    this.memory = new MemoryTier(c.memoryMaxEntries, c.memoryMaxBytes);
    this.recheckMs = memoryRecheckMs(c);
    this.popularity = new Popularity(c.keyPrefix, c.popularityHalfLifeMs);
  }

  /** A number unique in this instance (lease tokens and entry versions). */
  nextSeq(): number {
    return ++this.#seq;
  }

  /** The single-flight key: per local generation, so no read joins a load older than its own invalidation. */
  flightKey(key: string): string {
    return `${this.generation}\u0000${key}`;
  }

  /** Runs `task` in the background (`EdgeRuntime.waitUntil` where it exists), awaited by `close`. */
  background(task: () => Promise<unknown>, label: string): void {
    this.track(runInBackground(task, label));
  }

  /** Keeps `promise` until it settles, so `close` waits for it. */
  track(promise: Promise<unknown>): void {
    this.#tasks.add(promise);
    promise.finally(() => this.#tasks.delete(promise));
  }

  /** Waits until no tracked task runs (tasks may start others). */
  async settle(): Promise<void> {
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
  }

  /** Counts `entry`'s origin time as saved (one served read). */
  credit(entry: CacheEntry): void {
    this.counts.originMsSaved += entry.originMs;
    this.metrics.increment('cache.origin.saved.ms', entry.originMs);
  }

  /** Counts the first read of a pre-warmed entry. */
  prewarmedRead(): void {
    this.counts.prewarmedRead++;
    this.metrics.increment('cache.prewarm.read');
  }

  /** Longest time an entry written now lives in the Redis tier: ceiling TTL + longer stale window. */
  maxLifetimeMs(): number {
    const c = this.options;
    return Math.ceil(
      this.config.predictiveCacheTTL * c.ttlCeilingFactor +
        Math.max(c.staleWhileRevalidateMs, c.staleIfErrorMs),
    );
  }
}
