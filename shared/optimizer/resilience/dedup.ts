/**
 * Request deduplication with metrics: identical in-flight operations (same key) share one
 * execution, cached or not. Built on the optimizer's {@link SingleFlight}; adds the counters
 * `dedup.calls` and `dedup.joined` (calls served by another call's execution).
 *
 * @module
 */
import { type Metrics, metrics as sharedMetrics } from '../metrics.ts';
import { SingleFlight } from '../singleflight.ts';

/**
 * A {@link SingleFlight} that counts what it saves. Keys of user data must include the caller's
 * scope (user id), as cache keys do.
 *
 * @example
 * ```ts
 * const dedup = new Deduplicator();
 * const [a, b] = await Promise.all([
 *   dedup.run(`robots:${userId}`, load),
 *   dedup.run(`robots:${userId}`, load), // joins; load runs once
 * ]);
 * ```
 */
export class Deduplicator {
  readonly #flights: SingleFlight;
  readonly #metrics: Metrics;
  readonly #onJoin: () => void;

  constructor(deps: { metrics?: Metrics; flights?: SingleFlight } = {}) {
    this.#flights = deps.flights ?? new SingleFlight();
    const m = this.#metrics = deps.metrics ?? sharedMetrics;
    this.#onJoin = () => m.increment('dedup.joined');
  }

  /** Runs `operation`, or joins the in-flight call with the same key. */
  run<T>(key: string, operation: () => Promise<T>): Promise<T> {
    this.#metrics.increment('dedup.calls');
    return this.#flights.run(key, operation, this.#onJoin);
  }

  /** Keys in flight. */
  get size(): number {
    return this.#flights.size;
  }
}
