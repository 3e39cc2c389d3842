/**
 * Metrics shared by every part of the optimizer: counters, gauges and latency histograms kept in
 * memory on the hot path (a `Map` update, no I/O), and flushed in the background to the shared
 * store as per-minute buckets so the status endpoint and the optimizer run see every isolate.
 * Each isolate writes its cumulative totals per bucket as one document (idempotent `SET`), so
 * a retried or resent flush never counts twice.
 *
 * Histograms use fixed buckets ({@link LATENCY_BUCKETS_MS}) so that counts from many isolates
 * add up exactly; percentiles are estimated by linear interpolation inside a bucket.
 *
 * Names are dotted, lowercase, with the unit last where there is one: `cache.hit.memory`,
 * `cache.origin.ms`, `retry.attempts`, `breaker.transition.open`.
 *
 * @module
 */
import type { KeyValueStore, StoreCommand } from '../store/types.ts';
import {
  addHistogram,
  emptyHistogram,
  type Histogram,
  type HistogramSnapshot,
  type MetricsSnapshot,
  recordValue,
  snapshotOf,
  snapshotsOf,
} from './metrics/histogram.ts';
import { documentOf, sharedMetricKeys } from './metrics/shared_buckets.ts';

export {
  type HistogramSnapshot,
  LATENCY_BUCKETS_MS,
  type MetricsSnapshot,
  quantileFromBuckets,
} from './metrics/histogram.ts';
export {
  type BucketDocument,
  mergeSnapshots,
  readSharedBuckets,
  readSharedMetrics,
  type ReadSharedOptions,
  type SharedBucket,
  sharedMetricKeys,
} from './metrics/shared_buckets.ts';

/** Options of {@link Metrics.flushTo}. */
export interface FlushOptions {
  /** Width of a shared bucket. @default 60_000 */
  bucketMs?: number;
  /** How long shared buckets are kept in the store. @default 86_400_000 (one day) */
  retentionMs?: number;
  /** Key prefix. @default 'qf:metrics:' */
  prefix?: string;
  /** Clock. @default Date.now */
  now?: () => number;
}

interface BucketTotals {
  counters: Map<string, number>;
  histograms: Map<string, Histogram>;
  /** Changed since the last successful write. */
  dirty: boolean;
}

/** A counter: its total, and what is not in a shared bucket yet. */
interface CounterEntry {
  total: number;
  pending: number;
}

/** A histogram: everything, and what is not in a shared bucket yet (`null`: nothing). */
interface HistogramEntry {
  total: Histogram;
  pending: Histogram | null;
}

/**
 * In-memory metrics of one isolate.
 *
 * @example
 * ```ts
 * const m = new Metrics();
 * m.increment('cache.hit.memory');
 * m.observe('cache.origin.ms', 21.5);
 * m.snapshot().counters['cache.hit.memory']; // 1
 * ```
 */
export class Metrics {
  /** Identifies this instance's documents in the shared store. */
  readonly writerId: string = crypto.randomUUID();
  #since = Date.now();
  // One entry per name: the total, and what has not been assigned to a shared bucket yet (a hit
  // counts six counters: one lookup each, docs/performance.md).
  #counters = new Map<string, CounterEntry>();
  #gauges = new Map<string, number>();
  #histograms = new Map<string, HistogramEntry>();
  // The entries with something not assigned to a shared bucket yet.
  #pendingCounters = new Map<string, CounterEntry>();
  #pendingHistograms = new Map<string, HistogramEntry>();
  // Cumulative totals per shared bucket start, kept until written and the bucket is over.
  #buckets = new Map<number, BucketTotals>();
  // Flushes run one after the other: two writes of one document must not land out of order.
  #flushing: Promise<void> = Promise.resolve();

  /** Adds `by` (default 1) to a counter. */
  increment(name: string, by = 1): void {
    let entry = this.#counters.get(name);
    if (!entry) this.#counters.set(name, entry = { total: 0, pending: 0 });
    entry.total += by;
    if (entry.pending === 0) this.#pendingCounters.set(name, entry);
    entry.pending += by;
  }

  /** Sets a gauge (a level, not a count: pool in use, breaker open). */
  gauge(name: string, value: number): void {
    this.#gauges.set(name, value);
  }

  /** Records one value (ms) in a histogram. */
  observe(name: string, value: number): void {
    let entry = this.#histograms.get(name);
    if (!entry) this.#histograms.set(name, entry = { total: emptyHistogram(), pending: null });
    recordValue(entry.total, value);
    if (!entry.pending) {
      entry.pending = emptyHistogram();
      this.#pendingHistograms.set(name, entry);
    }
    recordValue(entry.pending, value);
  }

  /** A counter's value (0 when never incremented). */
  counter(name: string): number {
    return this.#counters.get(name)?.total ?? 0;
  }

