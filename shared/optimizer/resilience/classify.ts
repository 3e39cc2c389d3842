/**
 * Error classification: which failures are transient (worth a retry, and a sign of an unhealthy
 * resource for the breaker and the throttle) and which are the caller's (4xx, validation).
 *
 * Understands thrown errors of `fetch`, `@upstash/redis` (through {@link StoreUnavailableError}),
 * postgres.js (`code` = SQLSTATE or `ECONNREFUSED`/`CONNECTION_*`), HTTP errors and `Response`s
 * (`status`, `Retry-After`), and the `{ data, error, status }` results of supabase-js.
 *
 * @module
 */

/** The verdict on one failure. */
export interface Classification {
  /** Whether trying again may succeed. */
  transient: boolean;
  /** Short reason for metrics: `network`, `timeout`, `http-503`, `pg-40001`, `http-404`... */
  reason: string;
  /** A server-requested wait (`Retry-After`), ms. */
  retryAfterMs?: number;
}

// Network and connection errors of Node/Deno sockets and postgres.js.
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
]);

// SQLSTATEs worth a retry: serialization failure, deadlock, connection exceptions (class 08),
// shutdown / cannot connect now, too many connections, lock not available.
const TRANSIENT_SQLSTATE = /^(40001|40P01|08\w{3}|57P0[1-3]|53300|55P03)$/;
const SQLSTATE = /^[0-9A-Z]{5}$/;
const NETWORK_MESSAGE =
  /fetch failed|failed to fetch|network ?error|error sending request|connection (refused|reset|closed)|socket hang up|ECONNREFUSED|ECONNRESET/i;
const PERMANENT_NAMES = new Set(['ZodError', 'ValidationError', 'SyntaxError', 'RangeError']);

type Bag = Record<string, unknown>;

/**
 * Parses a `Retry-After` header value (seconds or an HTTP date) into ms from `now`.
 *
 * @example
 * ```ts
 * parseRetryAfter('2'); // 2000
 * ```
 */
export function parseRetryAfter(value: unknown, now = Date.now()): number | undefined {
  if (typeof value === 'number') {
    return Number.isFinite(value) ? Math.max(0, value * 1000) : undefined;
  }
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function header(headers: unknown, name: string): unknown {
  if (!headers || typeof headers !== 'object') return undefined;
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name);
  for (const [key, value] of Object.entries(headers as Bag)) {
    if (key.toLowerCase() === name) return value;
  }
  return undefined;
}

function fromStatus(status: number, source: Bag): Classification | undefined {
  if (!Number.isInteger(status) || status < 400) return undefined;
  const reason = `http-${status}`;
  if (status === 429 || status === 503) {
    const retryAfterMs = parseRetryAfter(
      header(source.headers, 'retry-after') ?? source.retryAfter,
    );
    return retryAfterMs === undefined
      ? { transient: true, reason }
      : { transient: true, reason, retryAfterMs };
  }
  // 501 Not Implemented and 505 are permanent server answers.
  if (status >= 500) return { transient: status !== 501 && status !== 505, reason };
  return { transient: status === 408, reason };
}

/**
 * Classifies a thrown value (or the `error` of a supabase-js result; pass the result's `status`
 * along as `status`).
 *
 * @example
 * ```ts
 * classifyError(Object.assign(new Error('deadlock'), { code: '40P01' }));
 * // { transient: true, reason: 'pg-40P01' }
 * classifyError(new Response(null, { status: 404 })); // { transient: false, reason: 'http-404' }
 * ```
 */
