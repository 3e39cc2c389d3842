/**
 * Typed errors of the data layer: they carry domain facts (field, table, kind), never an HTTP
 * status. `shared/http/errors.ts` is the one place that maps them to statuses.
 *
 * @module
 */
import { CircuitOpenError } from '../optimizer/resilience/errors.ts';

/**
 * The caller asked for something invalid (unknown field, bad cursor, limit out of range...).
 *
 * @example
 * ```ts
 * throw new DbValidationError('fields', "unknown field 'password'", 'password');
 * ```
 */
export class DbValidationError extends Error {
  /** Stable code for API responses. */
  readonly code = 'validation_error';
  /** Which input was invalid (`fields`, `limit`, `cursor`, `filters.strategy_type`...). */
  readonly field: string;
  /** What was received. */
  readonly received: unknown;

  constructor(field: string, message: string, received?: unknown) {
    super(`'${field}' ${message}`);
    this.name = 'DbValidationError';
    this.field = field;
    this.received = received;
  }
}

/**
 * A row does not exist or the caller may not see it (RLS makes the two indistinguishable).
 *
 * @example
 * ```ts
 * throw new DbNotFoundError('robots', id);
 * ```
 */
export class DbNotFoundError extends Error {
  readonly code = 'not_found';
  constructor(readonly table: string, readonly id: string) {
    super(`${table} ${id} not found`);
    this.name = 'DbNotFoundError';
  }
}

/** True for {@link DbValidationError}, also across module copies. */
export function isDbValidationError(error: unknown): error is DbValidationError {
  return error instanceof Error && (error as { code?: unknown }).code === 'validation_error';
}

/** How the database could not be used. */
export type DbUnavailableKind =
  /** No connection could be opened (refused, unreachable, connect timeout). */
  | 'connect'
  /** An open connection broke (server shutdown, reset, terminated). */
  | 'connection-lost'
  /** A statement ran past the statement timeout. */
  | 'timeout'
  /** The server refuses new work for now (too many connections, starting up, shutting down). */
  | 'overloaded';

/**
 * The database could not answer: a connection failure or a timeout, never the caller's fault.
 * It is a {@link CircuitOpenError} (`reason: 'unavailable'`, resource `database`): the HTTP layer
 * answers it 503 with `Retry-After`, exactly as an open breaker, and the retry layer hands it on
 * as it is once its attempts are spent. `classifyError` calls it transient (`db-unavailable`), so
 * it counts against the breaker and the adaptive throttle.
 *
 * @example
 * ```ts
 * try { await db.query('select 1'); } catch (e) {
 *   if (e instanceof DbUnavailableError) console.log(e.kind, e.retryAfterMs); // 'connect', 1000
 * }
 * ```
 */
export class DbUnavailableError extends CircuitOpenError {
  override name = 'DbUnavailableError';
  /** Stable code for API responses and logs. */
  readonly code = 'db_unavailable';
  constructor(
    /** What failed. */
    readonly kind: DbUnavailableKind,
    /** What the driver said (no credentials: drivers do not put them in messages). */
    detail: string,
    options: { retryAfterMs?: number; cause?: unknown } = {},
  ) {
    const retryAfterMs = options.retryAfterMs ?? 1000;
    super(
      'database',
      retryAfterMs,
      'unavailable',
      `Database unavailable (${kind}: ${detail}): retry after ${retryAfterMs}ms`,
    );
    if (options.cause !== undefined) this.cause = options.cause;
  }
}

/** True for {@link DbUnavailableError}, also across module copies. */
export function isDbUnavailableError(error: unknown): error is DbUnavailableError {
  return error instanceof Error && (error as { code?: unknown }).code === 'db_unavailable';
}
