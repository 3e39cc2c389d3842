/**
 * The Redis-tier record: how one cache entry is stored under `<keyPrefix>v:<key>`.
 *
 * The record is JSON text, `{"f":…,"s":…,"v":…,"t":…,"e":…,"id":…,"o":…,"b":…,"g":[…]}`. Field
 * names are one or two letters because every hit that misses memory reads them over the network.
 * The order is part of the format: `f` and `s` come first, so `readEntryScript` (Lua and its
 * JavaScript twin) reads them with one pattern, without parsing the value.
 *
 * | field | meaning                                                                         |
 * | ----- | ------------------------------------------------------------------------------- |
 * | `f`   | fresh until (epoch ms): served as a hit before it                               |
 * | `s`   | stale until (epoch ms): served stale while one revalidation runs before it      |
 * | `v`   | the value, as the origin returned it (JSON)                                     |
 * | `t`   | stored at (epoch ms): when the origin produced it; `f - t` is the TTL           |
 * | `e`   | error until (epoch ms): served stale instead of an origin error before it       |
 * | `id`  | version `<instanceId>:<t>:<seq>`: an isolate holding the same version keeps its |
 * |       | decoded value, hit count and pre-warm mark                                      |
 * | `o`   | origin ms (0.01 ms precision): what the load cost, credited as saved per hit    |
 * | `b`   | estimated bytes (`estimateBytes`): the memory tier's byte bound                 |
 * | `g`   | tags (absent when none): tag invalidation reaches memory copies through them    |
 *
 * Text that does not parse, or has no `v`, is treated as absent (the next write-back replaces
 * it). Stored with a TTL of `max(s, e) - now`: Redis drops it when no window is left.
 *
 * @module
 */
import type { CacheEntry } from './memory_tier.ts';

/** The Redis-tier record (see the module documentation for each field). */
export interface StoredRecord {
  /** Fresh until (epoch ms). First in the JSON: the read script finds `f` and `s` without parsing. */
  f: number;
  /** Stale-while-revalidate until (epoch ms). Second in the JSON. */
  s: number;
  /** The value. */
  v: unknown;
  /** When the origin produced the value (epoch ms). */
  t: number;
  /** Stale-if-error until (epoch ms). */
  e: number;
  /** Version: `<instanceId>:<storedAt>:<seq>`. */
  id: string;
  /** Origin time the value cost (ms, 2 decimals). */
  o: number;
  /** Estimated bytes. */
  b: number;
  /** Tags; absent when the entry has none. */
  g?: string[];
}

/**
 * The JSON text stored for `entry` (fields in the documented order).
 *
 * @example
 * ```ts
 * encodeRecord(entry).startsWith('{"f":'); // true
 * ```
 */
export function encodeRecord(entry: CacheEntry): string {
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
  return JSON.stringify(record);
}

/**
 * The record in `raw` (a store reply), or `null` when absent (`''`) or not a record.
 *
 * @example
 * ```ts
 * decodeRecord(''); // null
 * ```
 */
export function decodeRecord(raw: string): StoredRecord | null {
  if (raw === '') return null;
  try {
    const parsed = JSON.parse(raw);
    if (parsed !== null && typeof parsed === 'object' && 'v' in parsed) return parsed;
  } catch {
    // not ours: treat as absent, the write-back replaces it
  }
  return null;
}

/**
 * The memory-tier entry of `record`, checked at `now`. When `previous` holds the same version,
 * its decoded value, pre-warm mark and hit count carry over.
 *
 * @example
 * ```ts
 * const entry = entryFromRecord(record, memory.peek(key), Date.now());
 * ```
 */
export function entryFromRecord(
  record: StoredRecord,
  previous: CacheEntry | undefined,
  now: number,
): CacheEntry {
  const same = previous !== undefined && previous.version === record.id;
  return {
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
}
