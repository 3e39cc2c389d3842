/**
 * The statement that turns a transaction into a PostgREST-style user request: role and JWT
 * claims set locally (`set_config(..., true)` is `set local`), in one round trip.
 *
 * @module
 */
import { DbValidationError } from './errors.ts';
import { type JwtClaims, type SqlExecutor, USER_ROLES } from './types.ts';

/** SQL + parameters that apply `claims` to the current transaction. */
export interface ClaimsStatement {
  text: string;
  params: string[];
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for a canonical uuid string. */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID_RE.test(value);
}

/**
 * Builds the `set local role` + `request.jwt.claims` statement for `claims`.
 * Throws {@link DbValidationError} for a role other than `authenticated`/`anon`, or a `sub` that
 * is not a uuid (`auth.uid()` casts it).
 *
 * @example
 * ```ts
 * const { text, params } = claimsStatement({ sub: userId });
 * await tx.query(text, params);
 * ```
 */
export function claimsStatement(claims: JwtClaims): ClaimsStatement {
  const role = claims.role ?? 'authenticated';
  if (!USER_ROLES.includes(role)) {
    throw new DbValidationError(
      'claims.role',
      `must be one of ${USER_ROLES.join(', ')}: received ${JSON.stringify(role)}`,
      role,
    );
  }
  if (claims.sub !== undefined && !isUuid(claims.sub)) {
    throw new DbValidationError(
      'claims.sub',
      `must be a uuid: received ${JSON.stringify(claims.sub)}`,
      claims.sub,
    );
  }
  if (role === 'authenticated' && claims.sub === undefined) {
    throw new DbValidationError('claims.sub', 'is required for the authenticated role', undefined);
  }
  const fullClaims = { ...claims, role };
  return {
    // set_config('role', ..., true) is `set local role`: it checks membership like SET ROLE.
    text: `select set_config('role', $1, true),
      set_config('request.jwt.claims', $2, true),
      set_config('request.jwt.claim.sub', $3, true),
      set_config('request.jwt.claim.role', $1, true)`,
    params: [role, JSON.stringify(fullClaims), claims.sub ?? ''],
  };
}

/**
 * `Database.asUser` for any driver, built on its `transaction`: the claims statement first, then
 * `fn`, in one transaction, so RLS sees the caller for exactly that transaction.
 *
 * @example
 * ```ts
 * const asUser = userTransaction((fn) => sql.begin((tx) => fn(new PostgresExecutor(tx))));
 * ```
 */
export function userTransaction(
  transaction: <T>(fn: (tx: SqlExecutor) => Promise<T>) => Promise<T>,
): <T>(claims: JwtClaims, fn: (tx: SqlExecutor) => Promise<T>) => Promise<T> {
  return (claims, fn) => {
    const statement = claimsStatement(claims);
    return transaction(async (tx) => {
      await tx.query(statement.text, statement.params);
      return await fn(tx);
    });
  };
}
