/**
 * Dataloader-style batching: per-id reads issued in the same event-loop tick are coalesced into
 * one call of the batch function (one `where id = any($1)` query instead of N), at most
 * `batchMaxSize` ids per call, duplicate ids loaded once.
 *
 * Create a loader PER REQUEST (scope), never per isolate: its memo holds one caller's data, and
 * sharing it would serve one user's rows to another (the warning dataloader's README gives).
 *
 * @module
 */
import { type Metrics, metrics as sharedMetrics } from '../metrics.ts';

/** Loads many ids at once; answers in the order of `ids` (an `Error` for a failed id), or a Map. */
export type BatchFunction<K, V> = (
  ids: readonly K[],
) => Promise<ReadonlyArray<V | Error> | ReadonlyMap<K, V>>;

/** Options of {@link BatchLoader}. */
export interface BatchLoaderOptions<K> {
  /** Most ids per batch call (`resilience.batchMaxSize`). @default 100 */
  maxBatchSize?: number;
  /** Keep results for the loader's life (one request): a second `load(id)` is free. @default true */
  memoize?: boolean;
  /** Map key of an id (ids that are objects). @default the id itself */
  keyOf?: (id: K) => unknown;
  /** Schedules the dispatch of a batch. @default `setTimeout(fn, 0)`: the end of this tick */
  schedule?: (dispatch: () => void) => void;
  /** Name in errors. @default 'batch' */
  name?: string;
  /** @default the isolate's shared `metrics` */
  metrics?: Metrics;
}

interface Pending<V> {
  promise: Promise<V>;
  resolve: (value: V) => void;
  reject: (error: unknown) => void;
}

/**
 * Coalesces `load(id)` calls into batch calls.
 *
 * Counts `batch.loads` (ids asked), `batch.deduplicated` (asked again while pending or memoized),
 * `batch.calls` (batch function calls) and `batch.ids` (ids sent).
 *
 * @example
 * ```ts
 * // inside a request handler
 * const robots = new BatchLoader((ids) =>
 *   sql`select * from robots where id = any(${ids}) and owner = ${userId}`
 *     .then((rows) => new Map(rows.map((r) => [r.id, r])))
 * );
 * const [a, b] = await Promise.all([robots.load(1), robots.load(2)]); // one query
 * ```
 */
export class BatchLoader<K, V> {
  readonly #batchFn: BatchFunction<K, V>;
  readonly #maxBatchSize: number;
  readonly #memoize: boolean;
  readonly #keyOf: (id: K) => unknown;
  readonly #schedule: (dispatch: () => void) => void;
  readonly #name: string;
  readonly #metrics: Metrics;
  readonly #known = new Map<unknown, Pending<V>>();
  #queue: { id: K; pending: Pending<V> }[] = [];
  #scheduled = false;

  constructor(batchFn: BatchFunction<K, V>, options: BatchLoaderOptions<K> = {}) {
    const maxBatchSize = options.maxBatchSize ?? 100;
    if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) {
      throw new RangeError(`'maxBatchSize' must be an integer >= 1: received ${maxBatchSize}`);
    }
    this.#batchFn = batchFn;
    this.#maxBatchSize = maxBatchSize;
    this.#memoize = options.memoize ?? true;
    this.#keyOf = options.keyOf ?? ((id) => id);
    this.#schedule = options.schedule ?? ((dispatch) => setTimeout(dispatch, 0));
    this.#name = options.name ?? 'batch';
    this.#metrics = options.metrics ?? sharedMetrics;
  }

  /** The value of `id`, loaded with the other ids asked in this tick. */
  load(id: K): Promise<V> {
    this.#metrics.increment('batch.loads');
    const key = this.#keyOf(id);
    const known = this.#known.get(key);
    if (known) {
      this.#metrics.increment('batch.deduplicated');
      return known.promise;
    }
    let resolve!: (value: V) => void;
    let reject!: (error: unknown) => void;
    const promise = new Promise<V>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const pending = { promise, resolve, reject };
    this.#known.set(key, pending);
    this.#queue.push({ id, pending });
    if (!this.#scheduled) {
      this.#scheduled = true;
      this.#schedule(() => this.#dispatch());
    }
    return promise;
  }

  /** Several values at once; an `Error` in place of each id that failed. */
  loadMany(ids: readonly K[]): Promise<(V | Error)[]> {
    return Promise.all(
      ids.map((id) =>
        this.load(id).catch((error) => error instanceof Error ? error : new Error(String(error)))
      ),
    );
  }

  /** Forgets a memoized id (after a write). */
  clear(id: K): void {
    this.#known.delete(this.#keyOf(id));
  }

  #dispatch(): void {
    this.#scheduled = false;
    const queue = this.#queue;
    this.#queue = [];
    for (let i = 0; i < queue.length; i += this.#maxBatchSize) {
      void this.#runBatch(queue.slice(i, i + this.#maxBatchSize));
    }
  }

  async #runBatch(batch: { id: K; pending: Pending<V> }[]): Promise<void> {
    const ids = batch.map((entry) => entry.id);
    this.#metrics.increment('batch.calls');
    this.#metrics.increment('batch.ids', ids.length);
    try {
      const answer = await this.#batchFn(ids);
      if (answer instanceof Map) {
        for (const { id, pending } of batch) {
          const key = this.#keyOf(id);
          if (answer.has(id)) pending.resolve(answer.get(id) as V);
          else this.#fail(key, pending, new Error(`${this.#name}: no value for id ${String(id)}`));
        }
      } else {
        const values = answer as ReadonlyArray<V | Error>;
        if (!Array.isArray(values) || values.length !== ids.length) {
          throw new TypeError(
            `${this.#name}: the batch function must answer one value per id (${ids.length}) ` +
              `or a Map: received ${
                Array.isArray(values) ? `${values.length} values` : typeof values
              }`,
          );
        }
        batch.forEach(({ id, pending }, i) => {
          const value = values[i];
          if (value instanceof Error) this.#fail(this.#keyOf(id), pending, value);
          else pending.resolve(value);
        });
      }
      if (!this.#memoize) { for (const { id } of batch) this.#known.delete(this.#keyOf(id)); }
    } catch (error) {
      for (const { id, pending } of batch) this.#fail(this.#keyOf(id), pending, error);
    }
  }

  #fail(key: unknown, pending: Pending<V>, error: unknown): void {
    // Failures are not memoized: a later load tries again.
    if (this.#known.get(key) === pending) this.#known.delete(key);
    pending.reject(error);
  }
}
