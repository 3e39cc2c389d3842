/**
 * Time as the resilience layer sees it: injectable so that every state machine can be tested
 * with fake timers (`@sinonjs/fake-timers`' `createClock()` fits once `now` is wrapped).
 *
 * @module
 */

/** A clock with timers. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Schedules `callback` after `ms`; returns a handle for {@link Clock.clearTimeout}. */
  setTimeout(callback: () => void, ms: number): unknown;
  /** Cancels a timer. */
  clearTimeout(handle: unknown): void;
}

/**
 * The real clock.
 *
 * @example
 * ```ts
 * systemClock.now(); // Date.now()
 * ```
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as number),
};

/**
 * Resolves after `ms` on `clock`; rejects with the signal's reason when `signal` aborts first.
 *
 * @example
 * ```ts
 * await sleep(systemClock, 50, AbortSignal.timeout(1000));
 * ```
 */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (ms <= 0 && !signal) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clock.clearTimeout(handle);
      reject(signal!.reason);
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A uniform random number in [0, 1). */
export type RandomSource = () => number;
