/**
 * The data-access port: one interface, two implementations (postgres.js on a real PostgreSQL /
 * Supabase, PGlite embedded). Everything above it (repositories, the query-plan advisor) speaks
 * only this interface.
 *
 * @module
 */
import type { TimedProbe } from '../runtime/ping.ts';

/** Which implementation answers. */
export type DatabaseBackend = 'pglite' | 'postgres';

/** A result row: column name to value (timestamps as the driver returns them). */
export type Row = Record<string, unknown>;

/** Runs SQL with positional parameters (`$1`, `$2`, ...). One statement per call. */
export interface SqlExecutor {
  /**
   * Runs one statement and returns its rows.
   *
   * @example
   * ```ts
   * const rows = await tx.query<{ id: string }>('select id from robots where user_id = $1', [uid]);
   * ```
   */
  query<T = Row>(text: string, params?: readonly unknown[]): Promise<T[]>;
}

/**
 * JWT claims of the caller, as Supabase Auth issues them. `sub` is the user id (`auth.uid()`);
 * `role` picks the database role (`authenticated` by default, `anon` for anonymous callers).
 */
export interface JwtClaims {
  sub?: string;
  role?: 'authenticated' | 'anon' | string;
  email?: string;
  [claim: string]: unknown;
}

/** Result of {@link Database.ping}. */
export interface PingResult {
  ok: boolean;
  latencyMs: number;
  /** Why it failed, when it did. */
  reason?: string;
}

/** A {@link PingResult} from a timed probe (shared/runtime/ping.ts). */
export function pingResult(probe: TimedProbe): PingResult {
  return probe.ok
    ? { ok: true, latencyMs: probe.latencyMs }
    : { ok: false, latencyMs: probe.latencyMs, reason: probe.error };
}

/**
 * A database. `query` runs with the connection's own, privileged role (the service role's view:
 * RLS does not apply): only for service and cron work. User requests go through `asUser`.
 *
 * @example
 * ```ts
 * const mine = await db.asUser({ sub: userId, role: 'authenticated' }, (tx) =>
 *   tx.query('select id, name from robots order by created_at desc limit 20'));
 * ```
 */
export interface Database extends SqlExecutor {
  readonly backend: DatabaseBackend;
  /**
   * Runs `fn` in a transaction as PostgREST does for a request: `set local role <claims.role>`
   * (`authenticated` or `anon`) and `request.jwt.claims` / `request.jwt.claim.sub` set locally,
   * so Row Level Security decides what the caller sees and changes.
   */
  asUser<T>(claims: JwtClaims, fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /** Runs `fn` in a transaction with the connection's privileged role (service work). */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /** `select 1` with a bound; never throws. */
  ping(timeoutMs?: number): Promise<PingResult>;
  /** Closes connections (postgres.js) or the embedded instance (PGlite). */
  close(): Promise<void>;
}

/** Database roles a user request may assume. */
export const USER_ROLES: readonly string[] = ['authenticated', 'anon'];
