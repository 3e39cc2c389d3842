/**
 * Adaptive throttling per resource key: two rate windows and a concurrency limit (per isolate).
 *
 * - The shared window (requests per `throttleWindowMs`, across isolates on Redis) holds every
 *   isolate together to the configured `throttleLimit`.
 * - This isolate's own window holds it to its adaptive rate limit, counted on its own requests
 *   only. An isolate whose limit fell after an error burst is never judged against the other
 *   isolates' healthy traffic (checked against the shared count, a limit of 16 under 20/s of
 *   others' calls refused all of its calls): it keeps its own share, and the shared window
 *   still bounds the sum. A request refused by the shared window is refunded to the own one.
 *
 * The adaptive limits (rate and concurrency) follow the resource's health with AIMD:
 *
 * - every completed call updates the resource's latency and error-rate EWMAs (weight 0.2);
 * - at most once per `throttleAdjustIntervalMs`, if latency > `throttleLatencyTargetMs` or
 *   error rate > `throttleErrorRateTarget`, both limits are multiplied by
 *   `throttleDecreaseFactor` (never below `throttleMinLimitRatio` of the configured ones);
 *   otherwise both grow by `throttleIncreaseRatio` of the configured ones per interval elapsed
 *   since the last adjustment, up to them.
 *
 * Over a limit a request waits up to `throttleMaxWaitMs` for a free slot (rate: until the
 * window frees one; concurrency: FIFO queue) and is then rejected with a
 * {@link ThrottledError} saying which limit it hit.
 *
 * @module
 */
import { KeyedRegistry } from './registry.ts';
import { type Metrics, metrics as sharedMetrics } from '../metrics.ts';
import type { KeyValueStore } from '../../store/types.ts';
import type { Redis } from '@upstash/redis';
import { classifyError, resultError } from './classify.ts';
import { type Clock, sleep, systemClock } from './clock.ts';
import { ThrottledError } from './errors.ts';
import {
  appliedWithin,
  parseResilienceOptions,
  type ResilienceOptions,
  type ResourceSettings,
  throttleLimitBounds,
} from './options.ts';
import {
  ResourceLimits,
  type ThrottleLimitsSnapshot,
  type ThrottlePermit,
} from './throttle_limits.ts';
import {
  MemoryRateWindow,
  type RateDecision,
  type RateWindow,
  UpstashRateWindow,
} from './rate_window.ts';

/** Collaborators of an {@link AdaptiveThrottle}. */
export interface ThrottleDeps {
  /** An `UpstashStore` (its `.redis`) gives cross-isolate windows; otherwise in memory. */
  store?: KeyValueStore;
  /** @default the isolate's shared `metrics` */
  metrics?: Metrics;
  /** @default systemClock */
  clock?: Clock;
  /** Replaces the rate window (tests). */
  rateWindow?: RateWindow;
  /**
   * The applied settings in force (read on every admission): `throttleLimitFor(resource)`
   * replaces `throttleLimit` for that resource, clamped to {@link throttleLimitBounds}.
   */
  settings?: () => ResourceSettings | undefined;
}

/**
 * Adaptive throttle for every resource key of an isolate. Create once per isolate (it holds
 * the `@upstash/ratelimit` limiters).
 *
 * Counts `throttle.calls`, `throttle.delayed`, `throttle.rejected`,
 * `throttle.rejected.<reason>`, `throttle.fail_open`, `throttle.limit.decrease|increase`;
 * gauges `throttle.limit.<resourceKey>` (effective rate limit). {@link throttlingRate} derives
 * the throttling rate.
 *
 * The manager's applied limit (`deps.settings().throttleLimitFor(resource)`) replaces
 * `throttleLimit` per resource, within {@link throttleLimitBounds}: the shared window uses it
 * and the adaptive limit keeps its share of it (at full health it becomes the new limit).
 *
 * @example
 * ```ts
 * const throttle = new AdaptiveThrottle(config, { store: getStore() });
 * const robots = await throttle.execute('robots-db', () => loadRobots());
 * ```
 */
