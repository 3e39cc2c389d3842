/**
 * The read past the memory tier's hot path (which stays in `predictive_cache.ts`): re-check
 * the Redis tier, serve fresh or stale (stale-while-revalidate), or load from the origin with
 * stampede protection, falling back to a stale entry on origin errors (stale-if-error) and to
 * memory and origin only when the store fails.
 *
 * @module
 */
import { type CacheCore, FAILED, type Failed } from './core.ts';
import type { CacheEntry } from './memory_tier.ts';
import type { RemoteTier, StoreRead } from './remote_tier.ts';
import type { Leases } from './leases.ts';
import type { OriginLoads } from './load.ts';
import type { Prewarming } from './prewarm.ts';
import type { CacheReason, CacheResult, CacheStatus, CacheTier, ExecuteOptions } from './types.ts';

/**
 * The result of serving `entry` at `now`.
 *
 * @example
 * ```ts
 * const result = resultOf(entry, 'hit', 'memory', 'fresh', Date.now());
 * ```
 */
export function resultOf<T>(
  entry: CacheEntry,
  status: CacheStatus,
  tier: CacheTier,
  reason: CacheReason,
  now: number,
): CacheResult<T> {
  return {
    value: entry.value as T,
    status,
    tier,
    reason,
    ageMs: Math.max(0, now - entry.storedAt),
    ttlMs: entry.freshUntil - entry.storedAt,
  };
}

/**
 * The slow read path of one cache instance.
 *
 * @example
 * ```ts
 * const reads = new ReadPath(core, remote, leases, loads, ahead);
 * await reads.read('robots:list', core.memory.get('robots:list'), listRobots, undefined, now);
 * ```
 */
export class ReadPath {
  #core: CacheCore;
  #remote: RemoteTier;
  #leases: Leases;
  #loads: OriginLoads;
  #ahead: Prewarming;
  /** Re-checks of fresh memory copies against Redis in flight, by key (one at a time). */
  #rechecks = new Map<string, Promise<unknown>>();

  constructor(
    core: CacheCore,
    remote: RemoteTier,
    leases: Leases,
    loads: OriginLoads,
    ahead: Prewarming,
  ) {
    this.#core = core;
    this.#remote = remote;
    this.#leases = leases;
    this.#loads = loads;
    this.#ahead = ahead;
  }

