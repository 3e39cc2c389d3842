/**
 * A breaker's state as the key-value store holds it: the document a transition publishes at
 * `<prefix><resourceKey>`, the index of the resource keys whose breaker ever opened, and the
 * reader of every breaker open in any isolate (`GET /health`). The breakers themselves are in
 * `breaker.ts`.
 *
 * @module
 */
import type { KeyValueStore } from '../../store/types.ts';

/** What the store holds at `<prefix><resourceKey>` after a transition. */
export interface SharedBreakerState {
  state: 'open' | 'closed';
  /** When the transition happened (ms since epoch): newer wins. */
  at: number;
  /** When an open breaker admits a probe. */
  until?: number;
  /** The isolate that published it. */
  by: string;
}

/**
 * The default of `resilience.breakerKeyPrefix` (`QF_BREAKER_KEY_PREFIX`), here rather than only in
 * the options' schema so that `health` reads it without loading zod (issue 11: cold start).
 */
export const DEFAULT_BREAKER_KEY_PREFIX = 'qf:breaker:';

/** The store key of the set of resource keys whose breaker ever opened. */
export function breakerIndexKey(prefix = DEFAULT_BREAKER_KEY_PREFIX): string {
  return `${prefix}~index`;
}

/** An open breaker as the store has it (see {@link readOpenBreakers}). */
export interface OpenBreaker {
  resourceKey: string;
  /**
   * `open` until `until`; `half-open` after it, while a probe decides (the stored state lives
   * `breakerOpenMs + breakerProbeLeaseMs`; a successful probe replaces it with `closed`).
   */
  state: 'open' | 'half-open';
  /** When it admits a probe (ms since epoch). */
  until: number;
  /** When it opened (ms since epoch). */
  since: number;
  /** The isolate that opened it. */
  by: string;
}

/**
 * The breakers open (or half-open, probing) in any isolate, read from the shared store: the
 * resource keys of the index written when a breaker opens, then their states (two store
 * requests). Used by `GET /health`.
 *
 * @example
 * ```ts
 * const open = await readOpenBreakers(getStore());
 * // [{ resourceKey: 'robots_db', until: 1767225601000, since: 1767225600000, by: '…' }]
 * ```
 */
export async function readOpenBreakers(
  store: KeyValueStore,
  options: { prefix?: string; now?: number } = {},
): Promise<OpenBreaker[]> {
  const prefix = options.prefix ?? DEFAULT_BREAKER_KEY_PREFIX;
  const now = options.now ?? Date.now();
  // The prefix is configurable (`QF_BREAKER_KEY_PREFIX`): callers pass the configured one.
  const keys = (await store.smembers(breakerIndexKey(prefix))).sort();
  if (keys.length === 0) return [];
  const states = await store.mget<SharedBreakerState>(keys.map((k) => `${prefix}${k}`));
  const open: OpenBreaker[] = [];
  keys.forEach((resourceKey, i) => {
    const state = states[i];
    if (state && typeof state === 'object' && state.state === 'open') {
      const until = Number(state.until ?? 0);
      open.push({
        resourceKey,
        state: until > now ? 'open' : 'half-open',
        until,
        since: state.at,
        by: state.by,
      });
    }
  });
  return open;
}
