/**
 * Retry budget (as Finagle's and gRPC's): retries of a resource may add at most `ratio` of its
 * calls over a sliding window, plus a floor of `minPerSecond`, so that a failing dependency
 * sees at most `1 + ratio` times its normal load instead of `maxRetryAttempts` times (no retry
 * storm). Kept per isolate and resource, in memory: it costs nothing on the store.
 *
 * @module
 */
import { BucketWindow } from './window.ts';

/** Options of {@link RetryBudget}. */
export interface RetryBudgetOptions {
  /** Share of calls that may be retried. @default 0.2 */
  ratio: number;
  /** Retries always allowed per second. @default 10 */
  minPerSecond: number;
  /** Window, ms. @default 10000 */
  windowMs: number;
}

const CALLS = 0;
const RETRIES = 1;

/**
 * A sliding-window retry budget.
 *
 * @example
 * ```ts
 * const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 0, windowMs: 10_000 });
 * for (let i = 0; i < 10; i++) budget.recordCall(Date.now());
 * budget.tryWithdraw(Date.now()); // true, twice; then false
 * ```
 */
export class RetryBudget {
  readonly #window: BucketWindow;
  readonly #ratio: number;
  readonly #floor: number;

  constructor(options: RetryBudgetOptions) {
    if (!(options.ratio >= 0)) {
      throw new RangeError(`'ratio' must be a number >= 0: received ${options.ratio}`);
    }
    this.#window = new BucketWindow(options.windowMs, 10, 2);
    this.#ratio = options.ratio;
    this.#floor = (options.minPerSecond * options.windowMs) / 1000;
  }

  /** Counts one call (first attempt). */
  recordCall(now: number): void {
    this.#window.add(now, CALLS);
  }

  /** Takes one retry from the budget; `false` when it is spent. */
  tryWithdraw(now: number): boolean {
    const allowed = this.#floor + this.#ratio * this.#window.total(CALLS, now);
    if (this.#window.total(RETRIES) + 1 > allowed) return false;
    this.#window.add(now, RETRIES);
    return true;
  }

  /** Retries still allowed now. */
  remaining(now: number): number {
    const allowed = this.#floor + this.#ratio * this.#window.total(CALLS, now);
    return Math.max(0, Math.floor(allowed - this.#window.total(RETRIES)));
  }
}
