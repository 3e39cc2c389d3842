/**
 * Errors as JSON: every failure leaves a function as `{ error: { code, message } }` with the
 * right status, never a stack trace. This is the ONE place that maps errors to statuses: the
 * optimizer's (breaker open, throttled, pool full), the data layer's (validation, not found),
 * Postgres SQLSTATEs, zod and malformed JSON. Anything else is a 500 whose details go to the
 * log, not to the caller. The table is in docs/http-layer.md.
 *
 * @module
 */
import type { Context, ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import {
  BulkheadRejectedError,
  CircuitOpenError,
  ThrottledError,
} from '../optimizer/resilience/errors.ts';
import { DbNotFoundError, DbValidationError, isDbUnavailableError } from '../db/errors.ts';

/** The JSON body of every error response. */
export interface ErrorBody {
  error: { code: string; message: string; details?: unknown; requestId?: string };
}

/**
 * An error with an HTTP status and a stable machine-readable code.
 *
 * @example
 * ```ts
 * throw new ApiError(400, 'invalid_limit', "'limit' must be an integer from 1 to 100: received 0");
 * ```
 */
export class ApiError extends HTTPException {
  readonly code: string;
  readonly details?: unknown;
  readonly headers?: Record<string, string>;
  constructor(
    status: ContentfulStatusCode,
    code: string,
    message: string,
    options: { details?: unknown; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(status, { message, cause: options.cause });
    this.code = code;
    this.details = options.details;
    this.headers = options.headers;
  }
}

/**
 * Translates an error some module threw into an {@link ApiError}, or `undefined` when it is not
 * a known kind. The known kinds are mapped here ({@link translateKnownError}); a module this
 * layer does not know may register its own.
 */
export type ErrorTranslator = (error: unknown) => ApiError | undefined;

const translators: ErrorTranslator[] = [];

/**
 * Registers a translator (e.g. breaker open -> 503 with Retry-After).
 *
 * @example
 * ```ts
 * registerErrorTranslator((e) =>
 *   e instanceof CircuitOpenError ? new ApiError(503, 'circuit_open', e.message) : undefined
 * );
 * ```
 */
export function registerErrorTranslator(translator: ErrorTranslator): void {
  translators.push(translator);
}

const defaultCodes: Partial<Record<number, string>> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  408: 'timeout',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'unprocessable_entity',
  429: 'rate_limited',
  503: 'unavailable',
  504: 'timeout',
};

const seconds = (ms: number) => String(Math.max(1, Math.ceil(ms / 1000)));

/** A Postgres error (postgres.js `PostgresError`, PGlite `DatabaseError`): SQLSTATE + severity. */
interface PgErrorLike {
  code: string;
  message: string;
  detail?: string;
}

function isPgError(error: unknown): error is PgErrorLike {
  if (error === null || typeof error !== 'object') return false;
  const { code } = error as { code?: unknown };
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) &&
    ('severity' in error || 'routine' in error);
}

/**
 * The answer to a Postgres error a caller's input can cause; `undefined` for server faults.
 * Class 22 (data exception: invalid text, NUL, out-of-range date), 54000 (NUL in chr(), too
 * long a value) and 54001 (statement too
 * complex: deep jsonb) are the caller's input: 400, never 500.
 */
function translatePgError(error: PgErrorLike): ApiError | undefined {
  const { code } = error;
  if (code === '23503') {
    const column = /Key \(([^)]+)\)/.exec(error.detail ?? '')?.[1];
    return new ApiError(
      400,
      'invalid_reference',
      `${column ? `'${column}'` : 'A reference'} does not name an existing row`,
    );
  }
  if (code === '23505') return new ApiError(409, 'conflict', 'A row with this key already exists');
  if (code === '23514' || code === '23502') {
    return new ApiError(400, 'invalid_input', `Invalid input: ${error.message}`);
  }
  if (code.startsWith('22') || code === '54000' || code === '54001') {
    return new ApiError(400, 'invalid_input', `Invalid input: ${error.message}`);
  }
  if (code === '42501') {
    return new ApiError(403, 'forbidden', 'Row level security rejected this operation');
  }
  if (code === '57014') {
    return new ApiError(503, 'db_timeout', 'The database did not answer in time', {
      headers: { 'retry-after': '1' },
    });
  }
  if (code.startsWith('08') || code.startsWith('53') || /^57P0[1-3]$/.test(code)) {
    return new ApiError(503, 'db_unavailable', 'The database is unavailable', {
      headers: { 'retry-after': '1' },
    });
  }
  return undefined;
}

