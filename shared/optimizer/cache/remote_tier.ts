/**
 * The Redis tier: every store call the cache makes, bounded by `storeTimeoutMs` and failing
 * open (a failure returns {@link FAILED}, never throws, and the store is skipped for
 * `storeRetryAfterMs`); the names of the keys it writes; the one-round-trip read and the
 * generation-checked write-back (see `scripts.ts`); the record's encoding is in `record.ts`.
 *
 * Keys, all under `keyPrefix` (default `qf:cache:`): `v:<key>` the record, `lease:<key>` the
 * load lease, `kgen:<key>` the key's generation, `gen:<tag>` a tag's generation, `tag:<tag>`
 * the set of keys written with the tag, plus the popularity counters (`popularity.ts`).
 *
 * @module
 */
import { type CacheCore, FAILED, type Failed } from './core.ts';
import type { CacheEntry } from './memory_tier.ts';
import { decodeRecord, encodeRecord, entryFromRecord, type StoredRecord } from './record.ts';
import { readEntryScript, releaseLeaseScript, writeBackScript } from './scripts.ts';
import type { LoadCompanion } from './types.ts';

/** When a read claims the load lease: never, only when the caller will load, always. */
export type Claim = 'never' | 'due' | 'always';

/** What one read of the Redis tier returned. */
export interface StoreRead {
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

/** Whether an invalidation of `key` or of one of `tags` still waits for the store. */
export type PendingCheck = (key: string, tags: readonly string[] | undefined) => boolean;

/** This isolate's invalidations that wait for the store, now and as a snapshot. */
export interface PendingInvalidations {
  /** Whether one of them names `key` or one of `tags` now. */
  isPending: PendingCheck;
  /** A check of the ones pending at this moment (`undefined`: none), kept across an await. */
  snapshot(): PendingCheck | undefined;
}

/**
 * Bounded, fail-open access to the store for one cache instance.
 *
 * @example
 * ```ts
 * const remote = new RemoteTier(core, { isPending: () => false, snapshot: () => undefined });
 * const read = await remote.read('robots:list', Date.now(), 'never');
 * ```
 */
export class RemoteTier {
  #core: CacheCore;
  #prefix: string;
  #pending: PendingInvalidations;
  #downUntil = 0;
  /** This isolate's write-backs on their way, by key: the entry's version, the load's read. */
  #writing = new Map<string, { version: string; read: StoreRead }>();

  constructor(core: CacheCore, pending: PendingInvalidations) {
    this.#core = core;
    this.#prefix = core.options.keyPrefix;
    this.#pending = pending;
  }

  // --- bounded calls ----------------------------------------------------------------------

  #available(): boolean {
    if (this.#downUntil === 0) return true;
    if (this.#core.now() >= this.#downUntil) {
      this.#downUntil = 0;
      return true;
    }
    this.#core.metrics.increment('cache.store.bypassed');
    return false;
  }

  /** Runs a store call bounded by `storeTimeoutMs`; `FAILED` (never a throw) on error. */
  async bounded<T>(call: () => Promise<T>): Promise<T | Failed> {
    if (!this.#available()) return FAILED;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const promise = call();
      promise.catch(() => {}); // a late rejection after the timeout is not unhandled
      const timeout = new Promise<Failed>((resolve) => {
        timer = setTimeout(() => resolve(FAILED), this.#core.options.storeTimeoutMs);
      });
      const outcome = await Promise.race([promise, timeout]);
      if (outcome === FAILED) this.#failed('timeout');
      return outcome;
    } catch (_error) {
      this.#failed('error');
      return FAILED;
    } finally {
      clearTimeout(timer);
    }
  }

  #failed(kind: 'timeout' | 'error'): void {
    this.#core.counts.storeFailures++;
    this.#core.metrics.increment(`cache.store.${kind}`);
    this.#downUntil = this.#core.now() + this.#core.options.storeRetryAfterMs;
  }

