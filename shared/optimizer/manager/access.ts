/**
 * Access statistics the manager decides from, recorded on the optimizer's path as metrics
 * counters (no I/O: they go out with the metrics flush):
 *
 * - `cache.prefix.requests:<class>`, `cache.prefix.hits:<class>`,
 *   `cache.prefix.origin_ms:<class>` per key-prefix class ({@link keyPrefixClass});
 * - `cache.key.requests:<key>` for public keys only (never a user's key), at most
 *   {@link MAX_TRACKED_KEYS} distinct keys per isolate and 15 minutes (the set of tracked keys
 *   starts over every 15 minutes, so new hot keys get in): the pre-warm list's candidates.
 *
 * @module
 */
import type { Metrics } from '../metrics.ts';
import { keyPrefixClass } from './settings.ts';

/** Most distinct public keys one isolate counts. */
export const MAX_TRACKED_KEYS = 200;

const TRACKING_PERIOD_MS = 900_000;
const tracked = new Set<string>();
let trackingSince = Date.now();

/**
 * Records one cached call.
 *
 * @example
 * ```ts
 * recordCacheAccess(metrics, 'pub:robots:list:x', true, 0);
 * ```
 */
export function recordCacheAccess(
  metrics: Metrics,
  cacheKey: string,
  hit: boolean,
  originMs: number,
): void {
  const names = counterNames(cacheKey);
  metrics.increment(names.requests);
  if (hit) metrics.increment(names.hits);
  if (originMs > 0) metrics.increment(names.originMs, originMs);
  if (names.key === undefined) return;
  if (!tracked.has(cacheKey)) {
    if (tracked.size >= MAX_TRACKED_KEYS) {
      const now = Date.now();
      if (now - trackingSince < TRACKING_PERIOD_MS) return;
      tracked.clear();
      trackingSince = now;
    }
    tracked.add(cacheKey);
  }
  metrics.increment(names.key);
}

/** The counter names of one key's accesses. */
interface CounterNames {
  requests: string;
  hits: string;
  originMs: string;
  /** `cache.key.requests:<key>` for a public key, else undefined. */
  key?: string;
}

/** Most keys whose counter names are kept (the memo starts over when full). */
const MAX_NAMED_KEYS = 2000;
const namesByKey = new Map<string, CounterNames>();

/**
 * The counter names of `cacheKey`, built once per key: a hit then counts under strings whose
 * hashes are known, instead of four new concatenations (docs/performance.md).
 */
function counterNames(cacheKey: string): CounterNames {
  let names = namesByKey.get(cacheKey);
  if (names) return names;
  const cls = keyPrefixClass(cacheKey);
  names = {
    requests: `cache.prefix.requests:${cls}`,
    hits: `cache.prefix.hits:${cls}`,
    originMs: `cache.prefix.origin_ms:${cls}`,
    key: cacheKey.startsWith('pub:') && cacheKey.length <= 160
      ? `cache.key.requests:${cacheKey}`
      : undefined,
  };
  if (namesByKey.size >= MAX_NAMED_KEYS) namesByKey.clear();
  namesByKey.set(cacheKey, names);
  return names;
}