export class AdaptiveThrottle {
  readonly #o: ResilienceOptions;
  readonly #metrics: Metrics;
  readonly #clock: Clock;
  readonly #window: RateWindow;
  readonly #own: MemoryRateWindow;
  readonly #resources = new KeyedRegistry(
    (key) =>
      new ResourceLimits(
        key,
        this.#settings ? this.configuredLimit(key) : this.#o.throttleLimit,
        this.#o.throttleMaxConcurrent,
        this.#clock.now(),
      ),
    10_000,
  );
  readonly #settings: (() => ResourceSettings | undefined) | undefined;
  readonly #bounds: [number, number];

  constructor(config: { resilience?: Partial<ResilienceOptions> } = {}, deps: ThrottleDeps = {}) {
    this.#o = parseResilienceOptions(config.resilience ?? {});
    this.#metrics = deps.metrics ?? sharedMetrics;
    this.#clock = deps.clock ?? systemClock;
    const redis = (deps.store as { redis?: Redis } | undefined)?.redis;
    this.#window = deps.rateWindow ??
      (deps.store?.backend === 'upstash' && redis
        ? new UpstashRateWindow({
          redis,
          windowMs: this.#o.throttleWindowMs,
          timeoutMs: this.#o.throttleStoreTimeoutMs,
          prefix: this.#o.throttleKeyPrefix,
          metrics: this.#metrics,
        })
        : new MemoryRateWindow(this.#o.throttleWindowMs, this.#clock));
    this.#own = new MemoryRateWindow(this.#o.throttleWindowMs, this.#clock);
    this.#settings = deps.settings;
    this.#bounds = throttleLimitBounds(this.#o);
  }

  /** The configured limit of `key` in force: the applied one (clamped), else `throttleLimit`. */
  configuredLimit(key: string): number {
    const settings = this.#settings?.();
    return appliedWithin(settings?.throttleLimitFor?.(key), this.#o.throttleLimit, this.#bounds);
  }

  /** Follows a change of the applied limit: the adaptive limit keeps its share of it. */
  #sync(r: ResourceLimits): void {
    if (!this.#settings) return;
    const base = this.configuredLimit(r.key);
    if (base === r.base) return;
    r.rate = Math.max(1, r.rate * base / r.base);
    r.base = base;
    this.#metrics.gauge(r.gaugeName, Math.floor(r.rate));
  }

  /**
   * One rate decision: this isolate's adaptive limit on its own count first (no network), then
   * the configured limit on the shared window; a shared refusal refunds the own admission.
   */
  #rate(r: ResourceLimits): RateDecision | Promise<RateDecision> {
    const own = this.#own.limit(r.key, Math.floor(r.rate));
    if (!own.success) return own;
    const shared = this.#window.limit(r.key, r.base);
    if (shared instanceof Promise) {
      return shared.then((decision) => {
        if (!decision.success) this.#own.refund(r.key);
        return decision;
      });
    }
    if (!shared.success) this.#own.refund(r.key);
    return shared;
  }

  #resource(key: string): ResourceLimits {
    return this.#resources.get(key);
  }

  /** The current adaptive limits of `resourceKey`. */
  limits(resourceKey: string): ThrottleLimitsSnapshot {
    const r = this.#resource(resourceKey);
    this.#sync(r);
    return {
      rateLimit: Math.floor(r.rate),
      concurrencyLimit: Math.floor(r.concurrency),
      inFlight: r.inFlight,
      latencyEwmaMs: r.latencyEwma,
      errorRateEwma: r.errorEwma,
    };
  }

  /** Runs `operation` within the throttle of `resourceKey`; its outcome feeds the adaptation. */
  async execute<T>(
    resourceKey: string,
    operation: () => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    const pending = this.acquire(resourceKey, signal);
    const permit = pending instanceof Promise ? await pending : pending;
    const started = this.#clock.now();
    let value: T;
    try {
      value = await operation();
    } catch (error) {
      this.release(permit, this.#clock.now() - started, classifyError(error).transient);
      throw error;
    }
    const failed = resultError(value);
    this.release(
      permit,
      this.#clock.now() - started,
      failed !== undefined && classifyError(failed).transient,
    );
    return value;
  }

  /**
   * Takes a rate token and a concurrency slot for `resourceKey`, synchronously when both are
   * free at once on the memory window; otherwise waits at most `throttleMaxWaitMs` and rejects
   * with {@link ThrottledError}.
   */
  acquire(resourceKey: string, signal?: AbortSignal): ThrottlePermit | Promise<ThrottlePermit> {
    const r = this.#resource(resourceKey);
    this.#sync(r);
    this.#metrics.increment('throttle.calls');
    // No free slot: queue for one before taking a rate token, so that a request refused for
    // concurrency is never counted as an admission of the rate windows.
    if (r.inFlight >= Math.floor(r.concurrency)) return this.#acquireSlow(r, undefined, signal);
    const decision = this.#rate(r);
    if (!(decision instanceof Promise) && decision.success) {
      r.inFlight++;
      return decision.failOpen ? r.failOpen : r.allowed;
    }
    return this.#acquireSlow(r, decision, signal);
  }

  async #acquireSlow(
    r: ResourceLimits,
    first: RateDecision | Promise<RateDecision> | undefined,
    signal?: AbortSignal,
  ): Promise<ThrottlePermit> {
    const clock = this.#clock;
    const started = clock.now();
    const maxWait = this.#o.throttleMaxWaitMs;
    // Waiting for the store's answer is not a delay; sleeping or queueing for a slot is.
    let delayed = false;
    let holdsSlot = false;
    if (first === undefined) {
      if (maxWait <= 0) throw this.#reject(r, 'concurrency-limit', maxWait);
      delayed = true;
      // A granted waiter inherits the releasing call's slot (inFlight unchanged).
      await this.#waitForSlot(r, maxWait, signal);
      holdsSlot = true;
      first = this.#rate(r);
    }
    let decision: RateDecision;
    try {
      decision = first instanceof Promise ? await first : first;
      while (!decision.success) {
        const waited = clock.now() - started;
        if (waited + decision.retryAfterMs > maxWait) {
          throw this.#reject(r, 'rate-limit', decision.retryAfterMs);
        }
        try {
          delayed = true;
          await sleep(clock, decision.retryAfterMs, signal);
        } catch (error) {
          this.#metrics.increment('throttle.rejected.aborted');
          throw error;
        }
        const next = this.#rate(r);
        decision = next instanceof Promise ? await next : next;
      }
    } catch (error) {
      if (holdsSlot) this.#freeSlot(r);
      throw error;
    }
    if (!holdsSlot) {
      if (r.inFlight >= Math.floor(r.concurrency)) {
        const remaining = maxWait - (clock.now() - started);
        if (remaining <= 0) throw this.#reject(r, 'concurrency-limit', maxWait);
        delayed = true;
        await this.#waitForSlot(r, remaining, signal);
      } else r.inFlight++;
    }
    const waitedMs = clock.now() - started;
    if (decision.failOpen) return r.failOpen;
    if (!delayed) return r.allowed;
    this.#metrics.increment('throttle.delayed');
    return { resourceKey: r.key, admission: 'delayed', waitedMs, limits: r };
  }

  #waitForSlot(r: ResourceLimits, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const clock = this.#clock;
      const onAbort = () => {
        done();
        this.#metrics.increment('throttle.rejected.aborted');
        reject(signal!.reason);
      };
      const timer = clock.setTimeout(() => {
        done();
        reject(this.#reject(r, 'concurrency-limit', timeoutMs));
      }, timeoutMs);
      const waiter = {
        grant: () => {
          done();
          resolve();
        },
      };
      const index = r.waiters.push(waiter) - 1;
      const done = () => {
        clock.clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        r.waiters[index] = undefined;
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #reject(r: ResourceLimits, reason: 'rate-limit' | 'concurrency-limit', retryAfterMs: number) {
    this.#metrics.increment('throttle.rejected');
    this.#metrics.increment(`throttle.rejected.${reason}`);
    const limit = reason === 'rate-limit' ? Math.floor(r.rate) : Math.floor(r.concurrency);
    return new ThrottledError(r.key, reason, Math.ceil(retryAfterMs), limit);
  }

  /**
   * Gives a slot back and feeds the call's latency and outcome to the adaptation.
   * `failed` should be true only for failures that say the resource is unhealthy.
   */
  release(permit: ThrottlePermit, durationMs: number, failed: boolean): void {
    const r = permit.limits;
    this.#freeSlot(r);
    r.observe(durationMs, failed, this.#clock.now(), this.#o, this.#metrics);
  }

  /** Hands a slot to the oldest waiter, if any; otherwise frees it. */
  #freeSlot(r: ResourceLimits): void {
    let handedOver = false;
    while (r.waitersHead < r.waiters.length) {
      const waiter = r.waiters[r.waitersHead++];
      if (waiter) {
        waiter.grant();
        handedOver = true;
        break;
      }
    }
    if (!handedOver) r.inFlight--;
    if (r.waitersHead === r.waiters.length) {
      r.waiters.length = 0;
      r.waitersHead = 0;
    }
  }
}

/**
 * Share of throttle calls that were rejected.
 *
 * @example
 * ```ts
 * throttlingRate(metrics); // 0.03
 * ```
 */
export function throttlingRate(m: Metrics = sharedMetrics): number {
  const calls = m.counter('throttle.calls');
  return calls === 0 ? 0 : m.counter('throttle.rejected') / calls;
}
