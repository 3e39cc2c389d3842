/**
 * In-process request deduplication ("singleflight"): concurrent calls with the same key share
 * one execution and its outcome. The first layer of stampede protection and of request
 * deduplication; the cache adds a Redis lease across isolates on top.
 *
 * @module
 */

/**
 * Shares one in-flight promise per key.
 *
 * @example
 * ```ts
 * const flights = new SingleFlight();
 * const [a, b] = await Promise.all([
 *   flights.run('robots:list', () => fetchRobots()),
 *   flights.run('robots:list', () => fetchRobots()), // joins the first call
 * ]);
 * ```
 */
export class SingleFlight {
  #inFlight = new Map<string, Promise<unknown>>();

  /**
   * Runs `operation` unless a call with `key` is in flight, in which case it joins that call.
   * `onJoin` runs for each caller that joined instead of executing (for metrics).
   */
  run<T>(key: string, operation: () => Promise<T>, onJoin?: () => void): Promise<T> {
    const existing = this.#inFlight.get(key);
    if (existing) {
      onJoin?.();
      return existing as Promise<T>;
    }
    const promise = (async () => {
      try {
        return await operation();
      } finally {
        this.#inFlight.delete(key);
      }
    })();
    this.#inFlight.set(key, promise);
    return promise;
  }

  /** Whether a call with `key` is in flight. */
  has(key: string): boolean {
    return this.#inFlight.has(key);
  }

  /** How many keys are in flight. */
  get size(): number {
    return this.#inFlight.size;
  }
}
