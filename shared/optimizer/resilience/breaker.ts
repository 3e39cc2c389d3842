/**
 * Circuit breakers per resource key, closed / open / half-open, with their state shared across
 * isolates through the key-value store.
 *
 * - Closed: calls pass; outcomes fill a sliding window (10 buckets over `breakerWindowMs`).
 *   Once it holds `breakerMinimumCalls`, the breaker opens when failures / calls reach
 *   `breakerFailureRateThreshold` or slow calls / calls reach `breakerSlowCallRateThreshold`.
 *   It also opens after `breakerConsecutiveFailures` failures in a row, counted by outcome
 *   whatever their pace: a dead origin whose every call takes longer than the window to fail
 *   (or fewer calls than the minimum per window) still opens it.
 *   Only transient failures count (5xx, timeouts, network, an unavailable database), and
 *   bulkhead rejections after a queue timeout (the resource's slots are held by calls that do
 *   not finish): a 404 says nothing about the resource's health.
 * - Open: calls fail fast with {@link CircuitOpenError} (or the fallback) for `breakerOpenMs`.
 * - Half-open: the first caller after that claims the probe with `SET NX PX` in the store, so
 *   one isolate probes, not fifty; `breakerHalfOpenProbes` probes are admitted; that many
 *   successes close the breaker, one failure opens it again.
 * - Every transition starts a new period; a call records its outcome only in the period it was
 *   admitted in, so late results of an earlier (half-open) period are ignored.
 * - Only transitions write to the store (one pipeline); the healthy path writes nothing and reads
 *   the shared state at most once per `breakerStateCacheMs`, in the background.
 *
 * @module
 */
import { type Metrics, metrics as sharedMetrics } from '../metrics.ts';
import { runInBackground } from '../../runtime/background.ts';
import type { KeyValueStore } from '../../store/types.ts';
import { classifyError, resultError } from './classify.ts';
import { type Clock, systemClock } from './clock.ts';
import { CircuitOpenError } from './errors.ts';
import { parseResilienceOptions, type ResilienceOptions } from './options.ts';
import { BucketWindow } from './window.ts';
import { breakerIndexKey, type SharedBreakerState } from './breaker_state.ts';

/** A breaker's state. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/** Collaborators of breakers, injectable for tests. */
export interface BreakerDeps {
  /** Shares state changes across isolates; without it, breakers are local. */
  store?: KeyValueStore;
  /** @default the isolate's shared `metrics` */
  metrics?: Metrics;
  /** @default systemClock */
  clock?: Clock;
  /** Key prefix in the store. @default `resilience.breakerKeyPrefix` ('qf:breaker:') */
  prefix?: string;
  /** This isolate's id (for the probe claim). @default a random id */
  isolateId?: string;
  /** Which failures count against the resource. @default transient ones (`classifyError`) */
  isFailure?: (error: unknown) => boolean;
}

/** Options of one breaker call. */
export interface BreakerCallOptions<T> {
  /** Answer when the breaker is open (a stale cache entry, say) instead of throwing. */
  fallback?: (error: CircuitOpenError) => T | Promise<T>;
}

const CALLS = 0;
const FAILURES = 1;
const SLOW = 2;

/**
 * One resource's breaker. Usually obtained from a {@link CircuitBreakerRegistry}.
 *
 * @example
 * ```ts
 * const breaker = new CircuitBreaker('db', { resilience: { breakerMinimumCalls: 5 } });
 * const rows = await breaker.execute(() => sql`select 1`, { fallback: () => [] });
 * ```
 */
export class CircuitBreaker {
  readonly resourceKey: string;
  readonly #o: ResilienceOptions;
  readonly #store?: KeyValueStore;
  readonly #metrics: Metrics;
  readonly #clock: Clock;
  readonly #key: string;
  readonly #probeKey: string;
  readonly #isolateId: string;
  readonly #isFailure: (error: unknown) => boolean;
  readonly #window: BucketWindow;
  #state: BreakerState = 'closed';
  #period = 0;
  #lastTransitionAt = 0;
  #openedAt = 0;
  #openUntil = 0;
  #probesInFlight = 0;
  #probeSuccesses = 0;
  #claiming = false;
  #nextRefreshAt = 0;
  #consecutiveFailures = 0;
  readonly #indexKey: string;

  constructor(
    resourceKey: string,
    config: { resilience?: Partial<ResilienceOptions> } = {},
    deps: BreakerDeps = {},
  ) {
    this.resourceKey = resourceKey;
    this.#o = parseResilienceOptions(config.resilience ?? {});
    this.#store = deps.store;
    this.#metrics = deps.metrics ?? sharedMetrics;
    this.#clock = deps.clock ?? systemClock;
    const prefix = deps.prefix ?? this.#o.breakerKeyPrefix;
    this.#key = `${prefix}${resourceKey}`;
    this.#indexKey = breakerIndexKey(prefix);
    this.#probeKey = `${this.#key}:probe`;
    this.#isolateId = deps.isolateId ?? crypto.randomUUID();
    this.#isFailure = deps.isFailure ?? ((error) => classifyError(error).transient);
    this.#window = new BucketWindow(this.#o.breakerWindowMs, 10, 3);
  }

