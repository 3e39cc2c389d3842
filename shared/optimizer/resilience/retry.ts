/**
 * Intelligent retry: exponential backoff with jitter, only for transient failures, bounded by
 * attempts, an overall deadline, the caller's `AbortSignal` and a retry budget per resource.
 *
 * Delay before attempt n+1 (n = attempts made so far):
 * `min(retryMaxDelayMs, round(retryBackoffBase * 2^(n-1) * (1 + retryJitterRatio * random())))`,
 * raised to a server's `Retry-After` when one is given (429/503).
 *
 * @module
 */
import { KeyedRegistry } from './registry.ts';
import { type Metrics, metrics as sharedMetrics } from '../metrics.ts';
import { RetryBudget } from './budget.ts';
import { type Classification, classifyError, resultError } from './classify.ts';
import { type Clock, type RandomSource, sleep, systemClock } from './clock.ts';
import {
  type AttemptRecord,
  CircuitOpenError,
  RetryExhaustedError,
  type RetryStopReason,
} from './errors.ts';
import { parseResilienceOptions, type ResilienceOptions } from './options.ts';

/** The `OptimizationConfig` values a {@link RetryPolicy} reads. */
export interface RetryConfig {
  /** Most attempts, the first included. */
  maxRetryAttempts: number;
  /** Base of the exponential backoff, ms. */
  retryBackoffBase: number;
  /** The resilience section (retry* options); defaults fill what is missing. */
  resilience?: Partial<ResilienceOptions>;
}

/** Collaborators of a {@link RetryPolicy}, injectable for tests. */
export interface RetryDeps {
  /** @default the isolate's shared `metrics` */
  metrics?: Metrics;
  /** @default systemClock */
  clock?: Clock;
  /** @default Math.random */
  random?: RandomSource;
}

/** What an attempt receives. */
export interface AttemptContext {
  /** 1 for the first attempt. */
  readonly attempt: number;
  /**
   * A fresh signal for this attempt: aborted when the caller's signal aborts, the attempt
   * timeout or the overall deadline passes. Created on first read (free when unused).
   */
  readonly signal: AbortSignal;
}

/** Options of one retried call. */
export interface RetryCallOptions {
  /** Resource whose retry budget is charged. @default 'default' */
  resourceKey?: string;
  /**
   * Whether running the operation twice is safe. Pass `false` for writes that are not
   * idempotent (INSERT without a key, INCR, a payment): they are tried once, whatever the error.
   * @default true
   */
  idempotent?: boolean;
  /** Stops retrying (and aborts the attempt's signal) when aborted. */
  signal?: AbortSignal;
  /** Overall deadline of this call, ms. @default resilience.retryDeadlineMs */
  deadlineMs?: number;
  /** Most attempts of this call. @default maxRetryAttempts */
  maxAttempts?: number;
  /** Overrides the classification: return `true`/`false`, or `undefined` to keep it. */
  isRetryable?: (error: unknown, attempt: number) => boolean | undefined;
}

/** Backoff parameters of {@link computeBackoffDelay}. */
export interface BackoffParams {
  baseMs: number;
  maxDelayMs: number;
  jitterRatio: number;
}

/**
 * Delay before attempt `n + 1` after `n` failed attempts:
 * `min(maxDelayMs, round(baseMs * 2^(n-1) * (1 + jitterRatio * random)))`, `random` in [0, 1).
 *
 * @example
 * ```ts
 * computeBackoffDelay(2, { baseMs: 100, maxDelayMs: 5000, jitterRatio: 1 }, 0.5); // 300
 * ```
 */
export function computeBackoffDelay(n: number, params: BackoffParams, random: number): number {
  const exponential = params.baseMs * 2 ** (n - 1);
  return Math.min(
    params.maxDelayMs,
    Math.round(exponential + exponential * params.jitterRatio * random),
  );
}

const NO_OPTIONS: RetryCallOptions = {};

class Attempt implements AttemptContext {
  #controller?: AbortController;
  #timer: unknown;
  #onAbort?: () => void;
  constructor(
    readonly attempt: number,
    private readonly parent: AbortSignal | undefined,
    private readonly timeoutMs: number,
    private readonly clock: Clock,
  ) {}

