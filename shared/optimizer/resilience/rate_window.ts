/**
 * Rate windows: how many requests a resource key may take per window, counted across isolates
 * on Redis (`@upstash/ratelimit`'s sliding window: same keys, same arithmetic), or in memory on
 * the embedded store with the same semantics (`floor(previous * (1 - elapsed/window)) + current
 * < limit` admits one more).
 *
 * @module
 */
import type { Redis } from '@upstash/redis';
import { type Metrics, metrics as sharedMetrics } from '../metrics.ts';
import type { Clock } from './clock.ts';

/** One rate decision. */
export interface RateDecision {
  /** Whether the request is within the limit. */
  success: boolean;
  /** Requests still allowed in the window. */
  remaining: number;
  /** When a rejected request may pass, ms from now (0 when allowed). */
  retryAfterMs: number;
  /** Set when the window could not be read and the request was let through. */
  failOpen?: 'timeout' | 'error';
}

/** A sliding-window counter per identifier; `limit` may change from one call to the next. */
export interface RateWindow {
  /** Counts one request of `identifier` if it is within `limit`. */
  limit(identifier: string, limit: number): RateDecision | Promise<RateDecision>;
}

interface Counts {
  window: number;
  current: number;
  previous: number;
}

/**
 * In-memory sliding window (one isolate), synchronous: the allow path does not await.
 *
 * @example
 * ```ts
 * const w = new MemoryRateWindow(1000, systemClock);
 * w.limit('robots', 100); // { success: true, remaining: 99, retryAfterMs: 0 }
 * ```
 */
export class MemoryRateWindow implements RateWindow {
  readonly #windowMs: number;
  readonly #clock: Clock;
  readonly #counts = new Map<string, Counts>();
  // The allow path returns results without allocating when `remaining` is not needed exactly.
  constructor(windowMs: number, clock: Clock) {
    if (!Number.isFinite(windowMs) || windowMs < 1) {
      throw new RangeError(`'windowMs' must be a finite number >= 1: received ${windowMs}`);
    }
    this.#windowMs = windowMs;
    this.#clock = clock;
  }

