/**
 * Maps the errors the optimizer and the data layer throw to HTTP answers, so every function
 * answers them the same way: an open breaker or a full pool is a 503 with `Retry-After`, a
 * throttled call a 429 with `Retry-After` and the `RateLimit-*` fields, invalid input a 400
 * naming the field, a missing row a 404.
 *
 * @module
 */
import { ApiError, registerErrorTranslator } from './errors.ts';
import {
  BulkheadRejectedError,
  CircuitOpenError,
  ThrottledError,
} from '../optimizer/resilience/errors.ts';
import { DbNotFoundError, DbValidationError } from '../db/errors.ts';

const seconds = (ms: number) => String(Math.max(1, Math.ceil(ms / 1000)));

/**
 * Translates the known error types; `undefined` for anything else.
 *
 * @example
 * ```ts
 * translateKnownError(new ThrottledError('robots', 'rate-limit', 1200, 100))?.status; // 429
 * ```
 */
export function translateKnownError(error: unknown): ApiError | undefined {
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
  return undefined;
}

registerErrorTranslator(translateKnownError);
