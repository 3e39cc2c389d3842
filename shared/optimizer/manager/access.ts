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
  const cls = keyPrefixClass(cacheKey);
  metrics.increment(`cache.prefix.requests:${cls}`);
  if (hit) metrics.increment(`cache.prefix.hits:${cls}`);
  if (originMs > 0) metrics.increment(`cache.prefix.origin_ms:${cls}`, originMs);
  if (!cacheKey.startsWith('pub:') || cacheKey.length > 160) return;
  if (!tracked.has(cacheKey)) {
    if (tracked.size >= MAX_TRACKED_KEYS) {
      const now = Date.now();
      if (now - trackingSince < TRACKING_PERIOD_MS) return;
      tracked.clear();
      trackingSince = now;
    }
    tracked.add(cacheKey);
  }
  metrics.increment(`cache.key.requests:${cacheKey}`);
}