  /** A histogram's state, or `undefined`. */
  histogram(name: string): HistogramSnapshot | undefined {
    const h = this.#histograms.get(name);
    return h ? snapshotOf(h.total) : undefined;
  }

  /** Everything recorded since start (or the last {@link reset}). */
  snapshot(): MetricsSnapshot {
    return {
      since: this.#since,
      counters: Object.fromEntries([...this.#counters].map(([name, c]) => [name, c.total])),
      gauges: Object.fromEntries(this.#gauges),
      histograms: snapshotsOf(
        new Map([...this.#histograms].map(([name, h]) => [name, h.total])),
      ),
    };
  }

  /** Whether anything waits to be flushed. */
  get hasPending(): boolean {
    if (this.#pendingCounters.size > 0 || this.#pendingHistograms.size > 0) return true;
    for (const bucket of this.#buckets.values()) if (bucket.dirty) return true;
    return false;
  }

  /**
   * Writes what was recorded to the shared store's current bucket, in one pipeline (one round
   * trip), exactly once however often it is retried.
   *
   * Each instance writes its own cumulative totals per bucket as one document (`SET`, an
   * absolute value, not an increment) and adds its id to the bucket's set of writers (`SADD`).
   * Both commands are idempotent: a flush that failed half-way, timed out after Redis applied
   * it, or is resent, writes the same totals again, and N recorded events read back as N
   * (the old `HINCRBY` flush failed on fractional values and was resent, counting ~12x). On
   * failure the bucket stays dirty and is rewritten by the next flush.
   */
  flushTo(store: KeyValueStore, options: FlushOptions = {}): Promise<void> {
    const run = this.#flushing.then(() => this.#flush(store, options));
    this.#flushing = run.catch(() => {});
    return run;
  }

  async #flush(store: KeyValueStore, options: FlushOptions): Promise<void> {
    const bucketMs = options.bucketMs ?? 60_000;
    const retentionMs = options.retentionMs ?? 86_400_000;
    const prefix = options.prefix ?? 'qf:metrics:';
    const now = (options.now ?? Date.now)();
    const start = now - (now % bucketMs);
    this.#assignPending(start);
    // Buckets past retention are gone from the store anyway: stop holding them.
    for (const key of this.#buckets.keys()) {
      if (key + retentionMs < now) this.#buckets.delete(key);
    }
    const dirty = [...this.#buckets].filter(([, bucket]) => bucket.dirty);
    if (dirty.length === 0) return;
    const commands: StoreCommand[] = [];
    for (const [bucketStart, bucket] of dirty) {
      const ttl = Math.max(1, bucketStart + retentionMs - now);
      const writers = sharedMetricKeys.writers(prefix, bucketStart);
      commands.push(
        {
          op: 'set',
          key: sharedMetricKeys.document(prefix, bucketStart, this.writerId),
          value: documentOf(bucket),
          options: { pxMs: ttl },
        },
        { op: 'sadd', key: writers, members: [this.writerId] },
        { op: 'pexpire', key: writers, ms: ttl },
      );
      // Changes made while the write is in flight mark the bucket dirty again.
      bucket.dirty = false;
    }
    try {
      await store.pipeline(commands);
    } catch (error) {
      for (const [, bucket] of dirty) bucket.dirty = true;
      throw error;
    }
    // A finished bucket, written, will not change again.
    for (const [bucketStart, bucket] of dirty) {
      if (!bucket.dirty && bucketStart < start) this.#buckets.delete(bucketStart);
    }
  }

  #assignPending(start: number): void {
    if (this.#pendingCounters.size === 0 && this.#pendingHistograms.size === 0) return;
    let bucket = this.#buckets.get(start);
    if (!bucket) {
      this.#buckets.set(
        start,
        bucket = { counters: new Map(), histograms: new Map(), dirty: true },
      );
    }
    for (const [name, entry] of this.#pendingCounters) {
      bucket.counters.set(name, (bucket.counters.get(name) ?? 0) + entry.pending);
      entry.pending = 0;
    }
    for (const [name, entry] of this.#pendingHistograms) {
      addHistogram(bucket.histograms, name, entry.pending!);
      entry.pending = null;
    }
    bucket.dirty = true;
    this.#pendingCounters = new Map();
    this.#pendingHistograms = new Map();
  }

  /** Forgets everything (tests). */
  reset(): void {
    this.#since = Date.now();
    this.#counters.clear();
    this.#gauges.clear();
    this.#histograms.clear();
    this.#pendingCounters.clear();
    this.#pendingHistograms.clear();
    this.#buckets.clear();
  }
}

/** The isolate's metrics, shared by every optimizer part that is not given its own. */
export const metrics: Metrics = new Metrics();
