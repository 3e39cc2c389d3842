/**
 * The predictive cache: two tiers (memory LRU, Redis through the key-value port), popularity-
 * adjusted TTL, declared and learned pre-warming, stale-while-revalidate, stale-if-error,
 * stampede protection in two layers, invalidation by key and tag, fail-open degradation.
 *
 * @module
 */
import type { KeyValueStore, StoreCommand } from '../../store/types.ts';
import { type Metrics, metrics as sharedMetrics } from '../metrics.ts';
import { type OptimizationConfig, parseOptimizationConfig } from '../config.ts';
import { SingleFlight } from '../singleflight.ts';
import { runInBackground } from '../../runtime/background.ts';
import { scopeOfKey } from '../keys.ts';
import { type CacheEntry, estimateBytes, MemoryTier } from './memory_tier.ts';
import { Popularity, popularityTtl } from './popularity.ts';
import { Predictor } from './predictor.ts';
import { type Loader, LoaderRegistry } from './loaders.ts';
import {
  invalidateTagScript,
  readEntryScript,
  releaseLeaseScript,
  writeBackScript,
} from './scripts.ts';

export { releaseLeaseScript };

/** How a result was served (for the `x-cache` header and metrics). */
export type CacheStatus = 'hit' | 'miss' | 'stale' | 'prewarmed';
/** Where the value came from. */
export type CacheTier = 'memory' | 'redis' | 'origin';
/** Why it was served that way. */
export type CacheReason =
  | 'fresh'
  | 'prewarmed'
  | 'stale-while-revalidate'
  | 'stale-if-error'
  | 'loaded'
  | 'lease-wait'
  | 'store-unavailable'
  | 'disabled';

/** The outcome of {@link PredictiveCache.execute}. */
export interface CacheResult<T> {
  value: T;
  status: CacheStatus;
  tier: CacheTier;
  reason: CacheReason;
  /** Time since the origin produced the value (0 for a fresh load). */
  ageMs: number;
  /** The entry's fresh window (popularity-adjusted TTL); 0 when not cached. */
  ttlMs: number;
}

/** Per-call options of {@link PredictiveCache.execute}. */
export interface ExecuteOptions {
  /** Tags for {@link PredictiveCache.invalidateTag}. @default [] */
  tags?: string[];
  /** Base TTL of this entry before popularity adjusts it. @default config.predictiveCacheTTL */
  ttlMs?: number;
  /** Sequence in which co-access is learned. @default the key's scope (`scopeOfKey`) */
  scope?: string;
}

/** Constructor options of {@link PredictiveCache}. */
export interface PredictiveCacheOptions {
  /** The shared store (Redis tier). */
  store: KeyValueStore;
  /** The optimizer configuration. @default parseOptimizationConfig() */
  config?: OptimizationConfig;
  /** Where metrics go. @default the isolate's shared `metrics` */
  metrics?: Metrics;
  /** Clock in ms (tests). @default Date.now */
  now?: () => number;
  /** Identifies this isolate in lease tokens. @default a random UUID */
  instanceId?: string;
}

/** Result of {@link PredictiveCache.prewarm}. */
export interface PrewarmReport {
  /** Keys now in the memory tier. */
  warmed: string[];
  /** Keys not warmed, with why. */
  skipped: { key: string; reason: 'no-loader' | 'fresh' | 'failed' | 'lease-held' }[];
}

/** Counters of one cache instance (see also the shared metrics). */
export interface CacheStats {
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
  /** (memory + Redis hits + stale served) / requests. */
  hitRate: number;
  memoryEntries: number;
  memoryBytes: number;
  learnedKeys: number;
}

/** The Redis-tier record. */
interface StoredRecord {
  /** Fresh until. First in the JSON: the read script finds `f` and `s` without parsing. */
  f: number;
  s: number;
  v: unknown;
  t: number;
  e: number;
  id: string;
  o: number;
  b: number;
  g?: string[];
}

const FAILED: unique symbol = Symbol('store failed');
type Failed = typeof FAILED;

/** What one read of the Redis tier returned. */
interface StoreRead {
  record: StoredRecord | null;
  popularity: number;
  /** Whether this read claimed the load lease (with `token`). */
  acquired: boolean;
  /** Whether it tried to (`false`: the lease is neither ours nor known to be another's). */
  tried: boolean;
  /** The lease holder's token (JSON text) when another load holds it, else `''`. */
  holder: string;
  /** This isolate's invalidation count when the read was sent. */
  localGeneration: number;
  token: string;
  /** Generations (raw JSON text, `''` = absent) of `generationKeys`, read before any load. */
  generations: string[];
  generationKeys: string[];
}

/** When a read claims the load lease: never, only when the caller will load, always. */
type Claim = 'never' | 'due' | 'always';

/** An invalidation the store has not confirmed yet, retried in the background. */
interface PendingInvalidation {
  tags: string[];
  keys: string[];
  onInvalidated?: () => unknown;
}