  limit(identifier: string, limit: number): RateDecision {
    const now = this.#clock.now();
    const windowMs = this.#windowMs;
    const window = Math.floor(now / windowMs);
    let c = this.#counts.get(identifier);
    if (!c) {
      if (this.#counts.size >= 10_000) this.#counts.clear();
      this.#counts.set(identifier, c = { window, current: 0, previous: 0 });
    } else if (c.window !== window) {
      c.previous = window === c.window + 1 ? c.current : 0;
      c.current = 0;
      c.window = window;
    }
    const elapsed = (now % windowMs) / windowMs;
    const weighted = Math.floor(c.previous * (1 - elapsed));
    if (weighted + c.current < limit) {
      c.current++;
      return { success: true, remaining: limit - weighted - c.current, retryAfterMs: 0 };
    }
    const windowEnd = (window + 1) * windowMs;
    let freeAt = windowEnd;
    if (c.current < limit && c.previous > 0) {
      // The previous window's weight must fall below limit - current.
      freeAt = window * windowMs + windowMs * (1 - (limit - c.current) / c.previous);
    }
    return { success: false, remaining: 0, retryAfterMs: Math.max(1, Math.ceil(freeAt - now)) };
  }

  /**
   * Gives back one admission of `identifier` made in the current window (a request this window
   * admitted but a later check refused: it never ran, so it must not count).
   */
  refund(identifier: string): void {
    const c = this.#counts.get(identifier);
    const window = Math.floor(this.#clock.now() / this.#windowMs);
    if (c && c.window === window && c.current > 0) c.current--;
  }
}

/** Options of {@link UpstashRateWindow}. */
export interface UpstashRateWindowOptions {
  /** The store's raw client (`UpstashStore.redis`). */
  redis: Pick<Redis, 'createScript'>;
  /** Window, ms. */
  windowMs: number;
  /** Bound of one call; past it the request is let through (`failOpen: 'timeout'`). */
  timeoutMs: number;
  /** Key prefix. @default 'qf:throttle' */
  prefix?: string;
  /** @default the isolate's shared `metrics` */
  metrics?: Metrics;
  /** Clock, ms since the epoch (tests). @default Date.now */
  now?: () => number;
}

/**
 * A reservation's size as a share of this isolate's admissions of the last full window: about
 * that much of a window's time passes between two store requests at a steady rate.
 */
export const RESERVATION_RATE_SHARE = 0.1;
/**
 * The largest reservation as a share of the limit (at least 1): what one isolate may hold unused
 * at a window's end, so the bound of the admitted rate's shortfall under a saturated window.
 */
export const RESERVATION_LIMIT_SHARE = 0.05;

/**
 * Counts `want` admissions at once in `@upstash/ratelimit`'s sliding window (its keys
 * `<prefix>:<id>:<window>` and arithmetic), granting as many as are within the limit, as that
 * many one-by-one calls would. KEYS: current window, previous window. ARGV: limit, now (ms),
 * window (ms), want. Returns `{ granted, remaining after them }`.
 */
const RESERVE_SCRIPT = `
local limit = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local want = tonumber(ARGV[4])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
local weighted = math.floor((1 - (now % window) / window) * previous)
local free = limit - weighted - current
if free <= 0 then return { 0, 0 } end
local granted = math.min(want, free)
local counted = redis.call('INCRBY', KEYS[1], granted)
if counted == granted then redis.call('PEXPIRE', KEYS[1], window * 2 + 1000) end
return { granted, limit - weighted - counted }`;

/** One identifier's admissions in this isolate. */
interface Reservations {
  /** The window (`floor(now / windowMs)`) the tokens and counts belong to. */
  window: number;
  /** Admissions counted in Redis for this window and not handed out yet. */
  tokens: number;
  /** The shared window's remaining count after the last reservation. */
  sharedRemaining: number;
  /** Admissions handed out in this window and in the one before. */
  admitted: number;
  previousAdmitted: number;
  /** Callers waiting for a reservation. */
  waiting: number;
  /** The reservation in flight. */
  pending: Promise<'ok' | 'timeout' | 'error'> | undefined;
  /** No store request before this time, after a refusal (ms since the epoch). */
  blockedUntil: number;
}

/**
 * Sliding window on Redis with `@upstash/ratelimit`'s keys and arithmetic, shared by every
 * isolate, that costs one store request per reservation instead of one per call: a request that
 * finds no token left reserves several admissions at once (a script counts them in the window
 * only while they are within the limit), and the next calls take them without a store request.
 * A reservation asks for {@link RESERVATION_RATE_SHARE} of this isolate's admissions in its last
 * window, at least the callers waiting and 1, at most {@link RESERVATION_LIMIT_SHARE} of the
 * limit (at least 1: small limits are counted call by call, exactly as before).
 *
 * Bounds: every admission is counted in Redis before it is handed out, so the isolates together
 * never pass the limit. Tokens left at a window's end are dropped (they were counted there, and
 * weigh on the next window as the sliding window says): a saturated window may admit up to one
 * reservation per isolate fewer than its limit. Fail-opens (timeout, error) are counted as
 * `throttle.fail_open`; reservations as `throttle.window.reservations` and
 * `throttle.window.reserved` (admissions counted by them).
 *
 * After a refusal the identifier is blocked locally for `windowMs / limit` (the time one
 * admission takes to free in a saturated sliding window), not until the window's end as
 * `@upstash/ratelimit`'s ephemeral cache does: blocking to the end let a saturated window admit
 * only about half its limit (the next window then starts with the previous one weighing `limit /
 * 2` and blocks again at the first refusal). Redis is asked at most once per block per isolate.
 *
 * @example
 * ```ts
 * const w = new UpstashRateWindow({ redis: store.redis, windowMs: 1000, timeoutMs: 50 });
 * await w.limit('robots', 100);
 * ```
 */
export class UpstashRateWindow implements RateWindow {
  readonly #options: UpstashRateWindowOptions;
  readonly #prefix: string;
  readonly #now: () => number;
  readonly #script: { exec(keys: string[], args: string[]): Promise<unknown> };
  readonly #byIdentifier = new Map<string, Reservations>();
  readonly #metrics: Metrics;

  constructor(options: UpstashRateWindowOptions) {
    this.#options = options;
    this.#prefix = options.prefix ?? 'qf:throttle';
    this.#now = options.now ?? Date.now;
    this.#metrics = options.metrics ?? sharedMetrics;
    // EVALSHA, and EVAL once when Redis does not know the script.
    this.#script = options.redis.createScript<unknown>(RESERVE_SCRIPT);
  }

  /** The reservations of `identifier`, rolled over to the window of `now`. */
  #reservations(identifier: string, now: number): Reservations {
    const window = Math.floor(now / this.#options.windowMs);
    let r = this.#byIdentifier.get(identifier);
    if (r === undefined) {
      if (this.#byIdentifier.size >= 10_000) this.#byIdentifier.clear();
      r = {
        window,
        tokens: 0,
        sharedRemaining: 0,
        admitted: 0,
        previousAdmitted: 0,
        waiting: 0,
        pending: undefined,
        blockedUntil: 0,
      };
      this.#byIdentifier.set(identifier, r);
    } else if (r.window !== window) {
      r.previousAdmitted = window === r.window + 1 ? r.admitted : 0;
      r.admitted = 0;
      r.tokens = 0; // counted in their window: never handed out in another
      r.window = window;
    }
    return r;
  }

  /** Hands out one reserved admission, if any is left. */
  #take(r: Reservations): RateDecision | undefined {
    if (r.tokens <= 0) return undefined;
    r.tokens--;
    r.admitted++;
    return { success: true, remaining: r.sharedRemaining + r.tokens, retryAfterMs: 0 };
  }

  limit(identifier: string, limit: number): RateDecision | Promise<RateDecision> {
    const now = this.#now();
    const r = this.#reservations(identifier, now);
    const taken = this.#take(r);
    if (taken !== undefined) return taken;
    if (r.blockedUntil > now) {
      return { success: false, remaining: 0, retryAfterMs: Math.ceil(r.blockedUntil - now) };
    }
    return this.#reserveAndTake(identifier, r, limit);
  }

  async #reserveAndTake(identifier: string, r: Reservations, limit: number): Promise<RateDecision> {
    r.waiting++;
    try {
      // Each pass either takes a token, or sees a refusal or a failure; another pass only when
      // the callers that joined the same reservation took all it granted.
      for (let pass = 0; pass < 8; pass++) {
        r.pending ??= this.#reserve(identifier, r, limit).finally(() => {
          r.pending = undefined;
        });
        const outcome = await r.pending;
        if (outcome !== 'ok') {
          this.#metrics.increment('throttle.fail_open');
          return { success: true, remaining: 0, retryAfterMs: 0, failOpen: outcome };
        }
        const now = this.#now();
        const current = this.#reservations(identifier, now);
        const taken = this.#take(current);
        if (taken !== undefined) return taken;
        if (current.blockedUntil > now) {
          const retryAfterMs = Math.ceil(current.blockedUntil - now);
          return { success: false, remaining: 0, retryAfterMs };
        }
      }
      return { success: false, remaining: 0, retryAfterMs: 1 };
    } finally {
      r.waiting--;
    }
  }

  /** One store request: reserves admissions for `identifier`'s current window. */
  async #reserve(
    identifier: string,
    r: Reservations,
    limit: number,
  ): Promise<'ok' | 'timeout' | 'error'> {
    const { windowMs, timeoutMs } = this.#options;
    const now = this.#now();
    const window = Math.floor(now / windowMs);
    const byRate = Math.ceil(Math.max(r.admitted, r.previousAdmitted) * RESERVATION_RATE_SHARE);
    const cap = Math.max(1, Math.floor(limit * RESERVATION_LIMIT_SHARE));
    const want = Math.max(1, r.waiting, Math.min(byRate, cap));
    const counter = `${this.#prefix}:${identifier}`;
    const keys = [`${counter}:${window}`, `${counter}:${window - 1}`];
    let timer: ReturnType<typeof setTimeout> | undefined;
    let reply: unknown;
    try {
      const call = this.#script.exec(keys, [
        String(limit),
        String(now),
        String(windowMs),
        String(want),
      ]);
      call.catch(() => {}); // a late rejection after the timeout is not unhandled
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
      });
      reply = await Promise.race([call, timeout]);
    } catch {
      return 'error';
    } finally {
      clearTimeout(timer);
    }
    if (reply === 'timeout') return 'timeout';
    const [granted, remaining] = (reply as unknown[]).map(Number);
    this.#metrics.increment('throttle.window.reservations');
    const current = this.#reservations(identifier, this.#now());
    if (!(granted > 0)) {
      // Refused: ask again once one admission frees in a saturated sliding window.
      const windowEnd = (window + 1) * windowMs;
      const blockMs = Math.max(
        1,
        Math.min(Math.ceil(windowMs / Math.max(1, limit)), windowEnd - now),
      );
      current.blockedUntil = now + blockMs;
      return 'ok';
    }
    this.#metrics.increment('throttle.window.reserved', granted);
    // Granted in `window`: handed out only while it lasts.
    if (current.window === window) {
      current.tokens += granted;
      current.sharedRemaining = Math.max(0, remaining);
    }
    return 'ok';
  }
}
