/**
 * A failing origin for fault benchmarks: a {@link Database} whose calls fail, with a given
 * probability changeable while it runs, as the data layer fails when PostgreSQL refuses new
 * work (`53300 too many connections`): a {@link DbUnavailableError} of kind `overloaded`, which
 * the resilience layer classifies as transient.
 *
 * @module
 */
import type { Database } from '../../shared/db/types.ts';
import { DbUnavailableError } from '../../shared/db/errors.ts';

/** The failure ratio, read on every call (set it to 0 to heal). */
export interface FlakyControl {
  failureRatio: number;
}

/**
 * Wraps `db`: `query`, `asUser` and `transaction` fail with probability `control.failureRatio`
 * before reaching the database.
 *
 * @example
 * ```ts
 * const control = { failureRatio: 0 };
 * const flaky = withFlakyOrigin(db, control);
 * control.failureRatio = 0.3; // 30 % of calls now fail (overloaded)
 * ```
 */
export function withFlakyOrigin(
  db: Database,
  control: FlakyControl,
  random: () => number = Math.random,
): Database {
  const fail = () => {
    if (control.failureRatio > 0 && random() < control.failureRatio) {
      throw new DbUnavailableError('overloaded', 'sorry, too many clients already (injected)');
    }
  };
  return new Proxy(db, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      if (prop === 'query' || prop === 'asUser' || prop === 'transaction') {
        return (...args: unknown[]) => {
          try {
            fail();
          } catch (error) {
            return Promise.reject(error);
          }
          return value.apply(target, args);
        };
      }
      return value.bind(target);
    },
  });
}
