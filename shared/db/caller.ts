/**
 * Who a repository call runs for: a user (RLS applies, as PostgREST) or the service (cron and
 * internal work; RLS bypassed).
 *
 * @module
 */
import type { Database, JwtClaims, SqlExecutor } from './types.ts';

/** The caller of a repository method. */
export type Caller =
  | { kind: 'service' }
  | { kind: 'user'; claims: JwtClaims };

/** The service caller (cron and internal work only). */
export const SERVICE_CALLER: Caller = Object.freeze({ kind: 'service' });

/**
 * A user caller from JWT claims (`sub` = user id; `role` 'authenticated' by default).
 *
 * @example
 * ```ts
 * const caller = userCaller({ sub: userId });
 * const anonymous = userCaller({ role: 'anon' });
 * ```
 */
export function userCaller(claims: JwtClaims): Caller {
  return { kind: 'user', claims };
}

/**
 * Runs `fn` in a transaction as `caller`.
 *
 * @example
 * ```ts
 * await runAs(db, userCaller({ sub }), (tx) => tx.query('select 1'));
 * ```
 */
export function runAs<T>(
  db: Database,
  caller: Caller,
  fn: (tx: SqlExecutor) => Promise<T>,
): Promise<T> {
  return caller.kind === 'service' ? db.transaction(fn) : db.asUser(caller.claims, fn);
}
