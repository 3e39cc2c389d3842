/**
 * Errors as JSON: every failure leaves a function as `{ error: { code, message } }` with the
 * right status, never a stack trace. Known error types map to their statuses; anything else is a
 * 500 whose details go to the log, not to the caller.
 *
 * @module
 */
import type { Context, ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

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
 * a known kind. Modules register translators so the HTTP layer does not import every module.
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

function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
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
