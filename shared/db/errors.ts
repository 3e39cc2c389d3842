/**
 * Typed errors of the data layer. The HTTP layer maps {@link DbValidationError} to 400 and
 * {@link DbNotFoundError} to 404.
 *
 * @module
 */

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
  /** HTTP status the API should answer with. */
  readonly status = 400;
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
  readonly status = 404;
  constructor(readonly table: string, readonly id: string) {
    super(`${table} ${id} not found`);
    this.name = 'DbNotFoundError';
  }
}

/** True for {@link DbValidationError}, also across module copies. */
export function isDbValidationError(error: unknown): error is DbValidationError {
  return error instanceof Error && (error as { code?: unknown }).code === 'validation_error';
}