  /** The local state (as of the last shared read). */
  get state(): BreakerState {
    return this.#state;
  }

  /** The current period (changes on every transition). */
  get period(): number {
    return this.#period;
  }

  /** The store key holding the shared state (to piggy-back its read on another pipeline). */
  get sharedKey(): string {
    return this.#key;
  }

  /**
   * Throws {@link CircuitOpenError} while the breaker is open and its open period lasts; does
   * nothing otherwise (claims no probe). Lets callers refuse before taking other resources (a
   * throttle token): an open breaker answers 503, never 429.
   *
   * @example
   * ```ts
   * breaker.rejectIfOpen(); // throws while open
   * ```
   */
  rejectIfOpen(): void {
    if (this.#state !== 'open') return;
    const now = this.#clock.now();
    if (now < this.#openUntil) {
      throw new CircuitOpenError(this.resourceKey, this.#openUntil - now, 'open');
    }
  }

  /**
   * Runs `operation` through the breaker. Closed: runs it and records the outcome. Open: throws
   * {@link CircuitOpenError} or returns the fallback's answer.
   */
  async execute<T>(
    operation: () => Promise<T>,
    options?: BreakerCallOptions<T>,
  ): Promise<T> {
    const clock = this.#clock;
    const started = clock.now();
    let period: number;
    if (this.#state === 'closed') {
      period = this.#period;
      if (this.#store && started >= this.#nextRefreshAt) this.#refreshInBackground(started);
    } else {
      try {
        period = await this.#admit(started);
      } catch (error) {
        if (options?.fallback && error instanceof CircuitOpenError) {
          this.#metrics.increment('breaker.fallback');
          return options.fallback(error);
        }
        throw error;
      }
    }
    let value: T;
    try {
      value = await operation();
    } catch (error) {
      this.record(
        period,
        this.#isFailure(error) || isSaturationError(error),
        clock.now() - started,
      );
      throw error;
    }
    const failed = resultError(value);
    this.record(
      period,
      failed !== undefined && this.#isFailure(failed),
      clock.now() - started,
    );
    return value;
  }

  /**
   * Admits a call in the open or half-open state: resolves with the period to record in, or
   * rejects with {@link CircuitOpenError}.
   */
  async #admit(now: number): Promise<number> {
    if (this.#state === 'open') {
      if (now < this.#openUntil) {
        throw new CircuitOpenError(this.resourceKey, this.#openUntil - now, 'open');
      }
      if (this.#claiming) {
        throw new CircuitOpenError(
          this.resourceKey,
          this.#o.breakerStateCacheMs,
          'probe-in-flight',
        );
      }
      this.#claiming = true;
      let claimed = true;
      try {
        if (this.#store) {
          claimed = await this.#store.set(this.#probeKey, this.#isolateId, {
            nx: true,
            pxMs: this.#o.breakerProbeLeaseMs,
          });
        }
      } catch {
        // Store down: probe from this isolate (fail open), counted.
        this.#metrics.increment('breaker.store_fail_open');
      } finally {
        this.#claiming = false;
      }
      if (this.#state !== 'open') return this.#admit(this.#clock.now());
      if (!claimed) {
        // Another isolate probes: wait for its verdict (read with the next shared refresh).
        const waitMs = Math.min(
          this.#o.breakerProbeLeaseMs,
          Math.max(1, this.#o.breakerStateCacheMs),
        );
        this.#openUntil = this.#clock.now() + waitMs;
        this.#nextRefreshAt = 0;
        this.#refreshInBackground(this.#clock.now());
        throw new CircuitOpenError(this.resourceKey, waitMs, 'probe-in-flight');
      }
      this.#transition('half-open', this.#clock.now());
    }
    if (this.#state === 'half-open') {
      if (this.#probesInFlight + this.#probeSuccesses >= this.#o.breakerHalfOpenProbes) {
        throw new CircuitOpenError(
          this.resourceKey,
          this.#o.breakerStateCacheMs,
          'probe-in-flight',
        );
      }
      this.#probesInFlight++;
      return this.#period;
    }
    return this.#period;
  }

  /**
   * Records one outcome admitted in `period`. Ignored (counted as `breaker.late_result`) when
   * the breaker has moved to another period since.
   */
  record(period: number, failed: boolean, durationMs: number): void {
    if (period !== this.#period) {
      this.#metrics.increment('breaker.late_result');
      return;
    }
    const now = this.#clock.now();
    if (this.#state === 'closed') {
      this.#consecutiveFailures = failed ? this.#consecutiveFailures + 1 : 0;
      if (this.#consecutiveFailures >= this.#o.breakerConsecutiveFailures) {
        this.#metrics.increment('breaker.open.consecutive');
        return this.#transition('open', now);
      }
      const w = this.#window;
      w.add(now, CALLS);
      if (failed) w.add(now, FAILURES);
      if (durationMs >= this.#o.breakerSlowCallMs) w.add(now, SLOW);
      const calls = w.total(CALLS);
      if (calls < this.#o.breakerMinimumCalls) return;
      if (
        w.total(FAILURES) / calls >= this.#o.breakerFailureRateThreshold ||
        w.total(SLOW) / calls >= this.#o.breakerSlowCallRateThreshold
      ) {
        this.#transition('open', now);
      }
      return;
    }
    if (this.#state === 'half-open') {
      this.#probesInFlight--;
      if (failed) return this.#transition('open', now);
      this.#probeSuccesses++;
      if (this.#probeSuccesses >= this.#o.breakerHalfOpenProbes) this.#transition('closed', now);
    }
  }

  #transition(to: BreakerState, now: number, publish = true): void {
    const from = this.#state;
    this.#state = to;
    this.#period++;
    this.#lastTransitionAt = now;
    this.#probesInFlight = 0;
    this.#probeSuccesses = 0;
    this.#consecutiveFailures = 0;
    this.#window.reset();
    const m = this.#metrics;
    m.increment(`breaker.transition.${to === 'half-open' ? 'half_open' : to}`);
    if (!publish) m.increment('breaker.transition.remote');
    if (to === 'open') {
      if (from === 'closed') this.#openedAt = now;
      this.#openUntil = now + this.#o.breakerOpenMs;
      m.gauge(`breaker.open.${this.resourceKey}`, 1);
    } else if (to === 'closed') {
      if (this.#openedAt) m.observe('breaker.open.ms', now - this.#openedAt);
      this.#openedAt = 0;
      m.gauge(`breaker.open.${this.resourceKey}`, 0);
    }
    if (!publish || to === 'half-open' || !this.#store) return;
    const shared: SharedBreakerState = to === 'open'
      ? { state: 'open', at: now, until: this.#openUntil, by: this.#isolateId }
      : { state: 'closed', at: now, by: this.#isolateId };
    const store = this.#store;
    const ttl = to === 'open'
      ? this.#o.breakerOpenMs + this.#o.breakerProbeLeaseMs
      : this.#o.breakerWindowMs;
    runInBackground(
      () =>
        store.pipeline([
          { op: 'set', key: this.#key, value: shared, options: { pxMs: ttl } },
          { op: 'del', keys: [this.#probeKey] },
          // The index of resources that ever opened: health lists the open ones from it.
          ...(to === 'open'
            ? [{ op: 'sadd' as const, key: this.#indexKey, members: [this.resourceKey] }]
            : []),
        ]),
      `breaker ${this.resourceKey} publish`,
      () => this.#metrics.increment('breaker.publish_failed'),
    );
  }

  #refreshInBackground(now: number): void {
    this.#nextRefreshAt = now + this.#o.breakerStateCacheMs;
    runInBackground(
      () => this.refresh(),
      `breaker ${this.resourceKey} refresh`,
      () => this.#metrics.increment('breaker.shared_read_failed'),
    );
  }

  /** Reads the shared state now and applies it (the healthy path does this in the background). */
  async refresh(): Promise<void> {
    if (!this.#store) return;
    this.#nextRefreshAt = this.#clock.now() + this.#o.breakerStateCacheMs;
    this.applyShared(await this.#store.get<SharedBreakerState>(this.#key));
  }

  /**
   * Applies a shared state read elsewhere (e.g. piggy-backed on the cache's pipeline): a newer
   * open state opens this breaker, a newer closed state closes it. With `refreshed`, the read
   * counts as this breaker's periodic refresh (it skips its own for `breakerStateCacheMs`).
   */
  applyShared(shared: SharedBreakerState | null, options?: { refreshed?: boolean }): void {
    if (options?.refreshed) this.#nextRefreshAt = this.#clock.now() + this.#o.breakerStateCacheMs;
    if (!shared || typeof shared !== 'object' || !(shared.at > this.#lastTransitionAt)) return;
    const now = this.#clock.now();
    if (shared.state === 'open' && (shared.until ?? 0) > now && this.#state !== 'open') {
      this.#transition('open', now, false);
      this.#openUntil = shared.until!;
      this.#lastTransitionAt = shared.at;
    } else if (shared.state === 'closed' && this.#state !== 'closed') {
      this.#transition('closed', now, false);
      this.#lastTransitionAt = shared.at;
    }
  }
}

// A bulkhead that timed out its queue: every slot is held by calls that do not finish, which is
// the origin's fault (a dead database holds connections until their timeouts), not the caller's.
function isSaturationError(error: unknown): boolean {
  for (let e = error, depth = 0; e && typeof e === 'object' && depth < 3; depth++) {
    const bag = e as { name?: unknown; reason?: unknown; cause?: unknown };
    if (bag.name === 'BulkheadRejectedError') return bag.reason === 'queue-timeout';
    e = bag.cause;
  }
  return false;
}