export function classifyError(error: unknown): Classification {
  if (error === null || typeof error !== 'object') {
    return { transient: false, reason: 'unknown' };
  }
  const bag = error as Bag;
  const name = typeof bag.name === 'string' ? bag.name : '';
  // A retried call that gave up is what its last attempt was (for breakers and throttles).
  if (name === 'RetryExhaustedError' && bag.cause !== error) return classifyError(bag.cause);
  if (name === 'TimeoutError') return { transient: true, reason: 'timeout' };
  if (name === 'StoreUnavailableError') return { transient: true, reason: 'store-unavailable' };
  // The data layer's connection failures and timeouts (a CircuitOpenError subclass, but a fault
  // of the resource, not a decision of this layer): worth a retry, and they count against it.
  if (name === 'DbUnavailableError') return { transient: true, reason: 'db-unavailable' };
  if (name === 'FunctionsFetchError' || name === 'FunctionsRelayError') {
    return { transient: true, reason: 'network' };
  }
  // The typed errors of this layer are decisions, not resource faults.
  if (
    name === 'CircuitOpenError' || name === 'ThrottledError' || name === 'BulkheadRejectedError'
  ) {
    return { transient: false, reason: name };
  }
  // The data layer's answers about the caller's input: permanent, whatever status HTTP gives them.
  if (name === 'DbValidationError') return { transient: false, reason: 'validation' };
  if (name === 'DbNotFoundError') return { transient: false, reason: 'not-found' };
  const code = typeof bag.code === 'string' ? bag.code : '';
  if (code && CONNECTION_CODES.has(code)) return { transient: true, reason: 'connection' };
  if (code && SQLSTATE.test(code)) {
    return { transient: TRANSIENT_SQLSTATE.test(code), reason: `pg-${code}` };
  }
  // HTTP: thrown Response, FunctionsHttpError (context: Response), errors with status(Code).
  const context = bag.context as Bag | undefined;
  const status = Number(
    bag.status ?? bag.statusCode ?? (context && typeof context === 'object' ? context.status : NaN),
  );
  const source = context && typeof context === 'object' && bag.status === undefined ? context : bag;
  const http = fromStatus(status, source);
  if (http) return http;
  if (PERMANENT_NAMES.has(name)) return { transient: false, reason: 'validation' };
  const message = typeof bag.message === 'string' ? bag.message : '';
  // supabase-js reports a failed fetch as `{ message: 'TypeError: fetch failed', code: '' }`
  // with status 0; Deno/undici throw a TypeError.
  if (NETWORK_MESSAGE.test(message) || (status === 0 && code === '' && message !== '')) {
    return { transient: true, reason: 'network' };
  }
  if (name === 'AbortError') return { transient: true, reason: 'aborted' };
  return { transient: false, reason: name === 'TypeError' ? 'validation' : 'unknown' };
}

/**
 * The error of a supabase-js style `{ data, error }` result (with its `status` attached), or
 * `undefined` when `value` is not such a failed result.
 *
 * @example
 * ```ts
 * resultError({ data: null, error: { code: '40001', message: '...' }, status: 500 });
 * ```
 */
export function resultError(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return undefined;
  const error = (value as Bag).error;
  if (error === null || error === undefined || !('data' in (value as Bag))) return undefined;
  const status = (value as Bag).status;
  if (typeof error === 'object' && status !== undefined && (error as Bag).status === undefined) {
    return Object.assign(Object.create(Object.getPrototypeOf(error)), error, { status });
  }
  return error;
}

// Failures that say the resource is absent (refused, reset, unreachable) rather than overloaded.
const ABSENT_REASONS = new Set(['connection', 'network']);

/**
 * Whether a failure is a sign of overload, the adaptive throttle's signal to send less: a
 * transient failure other than an absent resource. A refused or broken connection says the
 * resource is down, which is the breaker's business: shrinking the rate limits for it only
 * answers 429 instead of 503 while it is down and throttles the recovery. Timeouts, 5xx/429
 * answers, serialization failures, too many connections do count.
 *
 * @example
 * ```ts
 * signalsOverload(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })); // false
 * signalsOverload(Object.assign(new Error('canceling statement'), { code: '57014' })); // true
 * ```
 */
export function signalsOverload(error: unknown): boolean {
  const verdict = classifyError(error);
  if (!verdict.transient || ABSENT_REASONS.has(verdict.reason)) return false;
  if (verdict.reason === 'db-unavailable') {
    const kind = (error as { kind?: unknown }).kind ??
      ((error as { cause?: { kind?: unknown } }).cause?.kind);
    return kind === 'timeout' || kind === 'overloaded';
  }
  return true;
}