  get signal(): AbortSignal {
    if (this.#controller) return this.#controller.signal;
    const controller = this.#controller = new AbortController();
    const parent = this.parent;
    if (parent?.aborted) controller.abort(parent.reason);
    else if (parent) {
      this.#onAbort = () => controller.abort(parent.reason);
      parent.addEventListener('abort', this.#onAbort, { once: true });
    }
    if (this.timeoutMs > 0 && this.timeoutMs < Infinity) {
      this.#timer = this.clock.setTimeout(
        () =>
          controller.abort(
            new DOMException(
              `attempt ${this.attempt} timed out after ${this.timeoutMs}ms`,
              'TimeoutError',
            ),
          ),
        this.timeoutMs,
      );
    }
    return controller.signal;
  }

  dispose(): void {
    if (!this.#controller) return;
    if (this.#timer !== undefined) this.clock.clearTimeout(this.#timer);
    if (this.#onAbort) this.parent!.removeEventListener('abort', this.#onAbort);
  }
}

/**
 * Retries transient failures with exponential backoff and jitter. Create one per isolate and
 * share it: it holds the retry budgets of every resource.
 *
 * Counts `retry.calls`, `retry.retries` (extra attempts), `retry.retried` (calls that retried),
 * `retry.recovered` (succeeded after a retry), `retry.exhausted` and `retry.stop.<reason>`;
 * {@link retrySuccessRate} derives the rate.
 *
 * @example
 * ```ts
 * const policy = new RetryPolicy({ maxRetryAttempts: 3, retryBackoffBase: 100 });
 * const robots = await policy.execute(({ signal }) => fetch(url, { signal }).then(ok), {
 *   resourceKey: 'robots-api',
 * });
 * ```
 */
export class RetryPolicy {
  readonly #maxAttempts: number;
  readonly #backoff: BackoffParams;
  readonly #deadlineMs: number;
  readonly #attemptTimeoutMs: number;
  readonly #options: ResilienceOptions;
  readonly #metrics: Metrics;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #budgets = new KeyedRegistry(
    () =>
      new RetryBudget({
        ratio: this.#options.retryBudgetRatio,
        minPerSecond: this.#options.retryBudgetMinPerSecond,
        windowMs: this.#options.retryBudgetWindowMs,
      }),
    10_000,
  );

  constructor(config: RetryConfig, deps: RetryDeps = {}) {
    const { maxRetryAttempts, retryBackoffBase } = config;
    if (!Number.isInteger(maxRetryAttempts) || maxRetryAttempts < 1) {
      throw new RangeError(
        `'maxRetryAttempts' must be an integer >= 1: received ${maxRetryAttempts}`,
      );
    }
    if (!Number.isFinite(retryBackoffBase) || retryBackoffBase < 0) {
      throw new RangeError(
        `'retryBackoffBase' must be a finite number >= 0: received ${retryBackoffBase}`,
      );
    }
    const options = parseResilienceOptions(config.resilience ?? {});
    this.#options = options;
    this.#maxAttempts = maxRetryAttempts;
    this.#backoff = {
      baseMs: retryBackoffBase,
      maxDelayMs: options.retryMaxDelayMs,
      jitterRatio: options.retryJitterRatio,
    };
    this.#deadlineMs = options.retryDeadlineMs;
    this.#attemptTimeoutMs = options.retryAttemptTimeoutMs;
    this.#metrics = deps.metrics ?? sharedMetrics;
    this.#clock = deps.clock ?? systemClock;
    this.#random = deps.random ?? Math.random;
  }

  /** The retry budget of a resource (created on first use). */
  budget(resourceKey: string): RetryBudget {
    return this.#budgets.get(resourceKey);
  }

  /**
   * Runs `operation`, retrying transient failures. Resolves with the first success. A
   * supabase-js `{ data, error }` result with a transient `error` is retried like a throw; with
   * a permanent one it is returned as it is.
   *
   * Throws: the caller's abort reason when `signal` aborts; the operation's own error when the
   * first attempt fails for good (not transient, or not idempotent); otherwise
   * {@link RetryExhaustedError} with every attempt's cause.
   */
  async execute<T>(
    operation: (context: AttemptContext) => Promise<T>,
    options: RetryCallOptions = NO_OPTIONS,
  ): Promise<T> {
    const clock = this.#clock;
    const started = clock.now();
    const budget = this.budget(options.resourceKey ?? 'default');
    budget.recordCall(started);
    this.#metrics.increment('retry.calls');
    const signal = options.signal;
    const maxAttempts = options.maxAttempts ?? this.#maxAttempts;
    const deadlineMs = options.deadlineMs ?? this.#deadlineMs;
    const deadlineAt = deadlineMs > 0 ? started + deadlineMs : Infinity;
    let attempts: AttemptRecord[] | undefined;
    for (let attempt = 1;; attempt++) {
      if (signal?.aborted) throw signal.reason;
      const remaining = deadlineAt - (attempt === 1 ? started : clock.now());
      const timeoutMs = this.#attemptTimeoutMs > 0
        ? Math.min(this.#attemptTimeoutMs, remaining)
        : remaining;
      const context = new Attempt(attempt, signal, timeoutMs, clock);
      let error: unknown;
      let result: T | undefined;
      let fromResult = false;
      try {
        result = await operation(context);
        error = resultError(result);
        if (error === undefined) {
          if (attempt > 1) this.#metrics.increment('retry.recovered');
          return result;
        }
        fromResult = true;
      } catch (thrown) {
        error = thrown;
      } finally {
        context.dispose();
      }
      if (signal?.aborted) throw signal.reason;

      const verdict = this.#classify(error, attempt, options);
      let stop: RetryStopReason | undefined;
      let delayMs = 0;
      if (!verdict.transient) stop = 'not-retryable';
      else if (options.idempotent === false) stop = 'non-idempotent';
      else if (attempt >= maxAttempts) stop = 'attempts-exhausted';
      else {
        delayMs = computeBackoffDelay(attempt, this.#backoff, this.#random());
        if (verdict.retryAfterMs !== undefined) {
          if (verdict.retryAfterMs > this.#backoff.maxDelayMs) stop = 'retry-after-too-long';
          delayMs = Math.max(delayMs, verdict.retryAfterMs);
        }
        const now = clock.now();
        if (!stop && now + delayMs >= deadlineAt) stop = 'deadline';
        if (!stop && !budget.tryWithdraw(now)) stop = 'budget-exhausted';
      }
      (attempts ??= []).push({ error, delayMs: stop ? 0 : delayMs });
      if (stop) {
        this.#metrics.increment(`retry.stop.${stop}`);
        if (attempt === 1 && (stop === 'not-retryable' || stop === 'non-idempotent')) {
          if (fromResult) return result as T;
          throw error;
        }
        if (attempt > 1) this.#metrics.increment('retry.exhausted');
        // An unavailable resource (an open breaker, an unreachable database) stays what it is,
        // so that callers answer 503 + Retry-After rather than a generic failure.
        if (!fromResult && error instanceof CircuitOpenError) throw error;
        throw new RetryExhaustedError(stop, attempts, options.resourceKey);
      }
      if (attempt === 1) this.#metrics.increment('retry.retried');
      this.#metrics.increment('retry.retries');
      await sleep(clock, delayMs, signal);
    }
  }

  #classify(error: unknown, attempt: number, options: RetryCallOptions): Classification {
    const override = options.isRetryable?.(error, attempt);
    if (override === undefined) return classifyError(error);
    return { transient: override, reason: override ? 'custom-retryable' : 'custom-permanent' };
  }
}

/**
 * Share of the calls that needed a retry and then succeeded (1 when none needed one).
 *
 * @example
 * ```ts
 * retrySuccessRate(metrics); // 0.92
 * ```
 */
export function retrySuccessRate(m: Metrics = sharedMetrics): number {
  const retried = m.counter('retry.retried');
  return retried === 0 ? 1 : m.counter('retry.recovered') / retried;
}

/**
 * One-off form of {@link RetryPolicy.execute} (a policy is built per call: prefer a shared
 * `RetryPolicy` on hot paths, which also keeps the retry budgets).
 *
 * @example
 * ```ts
 * const rows = await retryWithBackoff(() => sql`select 1`, {
 *   maxRetryAttempts: 3,
 *   retryBackoffBase: 100,
 * });
 * ```
 */
export function retryWithBackoff<T>(
  operation: (context: AttemptContext) => Promise<T>,
  config: RetryConfig & RetryCallOptions,
  deps: RetryDeps = {},
): Promise<T> {
  return new RetryPolicy(config, deps).execute(operation, config);
}