  /** Ends the back-off after a failure: the next call tries the store again. */
  resetBackoff(): void {
    this.#downUntil = 0;
  }

  // --- key names --------------------------------------------------------------------------

  /** Prefix of every record key (`<keyPrefix>v:`). */
  get valuePrefix(): string {
    return `${this.#prefix}v:`;
  }

  valueKey(key: string): string {
    return `${this.#prefix}v:${key}`;
  }

  tagKey(tag: string): string {
    return `${this.#prefix}tag:${tag}`;
  }

  leaseKey(key: string): string {
    return `${this.#prefix}lease:${key}`;
  }

  keyGenerationKey(key: string): string {
    return `${this.#prefix}kgen:${key}`;
  }

  tagGenerationKey(tag: string): string {
    return `${this.#prefix}gen:${tag}`;
  }

  /** The key's generation key, then one per tag. */
  generationKeys(key: string, tags: readonly string[] | undefined): string[] {
    const keys = [this.keyGenerationKey(key)];
    for (const tag of tags ?? []) keys.push(this.tagGenerationKey(tag));
    return keys;
  }

  // --- read and write ---------------------------------------------------------------------

  /**
   * One round trip (one atomic script): the record, the key's shared popularity counters and the
   * generations of the key and of `tags`; with `claim`, the load lease is claimed in the same
   * step, so the read is also the re-check after acquiring it. A record carrying a key or tag
   * whose invalidation this isolate had not confirmed when the read was sent, or has not now, is
   * read as absent: a retry confirmed while the read was in flight may have landed after it.
   */
  async read(
    key: string,
    now: number,
    claim: Claim,
    tags?: readonly string[],
    companion?: LoadCompanion,
  ): Promise<StoreRead | Failed> {
    const core = this.#core;
    const localGeneration = core.generation;
    const pendingWhenSent = this.#pending.snapshot();
    const [current, previous] = core.popularity.readCommands(key, now);
    const generationKeys = this.generationKeys(key, tags);
    const token = JSON.stringify(`${core.instanceId}:${core.nextSeq()}`);
    const keys = [
      this.valueKey(key),
      this.leaseKey(key),
      (current as { key: string }).key,
      (previous as { key: string }).key,
      ...generationKeys,
    ];
    const extra = companion?.readKeys ?? [];
    const rate = companion?.rateWindow;
    keys.push(...extra);
    const args: (string | number)[] = [
      claim,
      now,
      token,
      core.options.leaseMs,
      generationKeys.length,
      extra.length,
    ];
    if (rate !== undefined) {
      const window = Math.floor(now / rate.windowMs);
      const counter = `${rate.prefix}:${rate.identifier}`;
      keys.push(`${counter}:${window}`, `${counter}:${window - 1}`);
      args.push(rate.limit, rate.windowMs);
    }
    const replies = await this.bounded(() => core.store.runScript(readEntryScript, keys, args));
    if (replies === FAILED) return FAILED;
    let record = decodeRecord(String(replies[0] ?? ''));
    const lease = String(replies[1]);
    const acquired = lease === '1';
    const tried = lease !== '-';
    if (acquired) core.metrics.increment('cache.lease.acquired');
    const generationsEnd = 4 + generationKeys.length;
    if (acquired && companion !== undefined) {
      const values = replies.slice(generationsEnd, generationsEnd + extra.length)
        .map((v) => (v === '' || v === null || v === undefined) ? null : String(v));
      const counted = String(replies[generationsEnd + extra.length] ?? '');
      const decision = rate !== undefined && counted !== ''
        ? { success: counted !== '-1', remaining: Math.max(0, Number(counted)), at: now }
        : undefined;
      if (extra.length > 0 || decision !== undefined) companion.onRead(values, decision);
    }
    if (
      record !== null &&
      (pendingWhenSent?.(key, record.g) || this.#pending.isPending(key, record.g))
    ) {
      // This isolate's own invalidation had not reached the store: the record may predate it.
      record = null;
    }
    return {
      record,
      popularity: core.popularity.decayed(key, now, replies[2], replies[3]),
      acquired,
      tried,
      holder: acquired || !tried ? '' : lease,
      localGeneration,
      token,
      generations: replies.slice(4, generationsEnd).map((g) => String(g ?? '')),
      generationKeys,
    };
  }

  /**
   * The entry of a Redis record, kept in memory unless this isolate invalidated something while
   * the read was in flight (the record may predate its own write: served to this caller only).
   * `previous` is the memory entry the caller saw.
   */
  toEntry(
    key: string,
    read: StoreRead,
    record: StoredRecord,
    previous: CacheEntry | undefined,
    now: number,
  ): CacheEntry {
    const entry = entryFromRecord(record, previous, now);
    if (read.localGeneration === this.#core.generation) this.#core.memory.set(key, entry);
    return entry;
  }

  /**
   * Stores the loaded entry in the Redis tier (background), atomically and only if no
   * generation read before the load moved. Refused: an invalidation happened during the load,
   * so the value may be the old version; this isolate's memory copy is dropped too.
   */
  writeBack(key: string, entry: CacheEntry, read: StoreRead, token: string | undefined): void {
    const core = this.#core;
    const writing = { version: entry.version, read };
    this.#writing.set(key, writing);
    core.background(async () => {
      try {
        await this.#writeBack(key, entry, read, token);
      } finally {
        if (this.#writing.get(key) === writing) this.#writing.delete(key);
      }
    }, 'cache write-back');
  }

  /**
   * Whether `entry` is this isolate's own load whose write-back is still on its way, and `read`
   * (sent after it, finding no record) shows every generation that load read unchanged: the
   * record is absent only because the write-back has not landed, and the entry is as current as
   * the record will be. A moved generation (an invalidation elsewhere), or one `read` did not
   * fetch, answers `false`.
   */
  ownWriteBackPending(key: string, entry: CacheEntry, read: StoreRead): boolean {
    const writing = this.#writing.get(key);
    if (writing === undefined || writing.version !== entry.version) return false;
    const before = writing.read;
    for (let i = 0; i < before.generationKeys.length; i++) {
      const at = read.generationKeys.indexOf(before.generationKeys[i]);
      if (at < 0 || read.generations[at] !== before.generations[i]) return false;
    }
    return true;
  }

  async #writeBack(
    key: string,
    entry: CacheEntry,
    read: StoreRead,
    token: string | undefined,
  ): Promise<void> {
    const core = this.#core;
    const lifetime = Math.max(entry.staleUntil, entry.errorUntil) - core.now();
    const tags = entry.tags ?? [];
    const keys = [
      this.valueKey(key),
      this.leaseKey(key),
      ...read.generationKeys,
      ...tags.map((tag) => this.tagKey(tag)),
    ];
    const args: (string | number)[] = [
      encodeRecord(entry),
      Math.max(1, Math.ceil(lifetime)),
      token ?? '',
      core.maxLifetimeMs(),
      read.generationKeys.length,
      ...read.generations,
      key,
    ];
    const stored = await this.bounded(() => core.store.runScript(writeBackScript, keys, args));
    if (stored === FAILED) {
      // Unknown outcome: the memory copy is re-checked against the store within the
      // staleness bound, like any other.
      if (token !== undefined) this.release(key, token);
      return;
    }
    if (Number(stored) !== 1) {
      core.metrics.increment('cache.writeback.refused');
      if (core.memory.peek(key)?.version === entry.version) core.memory.delete(key);
    } else {
      core.metrics.increment('cache.writeback.stored');
    }
  }

  /** Releases `key`'s load lease in the background, if `token` still holds it. */
  release(key: string, token: string): void {
    const leaseKey = this.leaseKey(key);
    this.#core.background(
      () =>
        this.bounded(() =>
          this.#core.store.runScript(releaseLeaseScript, [leaseKey], [JSON.stringify(token)])
        ),
      'cache lease release',
    );
  }
}
