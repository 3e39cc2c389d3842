/**
 * How the optimizer counts its operations: `optimizer.operations` for every call that ended,
 * `optimizer.operation.ms` for every call that answered, and the periodic background flush of
 * the isolate's metrics to the store (every `metricsFlushIntervalMs`, on the first operation
 * after it is due, never on a request's path).
 *
 * @module
 */
import { runInBackground } from '../../runtime/background.ts';
import type { KeyValueStore } from '../../store/types.ts';
import type { Metrics } from '../metrics.ts';

/** The operations' counters and the metrics flush schedule of one optimizer. */
export class OperationAccounting {
  #metrics: Metrics;
  #store: KeyValueStore;
  #intervalMs: number;
  #nextFlushAt: number;

  /** `intervalMs` <= 0: no periodic flush (tests flush themselves). */
  constructor(metrics: Metrics, store: KeyValueStore, intervalMs: number) {
    this.#metrics = metrics;
    this.#store = store;
    this.#intervalMs = intervalMs;
    this.#nextFlushAt = Date.now() + intervalMs;
  }

  /** A call ended, answered or failed: counted, metrics flushed in the background when due. */
  ended(): void {
    this.#metrics.increment('optimizer.operations');
    if (this.#intervalMs <= 0 || !this.#metrics.hasPending) return;
    const now = Date.now();
    if (now < this.#nextFlushAt) return;
    this.#nextFlushAt = now + this.#intervalMs;
    runInBackground(() => this.#metrics.flushTo(this.#store), 'metrics flush');
  }

  /** A call answered: counted as ended, its duration since `startedAt` recorded and returned. */
  answered(startedAt: number): number {
    this.ended();
    const durationMs = performance.now() - startedAt;
    this.#metrics.observe('optimizer.operation.ms', durationMs);
    return durationMs;
  }

  /** Writes what was recorded now (shutdown); a store that is down loses nothing. */
  async flush(): Promise<void> {
    try {
      await this.#metrics.flushTo(this.#store);
    } catch {
      // The counts stay for the next flush.
    }
  }
}