  /** Serves `key` when memory had no entry fresh and recently checked (`memoryEntry`). */
  async read<T>(
    key: string,
    memoryEntry: CacheEntry | undefined,
    operation: () => Promise<T>,
    options: ExecuteOptions | undefined,
    now: number,
  ): Promise<CacheResult<T>> {
    const core = this.#core;
    // One staleness re-check per key at a time: a read arriving while one is in flight waits for
    // it and serves what it found (one store request, not one per caller; never a copy past the
    // bound, so the staleness bound after an invalidation elsewhere holds as before).
    const inFlight = this.#rechecks.get(key);
    if (inFlight !== undefined && memoryEntry !== undefined && now < memoryEntry.freshUntil) {
      await inFlight;
      now = core.now();
      memoryEntry = core.memory.peek(key);
      if (
        memoryEntry !== undefined && now < memoryEntry.freshUntil &&
        this.#checkedRecently(memoryEntry, now)
      ) {
        return this.#served(memoryEntry, 'memory', now);
      }
    }
    let candidate: CacheEntry | undefined;
    let tier: CacheTier = 'memory';
    let storeReachable = true;
    let popularity: number | undefined;
    const recentlyChecked = memoryEntry !== undefined && this.#checkedRecently(memoryEntry, now);
    let prefetched: StoreRead | undefined;
    if (recentlyChecked) {
      candidate = memoryEntry;
    } else {
      core.metrics.increment('cache.miss.memory');
      // One round trip: the value, and when it is absent or past its stale window (a foreground
      // load follows) the lease and the generations of the entry's tags, read before the load.
      const pending = this.#remote.read(key, now, 'due', options?.tags, options?.companion);
      if (memoryEntry !== undefined && now < memoryEntry.freshUntil) {
        // A re-check (it never rejects: store failures are FAILED).
        this.#rechecks.set(key, pending);
        pending.finally(() => {
          if (this.#rechecks.get(key) === pending) this.#rechecks.delete(key);
        }).catch(() => {}); // the caller below sees the rejection
      }
      const read: StoreRead | Failed = await pending;
      if (read === FAILED) {
        storeReachable = false;
        candidate = memoryEntry; // degraded: serve what memory has
      } else {
        popularity = read.popularity;
        prefetched = read;
        if (read.record !== null) {
          candidate = this.#remote.toEntry(key, read, read.record, memoryEntry, now);
          tier = 'redis';
        } else if (
          memoryEntry !== undefined && read.localGeneration === core.generation &&
          core.memory.peek(key) === memoryEntry &&
          this.#remote.ownWriteBackPending(key, memoryEntry, read)
        ) {
          // Our own load, its write-back not landed yet and no generation it read moved: the
          // record is absent for that reason only, not invalidated (dropping the copy would
          // load the key a second time, and lose a pre-warm before its first read).
          memoryEntry.checkedAt = now;
          candidate = memoryEntry;
        } else if (memoryEntry !== undefined) {
          core.memory.delete(key); // invalidated or evicted elsewhere
        }
      }
    }
    if (candidate !== undefined && now < candidate.freshUntil) {
      this.#leases.unclaimed(key, prefetched);
      return this.#served(candidate, tier, now, storeReachable ? undefined : 'store-unavailable');
    }
    if (candidate !== undefined && now < candidate.staleUntil) {
      this.#leases.unclaimed(key, prefetched);
      this.#ahead.revalidate(key, operation, options);
      core.counts.staleServed++;
      core.metrics.increment('cache.stale.served');
      core.credit(candidate);
      return resultOf(candidate, 'stale', tier, 'stale-while-revalidate', now);
    }
    core.counts.misses++;
    core.metrics.increment(storeReachable ? 'cache.miss.redis' : 'cache.miss.store_unavailable');
    try {
      let used = false;
      // The flight is per local generation: a read after this isolate's own invalidation never
      // joins a load that began before it.
      const loaded = await core.flights.run(
        core.flightKey(key),
        () => {
          used = true;
          return this.#loads.load(key, operation, options, {
            mode: 'foreground',
            popularity,
            useStore: storeReachable,
            prefetched,
          });
        },
        () => core.metrics.increment('cache.singleflight.joined'),
      );
      if (!used) this.#leases.unclaimed(key, prefetched);
      if (loaded === undefined) throw new Error('unreachable: foreground load returned nothing');
      if (loaded.tier === 'origin') {
        const reason = storeReachable ? 'loaded' : 'store-unavailable';
        return resultOf(loaded.entry, 'miss', 'origin', reason, core.now());
      }
      return this.#served(loaded.entry, loaded.tier, core.now(), loaded.reason);
    } catch (error) {
      const t = core.now();
      if (candidate !== undefined && t < candidate.errorUntil) {
        core.counts.staleIfErrorServed++;
        core.metrics.increment('cache.stale_if_error.served');
        return resultOf(candidate, 'stale', tier, 'stale-if-error', t);
      }
      throw error;
    }
  }

  /** Whether `entry` was checked against Redis within the re-check interval (`core.recheckMs`). */
  #checkedRecently(entry: CacheEntry, now: number): boolean {
    return now - entry.checkedAt <= this.#core.recheckMs;
  }

  #served<T>(
    entry: CacheEntry,
    tier: CacheTier,
    now: number,
    reason?: CacheReason,
  ): CacheResult<T> {
    const core = this.#core;
    entry.hits++;
    if (tier === 'redis') {
      core.counts.hitsRedis++;
      core.metrics.increment('cache.hit.redis');
    } else {
      core.counts.hitsMemory++;
      core.metrics.increment('cache.hit.memory');
    }
    core.credit(entry);
    if (entry.prewarmed) {
      entry.prewarmed = false;
      core.prewarmedRead();
      return resultOf(entry, 'prewarmed', tier, reason ?? 'prewarmed', now);
    }
    return resultOf(entry, 'hit', tier, reason ?? 'fresh', now);
  }
}