/**
 * Translates the error types this project's modules throw; `undefined` for anything else.
 *
 * | error | status | code |
 * |---|---|---|
 * | `DbUnavailableError` (Postgres unreachable, timed out, pool full) | 503 + Retry-After | `db_unavailable` |
 * | `CircuitOpenError` | 503 + Retry-After | `circuit_open` |
 * | `ThrottledError` | 429 + Retry-After, RateLimit-* | `rate_limited` |
 * | `BulkheadRejectedError` | 503 + Retry-After | `pool_exhausted` |
 * | `DbValidationError` | 400 | `validation_error` |
 * | `DbNotFoundError` | 404 | `not_found` |
 * | Postgres SQLSTATE | see {@link translatePgError} | |
 *
 * @example
 * ```ts
 * translateKnownError(new ThrottledError('robots', 'rate-limit', 1200, 100))?.status; // 429
 * ```
 */
export function translateKnownError(error: unknown): ApiError | undefined {
  if (isDbUnavailableError(error)) {
    // The driver's detail names hosts and ports: it goes to the log, never to the caller.
    return new ApiError(503, 'db_unavailable', 'The database is unavailable: retry later', {
      headers: { 'retry-after': seconds(error.retryAfterMs) },
      details: { resource: error.resourceKey, reason: error.kind },
    });
  }
  if (error instanceof CircuitOpenError) {
    return new ApiError(503, 'circuit_open', error.message, {
      headers: { 'retry-after': seconds(error.retryAfterMs) },
      details: { resource: error.resourceKey, reason: error.reason },
    });
  }
  if (error instanceof ThrottledError) {
    return new ApiError(429, 'rate_limited', error.message, {
      headers: {
        'retry-after': seconds(error.retryAfterMs),
        'ratelimit-limit': String(error.limit),
        'ratelimit-remaining': '0',
        'ratelimit-reset': seconds(error.retryAfterMs),
      },
      details: { resource: error.resourceKey, reason: error.reason },
    });
  }
  if (error instanceof BulkheadRejectedError) {
    return new ApiError(503, 'pool_exhausted', error.message, {
      headers: { 'retry-after': '1' },
      details: { resource: error.resourceKey, reason: error.reason },
    });
  }
  if (error instanceof DbValidationError) {
    return new ApiError(400, 'validation_error', error.message, {
      details: { field: error.field },
    });
  }
  if (error instanceof DbNotFoundError) {
    return new ApiError(404, 'not_found', error.message);
  }
  if (isPgError(error)) return translatePgError(error);
  return undefined;
}

/**
 * Maps any error to the {@link ApiError} a caller gets (500 `internal_error` for unknown ones).
 *
 * @example
 * ```ts
 * toApiError(new DbNotFoundError('robots', id)).status; // 404
 * ```
 */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  const known = translateKnownError(error);
  if (known) return known;
  for (const translate of translators) {
    const translated = translate(error);
    if (translated) return translated;
  }
  if (error instanceof HTTPException) {
    const status = error.status as ContentfulStatusCode;
    return new ApiError(
      status,
      defaultCodes[status] ?? 'http_error',
      error.message || 'Request failed',
    );
  }
  if (isZodError(error)) {
    return new ApiError(400, 'invalid_request', zodMessage(error), { details: error.issues });
  }
  if (error instanceof SyntaxError && /JSON/i.test(error.message)) {
    return new ApiError(400, 'invalid_json', `Request body is not valid JSON: ${error.message}`);
  }
  return new ApiError(500, 'internal_error', 'Internal error', { cause: error });
}

interface ZodLike {
  issues: { path: PropertyKey[]; message: string }[];
}

function isZodError(error: unknown): error is Error & ZodLike {
  return error instanceof Error && error.name === 'ZodError' &&
    Array.isArray((error as Partial<ZodLike>).issues);
}

function zodMessage(error: ZodLike): string {
  return error.issues.map((i) => `${i.path.length ? `'${i.path.join('.')}' ` : ''}${i.message}`)
    .join('; ');
}

/** Writes an {@link ApiError} as the JSON error response. */
export function errorResponse(c: Context, error: ApiError): Response {
  const body: ErrorBody = {
    error: {
      code: error.code,
      message: error.message,
      ...(error.details !== undefined ? { details: error.details } : {}),
      ...(c.get('requestId') ? { requestId: c.get('requestId') as string } : {}),
    },
  };
  for (const [name, value] of Object.entries(error.headers ?? {})) c.header(name, value);
  return c.json(body, error.status as ContentfulStatusCode);
}

/**
 * `app.onError`: JSON errors. Unexpected errors (500) are logged with their cause and request
 * id; expected ones (4xx, a 503 from an open breaker) are answers, not incidents.
 */
export const onError: ErrorHandler = (error, c) => {
  const apiError = toApiError(error);
  if (apiError.status === 500) {
    console.error(
      `[quantforge] ${c.req.method} ${c.req.path} failed (request ${c.get('requestId')}):`,
      apiError.cause ?? error,
    );
  }
  return errorResponse(c, apiError);
};

/** `app.notFound`: a JSON 404 naming the path. */
export const onNotFound: NotFoundHandler = (c) =>
  errorResponse(c, new ApiError(404, 'not_found', `No route for ${c.req.method} ${c.req.path}`));
