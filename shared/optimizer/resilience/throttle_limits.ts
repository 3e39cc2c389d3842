/**
 * The adaptive limits of one throttled resource and their AIMD rule: every completed call updates
 * the latency and error-rate EWMAs (weight 0.2); at most once per `throttleAdjustIntervalMs` an
 * unhealthy resource's rate and concurrency limits shrink by `throttleDecreaseFactor` (never
 * below `throttleMinLimitRatio` of the configured ones) and a healthy one's grow back by
 * `throttleIncreaseRatio` per interval elapsed. Admission (windows, waiting) is `throttle.ts`.
 *
 * @module
 */
import type { Metrics } from '../metrics.ts';
import type { ResilienceOptions } from './options.ts';

/** How a request got through. */
export type ThrottleAdmission = 'allowed' | 'delayed' | 'fail-open';

/** A slot held by a request; give it back with {@link AdaptiveThrottle.release}. */
export interface ThrottlePermit {
  readonly resourceKey: string;
  /** Why it passed: at once, after a bounded delay, or because the window was unreachable. */
  readonly admission: ThrottleAdmission;
  /** Time waited for the slot, ms. */
  readonly waitedMs: number;
  /** @internal */
  readonly limits: ResourceLimits;
}

/** A resource's adaptive limits, as reported by {@link AdaptiveThrottle.limits}. */
export interface ThrottleLimitsSnapshot {
  rateLimit: number;
  concurrencyLimit: number;
  inFlight: number;
  latencyEwmaMs: number;
  errorRateEwma: number;
}

const EWMA_WEIGHT = 0.2;

/** One resource's adaptive limits, health signal and queue of waiters (one per resource key). */
export class ResourceLimits {
  /** The configured limit in force (`throttleLimit` or the applied override). */
  base: number;
  rate: number;
  concurrency: number;
  inFlight = 0;
  latencyEwma = 0;
  errorEwma = 0;
  samples = 0;
  lastAdjustAt: number;
  lastSampleAt: number;
  waiters: Array<{ grant: () => void } | undefined> = [];
  waitersHead = 0;
  readonly allowed: ThrottlePermit;
  readonly failOpen: ThrottlePermit;
  readonly gaugeName: string;
  constructor(readonly key: string, rate: number, concurrency: number, now: number) {
    this.base = rate;
    this.rate = rate;
    this.concurrency = concurrency;
    this.lastAdjustAt = now;
    this.lastSampleAt = now;
    this.allowed = { resourceKey: key, admission: 'allowed', waitedMs: 0, limits: this };
    this.failOpen = { resourceKey: key, admission: 'fail-open', waitedMs: 0, limits: this };
    this.gaugeName = `throttle.limit.${key}`;
  }

  /**
   * Feeds one completed call to the EWMAs and, at most once per `throttleAdjustIntervalMs`,
   * moves both limits (AIMD), counting `throttle.limit.decrease|increase` and setting the gauge.
   */
  observe(
    durationMs: number,
    failed: boolean,
    now: number,
    o: ResilienceOptions,
    metrics: Metrics,
  ): void {
    // The EWMAs weigh samples, not time: after a quiet spell (no call for two adjustment
    // intervals) the old signal is stale and this sample starts them again.
    const stale = now - this.lastSampleAt > 2 * o.throttleAdjustIntervalMs;
    this.lastSampleAt = now;
    if (this.samples === 0 || stale) {
      this.latencyEwma = durationMs;
      this.errorEwma = failed ? 1 : 0;
    } else {
      this.latencyEwma += EWMA_WEIGHT * (durationMs - this.latencyEwma);
      this.errorEwma += EWMA_WEIGHT * ((failed ? 1 : 0) - this.errorEwma);
    }
    this.samples++;
    if (now - this.lastAdjustAt < o.throttleAdjustIntervalMs) return;
    // Additive increase per interval elapsed: after a quiet spell (an open breaker sends nothing
    // here) the limits recover as if they had been adjusted all along.
    const intervals = Math.max(
      1,
      Math.floor((now - this.lastAdjustAt) / o.throttleAdjustIntervalMs),
    );
    this.lastAdjustAt = now;
    const unhealthy = this.latencyEwma > o.throttleLatencyTargetMs ||
      this.errorEwma > o.throttleErrorRateTarget;
    const before = Math.floor(this.rate);
    if (unhealthy) {
      this.rate = Math.max(
        this.base * o.throttleMinLimitRatio,
        1,
        this.rate * o.throttleDecreaseFactor,
      );
      this.concurrency = Math.max(
        o.throttleMaxConcurrent * o.throttleMinLimitRatio,
        1,
        this.concurrency * o.throttleDecreaseFactor,
      );
      if (Math.floor(this.rate) !== before) metrics.increment('throttle.limit.decrease');
    } else {
      this.rate = Math.min(
        this.base,
        this.rate + this.base * o.throttleIncreaseRatio * intervals,
      );
      this.concurrency = Math.min(
        o.throttleMaxConcurrent,
        this.concurrency + o.throttleMaxConcurrent * o.throttleIncreaseRatio * intervals,
      );
      if (Math.floor(this.rate) !== before) metrics.increment('throttle.limit.increase');
    }
    if (Math.floor(this.rate) !== before) metrics.gauge(this.gaugeName, Math.floor(this.rate));
  }
}
