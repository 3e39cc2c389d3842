/**
 * Typed errors of the resilience layer. Each says why, carries a `reason` for metrics and the
 * HTTP layer, and, where waiting helps, `retryAfterMs` (the HTTP layer maps it to `Retry-After`).
 *
 * @module
 */

/** One failed attempt of a retried operation. */
export interface AttemptRecord {
  /** What the attempt threw (or the `error` of a supabase-js `{ data, error }` result). */
  error: unknown;
  /** Delay waited after this attempt before the next one, ms (0 for the last). */
  delayMs: number;
}

/** Why retrying stopped. */
export type RetryStopReason =
  | 'attempts-exhausted'
  | 'not-retryable'
  | 'non-idempotent'
  | 'budget-exhausted'
  | 'deadline'
  | 'retry-after-too-long';

/**
 * Thrown when a retried operation failed for good after more than one attempt (or was stopped
 * by the deadline or the retry budget). `attempts` holds every attempt's cause, in order;
 * `cause` is the last one.
 *
 * @example
 * ```ts
 * try { await retryWithBackoff(op, options); } catch (e) {
 *   if (e instanceof RetryExhaustedError) console.log(e.reason, e.attempts.length);
 * }
 * ```
 */
export class RetryExhaustedError extends Error {
  override name = 'RetryExhaustedError';
  /** Every attempt, in order. */
  readonly attempts: AttemptRecord[];
  /** Why retrying stopped. */
  readonly reason: RetryStopReason;
  constructor(reason: RetryStopReason, attempts: AttemptRecord[], resourceKey?: string) {
    const last = attempts[attempts.length - 1]?.error;
    super(
      `Operation${resourceKey ? ` on '${resourceKey}'` : ''} failed after ${attempts.length} ` +
        `attempt(s) (${reason}): ${last instanceof Error ? last.message : String(last)}`,
      { cause: last },
    );
    this.attempts = attempts;
    this.reason = reason;
  }
}

/**
 * Thrown when a circuit breaker is open (or its half-open probe is taken by another caller):
 * the call failed fast without touching the resource. The HTTP layer
 * (`shared/http/errors.ts`) owns its status.
 *
 * @example
 * ```ts
 * if (e instanceof CircuitOpenError) c.header('Retry-After', String(Math.ceil(e.retryAfterMs / 1000)));
 * ```
 */
export class CircuitOpenError extends Error {
  override name = 'CircuitOpenError';
  constructor(
    /** The breaker's resource key. */
    readonly resourceKey: string,
    /** How long until a probe may be admitted, ms. */
    readonly retryAfterMs: number,
    /**
     * `open`: failing fast; `probe-in-flight`: half-open, another caller probes; `unavailable`:
     * the resource itself could not be reached (a subclass such as the data layer's
     * `DbUnavailableError` says how).
     */
    readonly reason: 'open' | 'probe-in-flight' | 'unavailable',
    message?: string,
  ) {
    super(
      message ??
        `Circuit breaker '${resourceKey}' is ${
          reason === 'open' ? 'open' : 'half-open with its probe in flight'
        }: retry after ${retryAfterMs}ms`,
    );
  }
}

/** Why a request was throttled. */
export type ThrottleReason = 'rate-limit' | 'concurrency-limit' | 'aborted';

/**
 * Thrown when adaptive throttling rejects a request after waiting at most its bounded delay.
 * The HTTP layer (`shared/http/errors.ts`) owns its status.
 *
 * @example
 * ```ts
 * if (e instanceof ThrottledError) console.log(e.reason, e.limit, e.retryAfterMs);
 * ```
 */
export class ThrottledError extends Error {
  override name = 'ThrottledError';
  constructor(
    readonly resourceKey: string,
    /** Which limit was hit. */
    readonly reason: ThrottleReason,
    /** When a retry may pass, ms. */
    readonly retryAfterMs: number,
    /** The effective (adapted) limit that was hit. */
    readonly limit: number,
  ) {
    super(
      `Throttled '${resourceKey}' (${reason}, effective limit ${limit}): retry after ${retryAfterMs}ms`,
    );
  }
}

/**
 * Thrown when a bulkhead has no free slot: its queue is full, or the wait timed out.
 * The HTTP layer (`shared/http/errors.ts`) owns its status.
 *
 * @example
 * ```ts
 * if (e instanceof BulkheadRejectedError) console.log(e.reason); // 'queue-full' | 'queue-timeout'
 * ```
 */
export class BulkheadRejectedError extends Error {
  override name = 'BulkheadRejectedError';
  constructor(
    readonly resourceKey: string,
    readonly reason: 'queue-full' | 'queue-timeout',
    /** Slots of the bulkhead. */
    readonly maxConcurrent: number,
  ) {
    super(
      `Bulkhead '${resourceKey}' rejected the call (${reason}; ${maxConcurrent} slot(s) busy)`,
    );
  }
}
