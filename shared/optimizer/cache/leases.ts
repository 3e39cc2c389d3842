/**
 * Stampede protection across isolates: the load lease (`<keyPrefix>lease:<key>`, `SET NX PX
 * leaseMs`, claimed by the read script in the same round trip as the read). Within one isolate
 * a `SingleFlight` joins concurrent loads of a key; across isolates the lease lets one load run
 * while the others poll the Redis tier for its result:
 *
 * - the holder loads, writes back and releases the lease (compare-and-delete on its token);
 * - a foreground loser polls every `leasePollMs` for up to `leaseWaitMs`, then loads itself;
 * - a background loser (revalidation, pre-warm) gives up: the holder is refreshing;
 * - a lease held by this same isolate is either a load that just finished (its fresh entry in
 *   memory is used) or one begun before one of its invalidations (not waited for: that load's
 *   result is discarded anyway).
 *
 * @module
 */
import { type CacheCore, FAILED } from './core.ts';
import type { CacheEntry } from './memory_tier.ts';
import type { RemoteTier, StoreRead } from './remote_tier.ts';

/** What a load does after a read that did not claim the lease: load, give up, or use `entry`. */
export type Contention = 'load' | 'give-up' | CacheEntry;

/**
 * The lease policy of one cache instance.
 *
 * @example
 * ```ts
 * const leases = new Leases(core, remote);
 * const next = await leases.contend('robots:list', read, false);
 * ```
 */
export class Leases {
  #core: CacheCore;
  #remote: RemoteTier;
  /** This isolate's lease tokens start with it (JSON text without the closing quote). */
  #ownPrefix: string;

  constructor(core: CacheCore, remote: RemoteTier) {
    this.#core = core;
    this.#remote = remote;
    this.#ownPrefix = JSON.stringify(`${core.instanceId}:`).slice(0, -1);
  }

  /** Releases a lease `read` claimed that no load used. */
  unclaimed(key: string, read: StoreRead | undefined): void {
    if (read?.acquired) {
      read.acquired = false;
      this.#remote.release(key, read.token);
    }
  }

  /** Decides what a load does when `read` did not claim the lease (see the module doc). */
  async contend(key: string, read: StoreRead, background: boolean): Promise<Contention> {
    if (read.acquired) return 'load';
    const metrics = this.#core.metrics;
    if (read.holder.startsWith(this.#ownPrefix)) {
      // Held by a load of this isolate. Either it has just finished (its entry is in memory,
      // its write-back and lease release on the way: use the entry, a second load would query
      // the origin again) or it began before one of our own invalidations (its result was
      // discarded and never reached memory: waiting would only delay reading our own write).
      const mine = this.#core.memory.peek(key);
      if (mine !== undefined && this.#core.now() < mine.freshUntil) {
        metrics.increment('cache.lease.own_load_finished');
        return mine;
      }
      metrics.increment('cache.lease.superseded');
      return 'load';
    }
    metrics.increment('cache.lease.contended');
    if (background) return 'give-up';
    const waited = await this.#waitForOther(key);
    if (waited !== undefined) return waited;
    metrics.increment('cache.lease.wait_expired');
    return 'load';
  }

  /** A lease loser polls the Redis tier every `leasePollMs` for at most `leaseWaitMs`. */
  async #waitForOther(key: string): Promise<CacheEntry | undefined> {
    const core = this.#core;
    const c = core.options;
    const deadline = core.now() + c.leaseWaitMs;
    core.metrics.increment('cache.lease.waited');
    // Bounded by the clock and by a poll count (an injected test clock may stand still).
    for (let polls = Math.ceil(c.leaseWaitMs / c.leasePollMs); polls > 0; polls--) {
      if (core.now() >= deadline) break;
      await new Promise((resolve) => setTimeout(resolve, c.leasePollMs));
      const read = await this.#remote.read(key, core.now(), 'never');
      if (read === FAILED) return undefined;
      if (read.record !== null && core.now() < read.record.f) {
        return this.#remote.toEntry(key, read, read.record, core.memory.peek(key), core.now());
      }
    }
    return undefined;
  }
}
