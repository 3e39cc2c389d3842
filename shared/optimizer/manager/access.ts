/**
 * Access statistics the manager decides from, recorded on the optimizer's path as metrics
 * counters (no I/O: they go out with the metrics flush):
 *
 * - `cache.prefix.requests:<class>`, `cache.prefix.hits:<class>`,
 *   `cache.prefix.origin_ms:<class>` per key-prefix class ({@link keyPrefixClass});
 * - `cache.key.requests:<key>` for public keys only (never a user's key), at most
 *   {@link MAX_TRACKED_KEYS} distinct keys per isolate: the pre-warm list's candidates.
 *
 * @module
 */
import type { Metrics } from '../metrics.ts';
import { keyPrefixClass } from './settings.ts';

/** Most distinct public keys one isolate counts. */
export const MAX_TRACKED_KEYS = 200;

const tracked = new Set<string>();

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
    if (tracked.size >= MAX_TRACKED_KEYS) return;
    tracked.add(cacheKey);
  }
  metrics.increment(`cache.key.requests:${cacheKey}`);
}
