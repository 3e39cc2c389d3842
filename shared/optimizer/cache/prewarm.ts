/**
 * Work done ahead of readers, in the background: revalidation of stale entries, refresh-ahead
 * of popular entries near expiry, and pre-warming of keys with a registered loader, either
 * declared (`dependencies` of `execute`), learned (the `Predictor`'s likely next key) or asked
 * for (`prewarm(keys)`, e.g. by the warming run). Each key has at most one such task running.
 *
 * @module
 */
import { type CacheCore, FAILED } from './core.ts';
import type { CacheEntry } from './memory_tier.ts';
import { type Loader, LoaderRegistry } from './loaders.ts';
import type { Predictor } from './predictor.ts';
import type { RemoteTier } from './remote_tier.ts';
import { freshLimit, type OriginLoads } from './load.ts';
import type { ExecuteOptions, PrewarmReport, PrewarmSkipReason } from './types.ts';

/**
 * Background refreshes and pre-warms of one cache instance.
 *
 * @example
 * ```ts
 * const ahead = new Prewarming(core, remote, loads, predictor);
 * ahead.loaders.register('robot:*', (key) => loadRobot(key));
 * await ahead.prewarm(['robot:42']);
 * ```
 */
export class Prewarming {
  /** Loaders by key, glob or `RegExp`. */
  readonly loaders: LoaderRegistry = new LoaderRegistry();
  #core: CacheCore;
  #remote: RemoteTier;
  #loads: OriginLoads;
  #predictor: Predictor;
  #revalidating = new Set<string>();
  #prewarming = new Set<string>();
  #recheckMs: number;
  #refreshRatio: number;
  #refreshMinPopularity: number;

  constructor(core: CacheCore, remote: RemoteTier, loads: OriginLoads, predictor: Predictor) {
    this.#core = core;
    this.#remote = remote;
    this.#loads = loads;
    this.#predictor = predictor;
    this.#recheckMs = core.recheckMs;
    this.#refreshRatio = core.options.refreshAheadRatio;
    this.#refreshMinPopularity = core.options.refreshAheadMinPopularity;
  }

  /** Reloads `key` in the background (one at a time per key; not after `close`). */
  revalidate(key: string, operation: () => Promise<unknown>, options?: ExecuteOptions): void {
    const core = this.#core;
    if (this.#revalidating.has(key) || core.closed) return;
    this.#revalidating.add(key);
    core.metrics.increment('cache.revalidate');
    core.background(async () => {
      try {
        await core.flights.run(
          core.flightKey(key),
          () => this.#loads.load(key, operation, options, { mode: 'revalidate' }),
        );
      } finally {
        this.#revalidating.delete(key);
      }
    }, 'cache revalidation');
  }

  /** Revalidates `entry` (read near its expiry) when `key` is popular enough. */
  maybeRefreshAhead(
    key: string,
    entry: CacheEntry,
    operation: () => Promise<unknown>,
    options: ExecuteOptions | undefined,
    now: number,
  ): void {
    if (this.#revalidating.has(key)) return;
    const popularity = this.#core.popularity.localDecayed(key, now) + entry.hits;
    if (popularity < this.#refreshMinPopularity) return;
    this.#core.metrics.increment('cache.refresh_ahead');
    this.revalidate(key, operation, options);
  }

  /** After a read of `key`: pre-warms its predicted successor and its declared dependencies. */
  afterAccess(key: string, dependencies: readonly string[] | undefined, now: number): void {
    const next = this.#predictor.predict(key);
    if (next !== undefined) this.#prewarmIfNeeded(next, now, 'cache.prewarm.predicted');
    if (dependencies !== undefined) {
      for (let i = 0; i < dependencies.length; i++) {
        this.#prewarmIfNeeded(dependencies[i], now, 'cache.prewarm.dependency');
      }
    }
  }

  /**
   * Pre-warms keys with registered loaders: entries fresh in the Redis tier are copied to
   * memory, the others loaded once under the lease.
   */
  async prewarm(keys: readonly string[]): Promise<PrewarmReport> {
    const report: PrewarmReport = { warmed: [], skipped: [] };
    const now = this.#core.now();
    await Promise.all(keys.map(async (key) => {
      if (this.#warmInMemory(key, now)) return void report.skipped.push({ key, reason: 'fresh' });
      const loader = this.loaders.find(key);
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

  /** Whether memory holds `key` fresh, recently checked and not near expiry. */
  #warmInMemory(key: string, now: number): boolean {
    const entry = this.#core.memory.peek(key);
    if (entry === undefined || now - entry.checkedAt > this.#recheckMs) return false;
    const ttl = entry.freshUntil - entry.storedAt;
    return entry.freshUntil - now >= ttl * this.#refreshRatio;
  }

  #prewarmIfNeeded(key: string, now: number, metric: string): void {
    const core = this.#core;
    if (core.closed || this.#prewarming.has(key) || this.#warmInMemory(key, now)) return;
    const loader = this.loaders.find(key);
    if (loader === undefined) return;
    this.#prewarming.add(key);
    core.metrics.increment(metric);
    core.background(async () => {
      try {
        await this.#prewarmOne(key, loader);
      } finally {
        this.#prewarming.delete(key);
      }
    }, 'cache pre-warm');
  }

  async #prewarmOne(key: string, loader: Loader): Promise<PrewarmSkipReason | 'warmed'> {
    const core = this.#core;
    const now = core.now();
    const read = await this.#remote.read(key, now, 'never');
    let popularity: number | undefined;
    if (read !== FAILED) {
      popularity = read.popularity;
      if (read.record !== null && now < freshLimit(read.record, true, this.#refreshRatio)) {
        const entry = this.#remote.toEntry(key, read, read.record, core.memory.peek(key), now);
        entry.prewarmed = true;
        this.#warmed();
        return 'warmed';
      }
    }
    // A loader knows no tags: keep those the entry had, so tag invalidation still reaches it.
    const tags = core.memory.peek(key)?.tags ?? (read === FAILED ? undefined : read.record?.g);
    const options = tags?.length ? { tags } : undefined;
    const loaded = await core.flights.run(
      core.flightKey(key),
      () =>
        this.#loads.load(key, () => loader(key), options, {
          mode: 'prewarm',
          popularity,
          useStore: read !== FAILED,
        }),
    );
    if (loaded === undefined) return 'lease-held';
    loaded.entry.prewarmed = true;
    this.#warmed();
    return 'warmed';
  }

  #warmed(): void {
    this.#core.counts.prewarms++;
    this.#core.metrics.increment('cache.prewarm');
  }
}
