/**
 * Invalidation by key and by tag, and the invalidations the store has not confirmed yet.
 *
 * Every key and every tag has a generation in the store (`kgen:<key>`, `gen:<tag>`): a random
 * token an invalidation replaces. A load reads the generations of its key and tags before
 * calling the origin, and its write-back is refused when one moved (`writeBackScript`), so no
 * load that began before an invalidation stores its value after it, in any isolate. In this
 * isolate the memory copies go at once and the generation counter (`CacheCore.generation`)
 * moves, so no load or read already in flight lands in memory.
 *
 * When the store does not answer, the invalidation stays pending: records carrying a pending
 * key or tag are read as absent by this isolate, and one background loop retries every pending
 * invalidation each `invalidationRetryMs` until the store confirms it.
 *
 * @module
 */
import type { StoreCommand } from '../../store/types.ts';
import { type CacheCore, FAILED } from './core.ts';
import type { RemoteTier } from './remote_tier.ts';
import { invalidateTagScript } from './scripts.ts';

/** One invalidation: keys, tags, and who to tell once the store confirmed it. */
export interface PendingInvalidation {
  tags: string[];
  keys: string[];
  onInvalidated?: () => unknown;
}

/**
 * Invalidations of one cache instance.
 *
 * @example
 * ```ts
 * const invalidations = new Invalidations(core, remote);
 * await invalidations.invalidate({ tags: ['robots'], keys: [] }, true);
 * ```
 */
export class Invalidations {
  #core: CacheCore;
  #remote: RemoteTier;
  /** Invalidations the store has not confirmed, oldest first. */
  #pending: PendingInvalidation[] = [];
  /** Tags and keys of {@link #pending}, with how many pending invalidations name each. */
  #pendingTags = new Map<string, number>();
  #pendingKeys = new Map<string, number>();
  #retrying = false;
  #wakeRetry: (() => void) | undefined;

  constructor(core: CacheCore, remote: RemoteTier) {
    this.#core = core;
    this.#remote = remote;
  }

  /** How many invalidations wait for the store. */
  get pendingCount(): number {
    return this.#pending.length;
  }

  /** Whether an invalidation of `key` or of one of `tags` waits for the store. */
  isPending(key: string, tags: readonly string[] | undefined): boolean {
    if (this.#pending.length === 0) return false;
    if (this.#pendingKeys.has(key)) return true;
    return tags !== undefined && tags.some((tag) => this.#pendingTags.has(tag));
  }

  /**
   * The invalidations pending now, as a check that stays valid after they settle (`undefined`
   * when none is pending: the common case costs nothing).
   */
  snapshot(): ((key: string, tags: readonly string[] | undefined) => boolean) | undefined {
    if (this.#pending.length === 0) return undefined;
    const keys = new Set(this.#pendingKeys.keys());
    const tags = new Set(this.#pendingTags.keys());
    return (key, named) => keys.has(key) || (named !== undefined && named.some((t) => tags.has(t)));
  }

  /**
   * Drops the memory copies and moves the local generation (synchronously, before any await),
   * then moves the generations in the store. Resolves whether the store confirmed; if not and
   * `retry`, the invalidation stays pending and is retried in the background.
   */
  async invalidate(pending: PendingInvalidation, retry: boolean): Promise<boolean> {
    // Synchronously, before any await: this isolate reads its own writes at once.
    this.#core.generation++;
    this.#dropLocal(pending);
    const ok = await this.#apply(pending, false);
    if (ok) {
      this.#settled(pending);
      return true;
    }
    if (retry) this.#keepPending(pending);
    return false;
  }

  /**
   * Retries every pending invalidation now, oldest first, stopping at the first the store does
   * not confirm; resolves how many are still pending.
   */
  async retryPending(): Promise<number> {
    for (const pending of [...this.#pending]) {
      if (await this.#apply(pending, true)) {
        this.#forget(pending);
        this.#core.metrics.increment('cache.invalidate.retried');
        this.#settled(pending);
      } else {
        break; // the store is still down
      }
    }
    return this.#pending.length;
  }

  /** Ends the retry loop's wait at once (`close`). */
  wake(): void {
    this.#wakeRetry?.();
  }

  #dropLocal(pending: PendingInvalidation): void {
    const memory = this.#core.memory;
    for (const key of pending.keys) memory.delete(key);
    for (const tag of pending.tags) {
      for (const key of memory.keysWithTag(tag)) memory.delete(key);
    }
  }

  /** The store step of an invalidation; `probe` ignores the store-down back-off (retries). */
  async #apply(pending: PendingInvalidation, probe: boolean): Promise<boolean> {
    const core = this.#core;
    const remote = this.#remote;
    const genTtl = core.maxLifetimeMs() + core.options.leaseMs;
    const send = (): Promise<unknown>[] => {
      const calls: Promise<unknown>[] = [];
      if (pending.keys.length > 0) {
        const commands: StoreCommand[] = [];
        for (const key of pending.keys) {
          commands.push({
            op: 'set',
            key: remote.keyGenerationKey(key),
            value: crypto.randomUUID(),
            options: { pxMs: genTtl },
          });
          commands.push({ op: 'del', keys: [remote.valueKey(key)] });
        }
        calls.push(core.store.pipeline(commands));
      }
      if (pending.tags.length > 0) {
        const keys = pending.tags.flatMap((tag) => [
          remote.tagGenerationKey(tag),
          remote.tagKey(tag),
        ]);
        calls.push(
          core.store.runScript(
            invalidateTagScript,
            keys,
            [JSON.stringify(crypto.randomUUID()), genTtl, remote.valuePrefix],
          ).then((members) => {
            // Members loaded into memory by reads that raced this invalidation.
            for (const key of members ?? []) core.memory.delete(String(key));
          }),
        );
      }
      return calls;
    };
    if (probe) remote.resetBackoff();
    const outcome = await remote.bounded(() => Promise.all(send()));
    if (outcome === FAILED) return false;
    remote.resetBackoff();
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
    this.#core.metrics.increment('cache.invalidate.pending');
    this.#startRetrying();
  }

  #forget(pending: PendingInvalidation): void {
    const i = this.#pending.indexOf(pending);
    if (i < 0) return;
    this.#pending.splice(i, 1);
    const lists = [[pending.tags, this.#pendingTags], [pending.keys, this.#pendingKeys]] as const;
    for (const [names, map] of lists) {
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
      this.#core.background(async () => await done(), 'cache invalidation settled');
    }
  }

  /**
   * One background loop retries every pending invalidation every `invalidationRetryMs`. It is
   * kept alive with `EdgeRuntime.waitUntil` where that exists and awaited by `close`, but not by
   * `settleBackground()`: it lasts as long as the store is down, which is no work that settles.
   */
  #startRetrying(): void {
    const core = this.#core;
    if (this.#retrying || core.closed) return;
    this.#retrying = true;
    const loop = (async () => {
      try {
        while (this.#pending.length > 0 && !core.closed) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, core.options.invalidationRetryMs);
            this.#wakeRetry = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          this.#wakeRetry = undefined;
          if (core.closed) break;
          await this.retryPending();
        }
      } catch (error) {
        console.warn('[quantforge] cache invalidation retry failed:', error);
      } finally {
        this.#retrying = false;
      }
    })();
    core.track(loop);
    const runtime = (globalThis as { EdgeRuntime?: { waitUntil?(p: Promise<unknown>): void } })
      .EdgeRuntime;
    if (typeof runtime?.waitUntil === 'function') runtime.waitUntil(loop);
  }
}
