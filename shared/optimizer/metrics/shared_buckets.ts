/**
 * The metrics every isolate shares through the key-value store: per-minute buckets, one document
 * per writer and bucket (its cumulative totals, written with an idempotent `SET`, so a retried
 * or resent flush never counts twice), the set of writers per bucket, and the readers that merge
 * them back into snapshots.
 *
 * @module
 */
import type { KeyValueStore } from '../../store/types.ts';
import { addHistogram, type Histogram, type MetricsSnapshot, snapshotsOf } from './histogram.ts';

/** Store keys of the shared buckets (one set of writers per bucket, one document per writer). */
export const sharedMetricKeys = {
  /** The set of instance ids that wrote bucket `start`. */
  writers: (prefix: string, start: number): string => `${prefix}${start}:w`,
  /** One instance's document for bucket `start`. */
  document: (prefix: string, start: number, id: string): string => `${prefix}${start}:w:${id}`,
};

/**
 * What one isolate wrote for one bucket: its cumulative totals in that bucket, so that writing
 * it again (a retry, a resend after a partial failure) changes nothing.
 */
export interface BucketDocument {
  /** Counters (may be fractional: durations summed as counters). */
  c: Record<string, number>;
  /** Histograms: count, sum, min, max, bucket counts. */
  h: Record<string, { n: number; s: number; lo: number; hi: number; b: number[] }>;
}

/**
 * The document of one isolate's totals in one bucket.
 *
 * @example
 * ```ts
 * documentOf({ counters: new Map([['optimizer.operations', 3]]), histograms: new Map() });
 * // { c: { 'optimizer.operations': 3 }, h: {} }
 * ```
 */
export function documentOf(
  totals: { counters: Map<string, number>; histograms: Map<string, Histogram> },
): BucketDocument {
  const doc: BucketDocument = { c: Object.fromEntries(totals.counters), h: {} };
  for (const [name, h] of totals.histograms) {
    doc.h[name] = { n: h.count, s: h.sum, lo: h.min, hi: h.max, b: [...h.buckets] };
  }
  return doc;
}

/** Options of {@link readSharedMetrics}. */
export interface ReadSharedOptions {
  /** How far back to read. @default 3_600_000 (one hour) */
  windowMs?: number;
  /** Must match the flush's. @default 60_000 */
  bucketMs?: number;
  /** @default 'qf:metrics:' */
  prefix?: string;
  /** @default Date.now */
  now?: () => number;
}

/** One shared bucket, every writer merged. */
export interface SharedBucket {
  /** Bucket start, ms since epoch. */
  start: number;
  /** How many instances wrote it. */
  writers: number;
  snapshot: MetricsSnapshot;
}

function isDocument(value: unknown): value is BucketDocument {
  return typeof value === 'object' && value !== null &&
    typeof (value as BucketDocument).c === 'object' &&
    typeof (value as BucketDocument).h === 'object';
}

/**
 * Every shared bucket of the last `windowMs`, each merged across the instances that wrote it,
 * oldest first. Two round trips: the writer sets, then their documents.
 *
 * @example
 * ```ts
 * const buckets = await readSharedBuckets(store, { windowMs: 900_000 });
 * buckets.map((b) => b.snapshot.counters['optimizer.operations']);
 * ```
 */
export async function readSharedBuckets(
  store: KeyValueStore,
  options: ReadSharedOptions = {},
): Promise<SharedBucket[]> {
  const bucketMs = options.bucketMs ?? 60_000;
  const now = (options.now ?? Date.now)();
  const windowMs = options.windowMs ?? 3_600_000;
  const prefix = options.prefix ?? 'qf:metrics:';
  const first = now - (now % bucketMs) - Math.floor(windowMs / bucketMs) * bucketMs;
  const starts: number[] = [];
  for (let t = first; t <= now; t += bucketMs) starts.push(t);
  const writerSets = await store.pipeline(
    starts.map((start) => ({ op: 'smembers', key: sharedMetricKeys.writers(prefix, start) })),
  ) as string[][];
  const wanted: { start: number; key: string }[] = [];
  starts.forEach((start, i) => {
    for (const id of writerSets[i] ?? []) {
      wanted.push({ start, key: sharedMetricKeys.document(prefix, start, id) });
    }
  });
  const docs = wanted.length
    ? await store.pipeline(wanted.map(({ key }) => ({ op: 'get', key })))
    : [];
  const byStart = new Map<number, { writers: number; docs: BucketDocument[] }>();
  wanted.forEach(({ start }, i) => {
    const doc = docs[i];
    if (!isDocument(doc)) return;
    let entry = byStart.get(start);
    if (!entry) byStart.set(start, entry = { writers: 0, docs: [] });
    entry.writers++;
    entry.docs.push(doc);
  });
  return [...byStart].sort(([a], [b]) => a - b).map(([start, { writers, docs }]) => ({
    start,
    writers,
    snapshot: mergeDocuments(docs, start),
  }));
}

function mergeDocuments(docs: BucketDocument[], since: number): MetricsSnapshot {
  const counters: Record<string, number> = {};
  const histograms = new Map<string, Histogram>();
  for (const doc of docs) {
    for (const [name, value] of Object.entries(doc.c)) {
      if (typeof value === 'number') counters[name] = (counters[name] ?? 0) + value;
    }
    for (const [name, h] of Object.entries(doc.h)) {
      addHistogram(histograms, name, {
        count: h.n,
        sum: h.s,
        min: h.lo ?? Infinity,
        max: h.hi ?? -Infinity,
        buckets: h.b,
      });
    }
  }
  return { since, counters, gauges: {}, histograms: snapshotsOf(histograms) };
}

/**
 * Merges snapshots (buckets of a window) into one: counters and histograms add up.
 *
 * @example
 * ```ts
 * const total = mergeSnapshots(buckets.map((b) => b.snapshot));
 * ```
 */
export function mergeSnapshots(snapshots: MetricsSnapshot[]): MetricsSnapshot {
  const counters: Record<string, number> = {};
  const histograms = new Map<string, Histogram>();
  for (const s of snapshots) {
    for (const [name, value] of Object.entries(s.counters)) {
      counters[name] = (counters[name] ?? 0) + value;
    }
    for (const [name, h] of Object.entries(s.histograms)) {
      addHistogram(histograms, name, {
        ...h,
        min: h.count ? h.min : Infinity,
        max: h.count ? h.max : -Infinity,
      });
    }
  }
  return {
    since: snapshots.length ? Math.min(...snapshots.map((s) => s.since)) : Date.now(),
    counters,
    gauges: {},
    histograms: snapshotsOf(histograms),
  };
}

/**
 * Adds up what every isolate flushed over the last `windowMs`: counters, and histograms with
 * exact count, sum, min and max.
 *
 * @example
 * ```ts
 * const lastHour = await readSharedMetrics(store);
 * lastHour.counters['cache.hit.redis'];
 * ```
 */
export async function readSharedMetrics(
  store: KeyValueStore,
  options: ReadSharedOptions = {},
): Promise<MetricsSnapshot> {
  const buckets = await readSharedBuckets(store, options);
  const merged = mergeSnapshots(buckets.map((b) => b.snapshot));
  const bucketMs = options.bucketMs ?? 60_000;
  const now = (options.now ?? Date.now)();
  const windowMs = options.windowMs ?? 3_600_000;
  merged.since = now - (now % bucketMs) - Math.floor(windowMs / bucketMs) * bucketMs;
  return merged;
}