/** Options of {@link PredictiveCache.invalidateTags}. */
export interface InvalidateOptions {
  /**
   * Called once the store confirmed the invalidation: at once, or after background retries when
   * the store was unreachable (e.g. to delete the durable outbox row).
   */
  onInvalidated?: () => unknown;
  /**
   * Keep the invalidation pending and retry it in the background when the store fails.
   * `false`: try once (the outbox drainer, which keeps its rows instead). @default true
   */
  retry?: boolean;
}

interface Loaded {
  entry: CacheEntry;
  tier: CacheTier;
  reason: CacheReason;
}

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
  #store: KeyValueStore;
  #config: OptimizationConfig;
  #metrics: Metrics;
  #now: () => number;
  #instanceId: string;
  #memory: MemoryTier;
  #popularity: Popularity;
  #predictor: Predictor;
  #loaders = new LoaderRegistry();
  #flights = new SingleFlight();
  #revalidating = new Set<string>();
  #prewarming = new Set<string>();
  #tasks = new Set<Promise<void>>();
  #generation = 0;
  #leaseSeq = 0;
  #nextFlushAt: number;
  #storeDownUntil = 0;
  #closed = false;
  /** Invalidations the store has not confirmed, oldest first. */
  #pending: PendingInvalidation[] = [];
  /** Tags and keys of {@link #pending}, with how many pending invalidations name each. */
  #pendingTags = new Map<string, number>();
  #pendingKeys = new Map<string, number>();
  #retrying = false;
  #wakeRetry: (() => void) | undefined;
  // Hot-path copies of options.
  #stalenessMs: number;
  #refreshRatio: number;
  #refreshMinPopularity: number;
  #prefix: string;
  #counts = {
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

  constructor(options: PredictiveCacheOptions) {
    if (!options?.store) {
      throw new TypeError(`'store' must be a KeyValueStore: received ${options?.store}`);
    }
    this.#store = options.store;
    this.#config = options.config ?? parseOptimizationConfig();
    this.#metrics = options.metrics ?? sharedMetrics;
    this.#now = options.now ?? Date.now;
    this.#instanceId = options.instanceId ?? crypto.randomUUID();
    const c = this.#config.cache;
    this.#memory = new MemoryTier(c.memoryMaxEntries, c.memoryMaxBytes);
    this.#popularity = new Popularity(c.keyPrefix, c.popularityHalfLifeMs);
    this.#predictor = new Predictor(
      c.predictionWindowMs,
      c.predictionThreshold,
      c.predictionMinSamples,
      c.predictionMaxKeys,
    );
    this.#stalenessMs = c.memoryStalenessMs;
    this.#refreshRatio = c.refreshAheadRatio;
    this.#refreshMinPopularity = c.refreshAheadMinPopularity;
    this.#prefix = c.keyPrefix;
    this.#nextFlushAt = this.#now() + c.popularityFlushMs;
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
    this.#loaders.register(nameOrPattern, loader);
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
    if (!this.#config.enablePredictiveCaching) return this.#passThrough(operation);
    const now = this.#now();
    this.#counts.requests++;
    this.#popularity.record(key, now);
    this.#predictor.observe(options?.scope ?? scopeOfKey(key), key, now);
    if (now >= this.#nextFlushAt) this.#scheduleFlush(now);
    const entry = this.#memory.get(key);
    if (
      entry !== undefined && now < entry.freshUntil && now - entry.checkedAt <= this.#stalenessMs
    ) {
      // Hot path: no network, no store.
      entry.hits++;
      this.#counts.hitsMemory++;
      this.#metrics.increment('cache.hit.memory');
      this.#credit(entry);
      const ttlMs = entry.freshUntil - entry.storedAt;
      let status: CacheStatus = 'hit';
      let reason: CacheReason = 'fresh';
      if (entry.prewarmed) {
        entry.prewarmed = false;
        status = reason = 'prewarmed';
        this.#prewarmedRead();
      }
      if (entry.freshUntil - now < ttlMs * this.#refreshRatio) {
        this.#maybeRefreshAhead(key, entry, operation, options, now);
      }
      this.#afterAccess(key, dependencies, now);
      return Promise.resolve({
        value: entry.value as T,
        status,
        tier: 'memory',
        reason,
        ageMs: now - entry.storedAt,
        ttlMs,
      });
    }
    this.#afterAccess(key, dependencies, now);
    return this.#slowPath(key, entry, operation, options, now);
  }

  async #passThrough<T>(operation: () => Promise<T>): Promise<CacheResult<T>> {
    const value = await operation();
    return { value, status: 'miss', tier: 'origin', reason: 'disabled', ageMs: 0, ttlMs: 0 };
  }

  async #slowPath<T>(
    key: string,
    memoryEntry: CacheEntry | undefined,
    operation: () => Promise<T>,
    options: ExecuteOptions | undefined,
    now: number,
  ): Promise<CacheResult<T>> {
    let candidate: CacheEntry | undefined;
    let tier: CacheTier = 'memory';
    let storeReachable = true;
    let popularity: number | undefined;
    const recentlyChecked = memoryEntry !== undefined &&
      now - memoryEntry.checkedAt <= this.#stalenessMs;
    let prefetched: StoreRead | undefined;
    if (recentlyChecked) {
      candidate = memoryEntry;
    } else {
      this.#metrics.increment('cache.miss.memory');
      // One round trip: the value, and when it is absent or past its stale window (a foreground
      // load follows) the lease and the generations of the entry's tags, read before the load.
      const read = await this.#readStore(key, now, 'due', options?.tags);
      if (read === FAILED) {
        storeReachable = false;
        candidate = memoryEntry; // degraded: serve what memory has
      } else {
        popularity = read.popularity;
        prefetched = read;
        if (read.record !== null) {
          candidate = this.#fromRecord(key, read, read.record, memoryEntry, now);
          tier = 'redis';
        } else if (memoryEntry !== undefined) {
          this.#memory.delete(key); // invalidated or evicted elsewhere
        }
      }
    }
    if (candidate !== undefined && now < candidate.freshUntil) {
      this.#unclaimed(key, prefetched);
      return this.#served(candidate, tier, now, storeReachable ? undefined : 'store-unavailable');
    }
    if (candidate !== undefined && now < candidate.staleUntil) {
      this.#unclaimed(key, prefetched);
      this.#revalidate(key, operation, options);
      this.#counts.staleServed++;
      this.#metrics.increment('cache.stale.served');
      this.#credit(candidate);
      return this.#result(candidate, 'stale', tier, 'stale-while-revalidate', now);
    }
    this.#counts.misses++;
    this.#metrics.increment(storeReachable ? 'cache.miss.redis' : 'cache.miss.store_unavailable');
    try {
      let used = false;
      // The flight is per local generation: a read after this isolate's own invalidation never
      // joins a load that began before it.
      const loaded = await this.#flights.run(
        this.#flightKey(key),
        () => {
          used = true;
          return this.#load(key, operation, options, false, false, popularity, storeReachable, {
            read: prefetched,
          });
        },
        () => this.#metrics.increment('cache.singleflight.joined'),
      );
      if (!used) this.#unclaimed(key, prefetched);
      if (loaded === undefined) throw new Error('unreachable: foreground load returned nothing');
      if (loaded.tier === 'origin') {
        return this.#result(
          loaded.entry,
          'miss',
          'origin',
          storeReachable ? 'loaded' : 'store-unavailable',
          this.#now(),
        );
      }
      return this.#served(loaded.entry, loaded.tier, this.#now(), loaded.reason);
    } catch (error) {
      const t = this.#now();
      if (candidate !== undefined && t < candidate.errorUntil) {
        this.#counts.staleIfErrorServed++;
        this.#metrics.increment('cache.stale_if_error.served');
        return this.#result(candidate, 'stale', tier, 'stale-if-error', t);
      }
      throw error;
    }
  }

  #served<T>(
    entry: CacheEntry,
    tier: CacheTier,
    now: number,
    reason?: CacheReason,
  ): CacheResult<T> {
    entry.hits++;
    if (tier === 'redis') {
      this.#counts.hitsRedis++;
      this.#metrics.increment('cache.hit.redis');
    } else {
      this.#counts.hitsMemory++;
      this.#metrics.increment('cache.hit.memory');
    }
    this.#credit(entry);
    if (entry.prewarmed) {
      entry.prewarmed = false;
      this.#prewarmedRead();
      return this.#result(entry, 'prewarmed', tier, reason ?? 'prewarmed', now);
    }
    return this.#result(entry, 'hit', tier, reason ?? 'fresh', now);
  }

  #result<T>(
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

  #credit(entry: CacheEntry): void {
    this.#counts.originMsSaved += entry.originMs;
    this.#metrics.increment('cache.origin.saved.ms', entry.originMs);
  }

  #prewarmedRead(): void {
    this.#counts.prewarmedRead++;
    this.#metrics.increment('cache.prewarm.read');
  }

  // --- store access, bounded --------------------------------------------------------------

  #storeAvailable(): boolean {
    if (this.#storeDownUntil === 0) return true;
    if (this.#now() >= this.#storeDownUntil) {
      this.#storeDownUntil = 0;
      return true;
    }
    this.#metrics.increment('cache.store.bypassed');
    return false;
  }

  /** Runs a store call bounded by `storeTimeoutMs`; `FAILED` (never a throw) on error. */
  async #bounded<T>(call: () => Promise<T>): Promise<T | Failed> {
    if (!this.#storeAvailable()) return FAILED;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const promise = call();
      promise.catch(() => {}); // a late rejection after the timeout is not unhandled
      const timeout = new Promise<Failed>((resolve) => {
        timer = setTimeout(() => resolve(FAILED), this.#config.cache.storeTimeoutMs);
      });
      const outcome = await Promise.race([promise, timeout]);
      if (outcome === FAILED) this.#storeFailed('timeout');
      return outcome;
    } catch (_error) {
      this.#storeFailed('error');
      return FAILED;
    } finally {
      clearTimeout(timer);
    }
  }

  #storeFailed(kind: 'timeout' | 'error'): void {
    this.#counts.storeFailures++;
    this.#metrics.increment(`cache.store.${kind}`);
    this.#storeDownUntil = this.#now() + this.#config.cache.storeRetryAfterMs;
  }

  #valueKey(key: string): string {
    return `${this.#prefix}v:${key}`;
  }

  #tagKey(tag: string): string {
    return `${this.#prefix}tag:${tag}`;
  }

  #generationKeys(key: string, tags: readonly string[] | undefined): string[] {
    const keys = [`${this.#prefix}kgen:${key}`];
    for (const tag of tags ?? []) keys.push(`${this.#prefix}gen:${tag}`);
    return keys;
  }

  #leaseKey(key: string): string {
    return `${this.#prefix}lease:${key}`;
  }

  get #ownLeasePrefix(): string {
    return JSON.stringify(`${this.#instanceId}:`).slice(0, -1);
  }

  #flightKey(key: string): string {
    return `${this.#generation}\u0000${key}`;
  }

  /**
   * One round trip (one atomic script): the record, the key's shared popularity counters and the
   * generations of the key and of `tags`; with `claim`, the load lease is claimed in the same
   * step, so the read is also the re-check after acquiring it.
   */
  async #readStore(
    key: string,
    now: number,
    claim: Claim,
    tags?: readonly string[],
  ): Promise<StoreRead | Failed> {
    const localGeneration = this.#generation;
    const [current, previous] = this.#popularity.readCommands(key, now);
    const generationKeys = this.#generationKeys(key, tags);
    const token = JSON.stringify(`${this.#instanceId}:${++this.#leaseSeq}`);
    const keys = [
      this.#valueKey(key),
      this.#leaseKey(key),
      (current as { key: string }).key,
      (previous as { key: string }).key,
      ...generationKeys,
    ];
    const replies = await this.#bounded(() =>
      this.#store.runScript(readEntryScript, keys, [claim, now, token, this.#config.cache.leaseMs])
    );
    if (replies === FAILED) return FAILED;
    const raw = String(replies[0] ?? '');
    let record: StoredRecord | null = null;
    if (raw !== '') {
      try {
        const parsed = JSON.parse(raw);
        if (parsed !== null && typeof parsed === 'object' && 'v' in parsed) record = parsed;
      } catch {
        record = null; // not ours: treat as absent, the write-back replaces it
      }
    }
    const lease = String(replies[1]);
    const acquired = lease === '1';
    const tried = lease !== '-';
    if (acquired) this.#metrics.increment('cache.lease.acquired');
    if (record !== null && this.#invalidationPending(key, record.g)) {
      // This isolate's own invalidation has not reached the store yet: the record predates it.
      record = null;
    }
    return {
      record,
      popularity: this.#popularity.decayed(key, now, replies[2], replies[3]),
      acquired,
      tried,
      holder: acquired || !tried ? '' : lease,
      localGeneration,
      token,
      generations: replies.slice(4).map((g) => String(g ?? '')),
      generationKeys,
    };
  }

  #invalidationPending(key: string, tags: readonly string[] | undefined): boolean {
    if (this.#pending.length === 0) return false;
    if (this.#pendingKeys.has(key)) return true;
    return tags !== undefined && tags.some((tag) => this.#pendingTags.has(tag));
  }

  /** Releases a lease a read claimed and no load used. */
  #unclaimed(key: string, read: StoreRead | undefined): void {
    if (read?.acquired) {
      read.acquired = false;
      this.#release(this.#leaseKey(key), read.token);
    }
  }

  /**
   * The entry of a Redis record, kept in memory unless this isolate invalidated something while
   * the read was in flight (the record may predate its own write: served to this caller only).
   */
  #fromRecord(
    key: string,
    read: StoreRead,
    record: StoredRecord,
    previous: CacheEntry | undefined,
    now: number,
  ): CacheEntry {
    const same = previous !== undefined && previous.version === record.id;
    const entry: CacheEntry = {
      value: same ? previous.value : record.v,
      storedAt: record.t,
      freshUntil: record.f,
      staleUntil: record.s,
      errorUntil: record.e,
      version: record.id,
      checkedAt: now,
      originMs: record.o,
      tags: record.g,
      prewarmed: same ? previous.prewarmed : false,
      bytes: record.b,
      hits: same ? previous.hits : 0,
    };
    if (read.localGeneration === this.#generation) this.#memory.set(key, entry);
    return entry;
  }

  // --- loading -------------------------------------------------------------------------

  /**
   * Loads `key` (foreground miss, revalidation or pre-warm) under the cross-isolate lease.
   * `background` loads give up when another isolate holds the lease (it is refreshing);
   * foreground loads poll the cache for up to `leaseWaitMs`, then load themselves.
   */
  async #load(
    key: string,
    operation: () => Promise<unknown>,
    options: ExecuteOptions | undefined,
    background: boolean,
    prewarm: boolean,
    knownPopularity: number | undefined,
    useStore: boolean,
    prefetched?: { read: StoreRead | undefined },
  ): Promise<Loaded | undefined> {
    const generation = this.#generation;
    const leaseKey = this.#leaseKey(key);
    let token: string | undefined;
    let read: StoreRead | undefined;
    if (useStore) {
      const reused = prefetched?.read?.tried ? prefetched.read : undefined;
      const fresh = reused ??
        await this.#readStore(key, this.#now(), 'always', options?.tags);
      if (fresh !== FAILED) {
        read = fresh;
        knownPopularity = read.popularity;
        if (read.acquired) token = read.token;
        // Re-check: another isolate may have written while we raced for the lease.
        if (read.record !== null && this.#now() < this.#freshLimit(read.record, background)) {
          if (token !== undefined) this.#release(leaseKey, token);
          const entry = this.#fromRecord(
            key,
            read,
            read.record,
            this.#memory.peek(key),
            this.#now(),
          );
          return { entry, tier: 'redis', reason: 'fresh' };
        }
        if (!read.acquired && read.holder.startsWith(this.#ownLeasePrefix)) {
          // Held by a load of this isolate that began before one of its own invalidations: its
          // result is discarded, so waiting for it would only delay reading our own write.
          this.#metrics.increment('cache.lease.superseded');
        } else if (!read.acquired) {
          this.#metrics.increment('cache.lease.contended');
          if (background) return undefined;
          const waited = await this.#waitForOther(key);
          if (waited !== undefined) return { entry: waited, tier: 'redis', reason: 'lease-wait' };
          this.#metrics.increment('cache.lease.wait_expired');
        }
      }
    }
    const started = performance.now();
    this.#counts.originCalls++;
    this.#metrics.increment('cache.origin.calls');
    let value: unknown;
    try {
      value = await operation();
    } catch (error) {
      this.#metrics.increment('cache.origin.errors');
      if (token !== undefined) this.#release(leaseKey, token);
      throw error;
    }
    const originMs = performance.now() - started;
    this.#metrics.observe('cache.origin.ms', originMs);
    const now = this.#now();
    const popularity = knownPopularity ?? this.#popularity.localDecayed(key, now);
    const entry = this.#newEntry(key, value, originMs, popularity, options, now, prewarm);
    if (generation !== this.#generation) {
      // This isolate invalidated something while loading: the value may predate it.
      this.#metrics.increment('cache.load.discarded');
      if (token !== undefined) this.#release(leaseKey, token);
    } else if (read === undefined) {
      // The generations could not be read before the load (store down): memory only, never the
      // shared tier, where it could outlive an invalidation this isolate did not see.
      this.#memory.set(key, entry);
    } else if (this.#invalidationPending(key, entry.tags)) {
      // An invalidation of ours waits for the store: the generations read are the old ones.
      this.#memory.set(key, entry);
      if (token !== undefined) this.#release(leaseKey, token);
    } else {
      this.#memory.set(key, entry);
      this.#writeBack(key, entry, read, token);
    }
    return { entry, tier: 'origin', reason: 'loaded' };
  }

  /** Background refreshes treat entries near expiry as due; foreground ones only expired ones. */
  #freshLimit(record: StoredRecord, background: boolean): number {
    return background ? record.f - (record.f - record.t) * this.#refreshRatio : record.f;
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
    const c = this.#config.cache;
    const ttl = popularityTtl(
      options?.ttlMs ?? this.#config.predictiveCacheTTL,
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
      version: `${this.#instanceId}:${now}:${++this.#leaseSeq}`,
      checkedAt: now,
      originMs,
      tags: options?.tags?.length ? [...options.tags] : undefined,
      prewarmed,
      bytes: estimateBytes(key, json),
      hits: 0,
    };
  }

  /**
   * Stores the loaded entry in the Redis tier, atomically and only if no generation read before
   * the load moved. Refused: an invalidation happened during the load, so the value may be the
   * old version; this isolate's memory copy is dropped too.
   */
  #writeBack(key: string, entry: CacheEntry, read: StoreRead, token: string | undefined): void {
    this.#background(async () => {
      const record: StoredRecord = {
        f: entry.freshUntil,
        s: entry.staleUntil,
        v: entry.value,
        t: entry.storedAt,
        e: entry.errorUntil,
        id: entry.version,
        o: Math.round(entry.originMs * 100) / 100,
        b: entry.bytes,
        ...(entry.tags ? { g: entry.tags } : {}),
      };
      const lifetime = Math.max(entry.staleUntil, entry.errorUntil) - this.#now();
      const tags = entry.tags ?? [];
      const keys = [
        this.#valueKey(key),
        this.#leaseKey(key),
        ...read.generationKeys,
        ...tags.map((tag) => this.#tagKey(tag)),
      ];
      const args: (string | number)[] = [
        JSON.stringify(record),
        Math.max(1, Math.ceil(lifetime)),
        token ?? '',
        this.#maxLifetimeMs(),
        read.generationKeys.length,
        ...read.generations,
        key,
      ];
      const stored = await this.#bounded(() => this.#store.runScript(writeBackScript, keys, args));
      if (stored === FAILED) {
        // Unknown outcome: the memory copy is re-checked against the store within the
        // staleness bound, like any other.
        if (token !== undefined) this.#release(this.#leaseKey(key), token);
        return;
      }
      if (Number(stored) !== 1) {
        this.#metrics.increment('cache.writeback.refused');
        if (this.#memory.peek(key)?.version === entry.version) this.#memory.delete(key);
      } else {
        this.#metrics.increment('cache.writeback.stored');
      }
    }, 'cache write-back');
  }

  #maxLifetimeMs(): number {
    const c = this.#config.cache;
    return Math.ceil(
      this.#config.predictiveCacheTTL * c.ttlCeilingFactor +
        Math.max(c.staleWhileRevalidateMs, c.staleIfErrorMs),
    );
  }

  #release(leaseKey: string, token: string): void {
    this.#background(() => this.#releaseNow(leaseKey, token), 'cache lease release');
  }

  async #releaseNow(leaseKey: string, token: string): Promise<void> {
    await this.#bounded(() =>
      this.#store.runScript(releaseLeaseScript, [leaseKey], [JSON.stringify(token)])
    );
  }

  /** A lease loser polls the Redis tier every `leasePollMs` for at most `leaseWaitMs`. */
  async #waitForOther(key: string): Promise<CacheEntry | undefined> {
    const c = this.#config.cache;
    const deadline = this.#now() + c.leaseWaitMs;
    this.#metrics.increment('cache.lease.waited');
    // Bounded by the clock and by a poll count (an injected test clock may stand still).
    for (let polls = Math.ceil(c.leaseWaitMs / c.leasePollMs); polls > 0; polls--) {
      if (this.#now() >= deadline) break;
      await new Promise((resolve) => setTimeout(resolve, c.leasePollMs));
      const read = await this.#readStore(key, this.#now(), 'never');
      if (read === FAILED) return undefined;
      if (read.record !== null && this.#now() < read.record.f) {
        return this.#fromRecord(key, read, read.record, this.#memory.peek(key), this.#now());
      }
    }
    return undefined;
  }

  // --- background: revalidation, refresh-ahead, pre-warming, flushes -----------------------

  #background(task: () => Promise<unknown>, label: string): void {
    const promise = runInBackground(task, label);
    this.#tasks.add(promise);
    promise.finally(() => this.#tasks.delete(promise));
  }

  #revalidate(key: string, operation: () => Promise<unknown>, options?: ExecuteOptions): void {
    if (this.#revalidating.has(key) || this.#closed) return;
    this.#revalidating.add(key);
    this.#metrics.increment('cache.revalidate');
    this.#background(async () => {
      try {
        await this.#flights.run(
          this.#flightKey(key),
          () => this.#load(key, operation, options, true, false, undefined, true),
        );
      } finally {
        this.#revalidating.delete(key);
      }
    }, 'cache revalidation');
  }

  #maybeRefreshAhead(
    key: string,
    entry: CacheEntry,
    operation: () => Promise<unknown>,
    options: ExecuteOptions | undefined,
    now: number,
  ): void {
    if (this.#revalidating.has(key)) return;
    const popularity = this.#popularity.localDecayed(key, now) + entry.hits;
    if (popularity < this.#refreshMinPopularity) return;
    this.#metrics.increment('cache.refresh_ahead');
    this.#revalidate(key, operation, options);
  }

  #afterAccess(key: string, dependencies: readonly string[] | undefined, now: number): void {
    const next = this.#predictor.predict(key);
    if (next !== undefined) this.#prewarmIfNeeded(next, now, 'cache.prewarm.predicted');
    if (dependencies !== undefined) {
      for (let i = 0; i < dependencies.length; i++) {
        this.#prewarmIfNeeded(dependencies[i], now, 'cache.prewarm.dependency');
      }
    }
  }

  /** Whether memory holds `key` fresh, recently checked and not near expiry. */
  #warmInMemory(key: string, now: number): boolean {
    const entry = this.#memory.peek(key);
    if (entry === undefined || now - entry.checkedAt > this.#stalenessMs) return false;
    const ttl = entry.freshUntil - entry.storedAt;
    return entry.freshUntil - now >= ttl * this.#refreshRatio;
  }

  #prewarmIfNeeded(key: string, now: number, metric: string): void {
    if (this.#closed || this.#prewarming.has(key) || this.#warmInMemory(key, now)) return;
    const loader = this.#loaders.find(key);
    if (loader === undefined) return;
    this.#prewarming.add(key);
    this.#metrics.increment(metric);
    this.#background(async () => {
      try {
        await this.#prewarmOne(key, loader);
      } finally {
        this.#prewarming.delete(key);
      }
    }, 'cache pre-warm');
  }

  async #prewarmOne(
    key: string,
    loader: Loader,
  ): Promise<PrewarmReport['skipped'][0]['reason'] | 'warmed'> {
    const now = this.#now();
    const read = await this.#readStore(key, now, 'never');
    let popularity: number | undefined;
    if (read !== FAILED) {
      popularity = read.popularity;
      if (read.record !== null && now < this.#freshLimit(read.record, true)) {
        const entry = this.#fromRecord(key, read, read.record, this.#memory.peek(key), now);
        entry.prewarmed = true;
        this.#counts.prewarms++;
        this.#metrics.increment('cache.prewarm');
        return 'warmed';
      }
    }
    // A loader knows no tags: keep those the entry had, so tag invalidation still reaches it.
    const tags = this.#memory.peek(key)?.tags ?? (read === FAILED ? undefined : read.record?.g);
    const options = tags?.length ? { tags } : undefined;
    const loaded = await this.#flights.run(
      this.#flightKey(key),
      () => this.#load(key, () => loader(key), options, true, true, popularity, read !== FAILED),
    );
    if (loaded === undefined) return 'lease-held';
    loaded.entry.prewarmed = true;
    this.#counts.prewarms++;
    this.#metrics.increment('cache.prewarm');
    return 'warmed';
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
  async prewarm(keys: readonly string[]): Promise<PrewarmReport> {
    const report: PrewarmReport = { warmed: [], skipped: [] };
    const now = this.#now();
    await Promise.all(keys.map(async (key) => {
      if (this.#warmInMemory(key, now)) return void report.skipped.push({ key, reason: 'fresh' });
      const loader = this.#loaders.find(key);
      if (loader === undefined) return void report.skipped.push({ key, reason: 'no-loader' });
      try {
        const outcome = await this.#prewarmOne(key, loader);
        if (outcome === 'warmed') report.warmed.push(key);
        else report.skipped.push({ key, reason: outcome });
      } catch {
        report.skipped.push({ key, reason: 'failed' });
      }
    }));
    return report;
  }

  #scheduleFlush(now: number): void {
    this.#nextFlushAt = now + this.#config.cache.popularityFlushMs;
    if (!this.#popularity.hasPending) return;
    this.#background(() => this.#flush(), 'cache popularity flush');
  }

  async #flush(): Promise<void> {
    if (!this.#popularity.hasPending) return;
    const commands = this.#popularity.takeFlush();
    const outcome = await this.#bounded(() => this.#store.pipeline(commands));
    if (outcome === FAILED) this.#popularity.restore(commands);
    else this.#metrics.increment('cache.popularity.flushes');
  }

  // --- invalidation ------------------------------------------------------------------------

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
    this.#metrics.increment('cache.invalidate.key');
    return this.#invalidate({ tags: [], keys: [key] }, true);
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
    this.#metrics.increment('cache.invalidate.tag', tags.length);
    return this.#invalidate(
      { tags: [...new Set(tags)], keys: [], onInvalidated: options.onInvalidated },
      options.retry ?? true,
    );
  }

  /** How many invalidations wait for the store (retried in the background). */
  get pendingInvalidations(): number {
    return this.#pending.length;
  }

  /**
   * Longest time an entry written now can live in the Redis tier (popularity ceiling TTL plus
   * the longer stale window). An invalidation older than this (plus a lease) has nothing left
   * to remove.
   */
  get maxEntryLifetimeMs(): number {
    return this.#maxLifetimeMs() + this.#config.cache.leaseMs;
  }

  async #invalidate(pending: PendingInvalidation, retry: boolean): Promise<boolean> {
    // Synchronously, before any await: this isolate reads its own writes at once.
    this.#generation++;
    this.#dropLocal(pending);
    const ok = await this.#applyInvalidation(pending, false);
    if (ok) {
      this.#settled(pending);
      return true;
    }
    if (retry) this.#keepPending(pending);
    return false;
  }

  #dropLocal(pending: PendingInvalidation): void {
    for (const key of pending.keys) this.#memory.delete(key);
    for (const tag of pending.tags) {
      for (const key of this.#memory.keysWithTag(tag)) this.#memory.delete(key);
    }
  }

  /** The store step of an invalidation; `probe` ignores the store-down back-off (retries). */
  async #applyInvalidation(pending: PendingInvalidation, probe: boolean): Promise<boolean> {
    const c = this.#config.cache;
    const genTtl = this.#maxLifetimeMs() + c.leaseMs;
    const send = (): Promise<unknown>[] => {
      const calls: Promise<unknown>[] = [];
      if (pending.keys.length > 0) {
        const commands: StoreCommand[] = [];
        for (const key of pending.keys) {
          commands.push({
            op: 'set',
            key: `${this.#prefix}kgen:${key}`,
            value: crypto.randomUUID(),
            options: { pxMs: genTtl },
          });
          commands.push({ op: 'del', keys: [this.#valueKey(key)] });
        }
        calls.push(this.#store.pipeline(commands));
      }
      if (pending.tags.length > 0) {
        const keys = pending.tags.flatMap((tag) => [
          `${this.#prefix}gen:${tag}`,
          this.#tagKey(tag),
        ]);
        calls.push(
          this.#store.runScript(
            invalidateTagScript,
            keys,
            [JSON.stringify(crypto.randomUUID()), genTtl, `${this.#prefix}v:`],
          ).then((members) => {
            // Members loaded into memory by reads that raced this invalidation.
            for (const key of members ?? []) this.#memory.delete(String(key));
          }),
        );
      }
      return calls;
    };
    if (probe) this.#storeDownUntil = 0;
    const outcome = await this.#bounded(() => Promise.all(send()));
    if (outcome === FAILED) return false;
    this.#storeDownUntil = 0;
    return true;
  }

  #keepPending(pending: PendingInvalidation): void {
    this.#pending.push(pending);
    for (const tag of pending.tags) {
      this.#pendingTags.set(tag, (this.#pendingTags.get(tag) ?? 0) + 1);
    }
    for (const key of pending.keys) {
      this.#pendingKeys.set(key, (this.#pendingKeys.get(key) ?? 0) + 1);
    }
    this.#metrics.increment('cache.invalidate.pending');
    this.#startRetrying();
  }

  #forget(pending: PendingInvalidation): void {
    const i = this.#pending.indexOf(pending);
    if (i < 0) return;
    this.#pending.splice(i, 1);
    for (
      const [names, map] of [[pending.tags, this.#pendingTags], [
        pending.keys,
        this.#pendingKeys,
      ]] as const
    ) {
      for (const name of names) {
        const n = (map.get(name) ?? 1) - 1;
        if (n <= 0) map.delete(name);
        else map.set(name, n);
      }
    }
  }

  #settled(pending: PendingInvalidation): void {
    const done = pending.onInvalidated;
    if (done !== undefined) {
      this.#background(async () => await done(), 'cache invalidation settled');
    }
  }

  /**
   * One background loop retries every pending invalidation every `invalidationRetryMs`. It is
   * kept alive with `EdgeRuntime.waitUntil` where that exists and awaited by {@link close}, but
   * not by `settleBackground()`: it lasts as long as the store is down, which is no work that
   * settles.
   */
  #startRetrying(): void {
    if (this.#retrying || this.#closed) return;
    this.#retrying = true;
    const loop = (async () => {
      try {
        while (this.#pending.length > 0 && !this.#closed) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, this.#config.cache.invalidationRetryMs);
            this.#wakeRetry = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          this.#wakeRetry = undefined;
          if (this.#closed) break;
          await this.retryPendingInvalidations();
        }
      } catch (error) {
        console.warn('[quantforge] cache invalidation retry failed:', error);
      } finally {
        this.#retrying = false;
      }
    })();
    this.#tasks.add(loop);
    loop.finally(() => this.#tasks.delete(loop));
    const runtime = (globalThis as { EdgeRuntime?: { waitUntil?(p: Promise<unknown>): void } })
      .EdgeRuntime;
    if (typeof runtime?.waitUntil === 'function') runtime.waitUntil(loop);
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
  async retryPendingInvalidations(): Promise<number> {
    for (const pending of [...this.#pending]) {
      if (await this.#applyInvalidation(pending, true)) {
        this.#forget(pending);
        this.#metrics.increment('cache.invalidate.retried');
        this.#settled(pending);
      } else {
        break; // the store is still down
      }
    }
    return this.#pending.length;
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
    const c = this.#counts;
    const served = c.hitsMemory + c.hitsRedis + c.staleServed + c.staleIfErrorServed;
    const hitRate = c.requests > 0 ? served / c.requests : 0;
    this.#metrics.gauge('cache.hit_rate', hitRate);
    return {
      ...c,
      hitRate,
      memoryEntries: this.#memory.size,
      memoryBytes: this.#memory.bytes,
      learnedKeys: this.#predictor.size,
    };
  }

  /** Learned `P(to | from)` (for tests and the status endpoint). */
  successorProbability(from: string, to: string): number {
    return this.#predictor.probability(from, to);
  }

  /** Empties the memory tier (the Redis tier is untouched). */
  clearMemory(): void {
    this.#memory.clear();
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
    this.#closed = true;
    this.#wakeRetry?.();
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
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
