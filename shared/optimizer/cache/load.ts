/**
 * Loading from the origin: one load of a key (a foreground miss, a background revalidation or
 * a pre-warm) under the cross-isolate lease, and the entry it makes (popularity-adjusted TTL,
 * stale windows, version). Where the loaded value goes depends on what happened meanwhile:
 *
 * - this isolate invalidated something during the load: discarded (it may predate that);
 * - the generations could not be read first (store down): memory only, never the Redis tier,
 *   where it could outlive an invalidation this isolate did not see;
 * - an invalidation of ours still waits for the store: memory only (the generations read are
 *   the old ones);
 * - otherwise: memory, and the Redis tier through the generation-checked write-back.
 *
 * @module
 */
import { type CacheCore, FAILED } from './core.ts';
import { type CacheEntry, estimateBytes } from './memory_tier.ts';
import { popularityTtl } from './popularity.ts';
import type { StoredRecord } from './record.ts';
import type { RemoteTier, StoreRead } from './remote_tier.ts';
import type { Leases } from './leases.ts';
import type { Invalidations } from './invalidation.ts';
import type { CacheReason, CacheTier, ExecuteOptions } from './types.ts';

/**
 * Why a load runs. `foreground`: a reader waits for it (a lease loser polls, then loads).
 * `revalidate`: background refresh (stale-while-revalidate, refresh-ahead); gives up when
 * another isolate holds the lease. `prewarm`: like `revalidate`, and marks the entry pre-warmed.
 */
export type LoadMode = 'foreground' | 'revalidate' | 'prewarm';

/** How {@link OriginLoads.load} runs. */
export interface LoadRequest {
  mode: LoadMode;
  /** The key's decayed popularity when already read (else read with the lease, or local). */
  popularity?: number;
  /** `false`: the store just failed; load without reading it or writing back. @default true */
  useStore?: boolean;
  /** A read this caller already made; reused as the lease claim when it tried the lease. */
  prefetched?: StoreRead;
}

/** The parts of the cache a load uses. */
export interface LoadParts {
  core: CacheCore;
  remote: RemoteTier;
  leases: Leases;
  invalidations: Invalidations;
}

/** A loaded (or found) entry and how it was obtained. */
export interface Loaded {
  entry: CacheEntry;
  tier: CacheTier;
  reason: CacheReason;
}

/**
 * Until when `record` counts as fresh for a load: background loads treat entries near expiry
 * (the last `refreshRatio` of their TTL) as due; foreground ones only expired ones.
 *
 * @example
 * ```ts
 * freshLimit({ f: 100, t: 0 } as StoredRecord, true, 0.2); // 80
 * ```
 */
export function freshLimit(
  record: StoredRecord,
  background: boolean,
  refreshRatio: number,
): number {
  return background ? record.f - (record.f - record.t) * refreshRatio : record.f;
}

/**
 * The origin loads of one cache instance.
 *
 * @example
 * ```ts
 * const loads = new OriginLoads({ core, remote, leases, invalidations });
 * const loaded = await loads.load('robots:list', listRobots, undefined, { mode: 'foreground' });
 * ```
 */
export class OriginLoads {
  #parts: LoadParts;

  constructor(parts: LoadParts) {
    this.#parts = parts;
  }

  /**
   * Loads `key` under the cross-isolate lease (see {@link LoadMode}); `undefined` when a
   * background load gave up because another isolate holds the lease.
   */
  async load(
    key: string,
    operation: () => Promise<unknown>,
    options: ExecuteOptions | undefined,
    request: LoadRequest,
  ): Promise<Loaded | undefined> {
    const core = this.#parts.core;
    const background = request.mode !== 'foreground';
    const generation = core.generation;
    let knownPopularity = request.popularity;
    let token: string | undefined;
    let read: StoreRead | undefined;
    if (request.useStore ?? true) {
      const reused = request.prefetched?.tried ? request.prefetched : undefined;
      const fresh = reused ??
        await this.#parts.remote.read(key, core.now(), 'always', options?.tags);
      if (fresh !== FAILED) {
        read = fresh;
        knownPopularity = read.popularity;
        if (read.acquired) token = read.token;
        // Re-check: another isolate may have written while we raced for the lease.
        const ratio = core.options.refreshAheadRatio;
        if (read.record !== null && core.now() < freshLimit(read.record, background, ratio)) {
          if (token !== undefined) this.#parts.remote.release(key, token);
          const previous = core.memory.peek(key);
          const entry = this.#parts.remote.toEntry(key, read, read.record, previous, core.now());
          return { entry, tier: 'redis', reason: 'fresh' };
        }
        const next = await this.#parts.leases.contend(key, read, background);
        if (next === 'give-up') return undefined;
        if (next !== 'load') return { entry: next, tier: 'redis', reason: 'lease-wait' };
      }
    }
    const started = performance.now();
    core.counts.originCalls++;
    core.metrics.increment('cache.origin.calls');
    let value: unknown;
    try {
      value = await operation();
    } catch (error) {
      core.metrics.increment('cache.origin.errors');
      if (token !== undefined) this.#parts.remote.release(key, token);
      throw error;
    }
    const originMs = performance.now() - started;
    core.metrics.observe('cache.origin.ms', originMs);
    const now = core.now();
    const popularity = knownPopularity ?? core.popularity.localDecayed(key, now);
    const prewarm = request.mode === 'prewarm';
    const entry = this.#newEntry(key, value, originMs, popularity, options, now, prewarm);
    if (generation !== core.generation) {
      // This isolate invalidated something while loading: the value may predate it.
      core.metrics.increment('cache.load.discarded');
      if (token !== undefined) this.#parts.remote.release(key, token);
    } else if (read === undefined) {
      // The generations could not be read before the load (store down): memory only.
      core.memory.set(key, entry);
    } else if (this.#parts.invalidations.isPending(key, entry.tags)) {
      // An invalidation of ours waits for the store: the generations read are the old ones.
      core.memory.set(key, entry);
      if (token !== undefined) this.#parts.remote.release(key, token);
    } else {
      core.memory.set(key, entry);
      this.#parts.remote.writeBack(key, entry, read, token);
    }
    return { entry, tier: 'origin', reason: 'loaded' };
  }

  #newEntry(
    key: string,
    value: unknown,
    originMs: number,
    popularity: number,
    options: ExecuteOptions | undefined,
    now: number,
    prewarmed: boolean,
  ): CacheEntry {
    const core = this.#parts.core;
    const c = core.options;
    const ttl = popularityTtl(
      options?.ttlMs ?? core.config.predictiveCacheTTL,
      popularity,
      c.ttlFloorFactor,
      c.ttlCeilingFactor,
      c.popularityHalfSaturation,
    );
    let json: string;
    try {
      json = JSON.stringify(value) ?? 'null';
    } catch {
      json = '';
    }
    return {
      value,
      storedAt: now,
      freshUntil: now + ttl,
      staleUntil: now + ttl + c.staleWhileRevalidateMs,
      errorUntil: now + ttl + c.staleIfErrorMs,
      version: `${core.instanceId}:${now}:${core.nextSeq()}`,
      checkedAt: now,
      originMs,
      tags: options?.tags?.length ? [...options.tags] : undefined,
      prewarmed,
      bytes: estimateBytes(key, json),
      hits: 0,
    };
  }
}
