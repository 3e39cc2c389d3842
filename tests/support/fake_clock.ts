/**
 * A `@sinonjs/fake-timers` clock wrapped as the resilience layer's `Clock`, for tests of its
 * state machines (time moves only when the test ticks it).
 *
 * @module
 */
import FakeTimers from '@sinonjs/fake-timers';
import type { Clock } from '../../shared/optimizer/resilience/mod.ts';

/**
 * A fake clock starting at 1,000,000 ms.
 *
 * @example
 * ```ts
 * const { fake, clock } = fakeClock();
 * const retry = new RetryPolicy(config, { clock });
 * await fake.tickAsync(100);
 * ```
 */
export function fakeClock() {
  const fake = FakeTimers.createClock(1_000_000);
  const clock: Clock = {
    now: () => fake.now,
    setTimeout: (fn, ms) => fake.setTimeout(fn, ms),
    clearTimeout: (h) => fake.clearTimeout(h as number),
  };
  return { fake, clock };
}
