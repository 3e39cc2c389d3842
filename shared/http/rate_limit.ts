/**
 * Per-caller rate limiting at the HTTP layer: one caller (a signed-in user, else a client
 * address, else an API key) can no longer use up what the others need. The resource throttle of
 * the optimizer stays as the database's protection; this limit comes first and is per caller.
 *
 * On Upstash the windows are shared by every isolate through `@upstash/ratelimit` (sliding
 * window, ephemeral cache on, a short timeout after which the request is let through: "fail
 * open", counted as `ratelimit.fail_open`). On the embedded defaults (memory store) an in-memory
 * sliding window with the same arithmetic is used.
 *
 * | option | variable | default | meaning |
 * |---|---|---|---|
 * | `enabled` | `QF_RATELIMIT_ENABLED` | `true` | off: no limit, no headers |
 * | `anonLimit` | `QF_RATELIMIT_ANON_LIMIT` | `300` | requests per window of one anonymous caller (per address) |
 * | `userLimit` | `QF_RATELIMIT_USER_LIMIT` | `600` | requests per window of one signed-in user |
 * | `serviceLimit` | `QF_RATELIMIT_SERVICE_LIMIT` | `0` | requests per window of a service caller; 0 = exempt |
 * | `windowMs` | `QF_RATELIMIT_WINDOW_MS` | `60000` | length of the sliding window |
 * | `timeoutMs` | `QF_RATELIMIT_TIMEOUT_MS` | `100` | longest wait for Redis before failing open |
 * | `fallbackMs` | `QF_RATELIMIT_FALLBACK_MS` | `1000` | after a fail-open, the isolate's memory window decides for this long |
 * | `prefix` | `QF_RATELIMIT_PREFIX` | `qf:ratelimit` | prefix of the Redis keys |
 *
 * @module
 */
import type { Context, MiddlewareHandler } from 'hono';
import { createMiddleware } from 'hono/factory';
import { Ratelimit } from '@upstash/ratelimit';
import { z } from 'zod';
import type { KeyValueStore } from '../store/mod.ts';
import { getStore } from '../store/mod.ts';
import { type EnvReader, processEnv } from '../runtime/env.ts';
import type { UpstashStore } from '../store/upstash.ts';
import { ConfigError, type EnvBinding, readEnvBindings } from '../optimizer/env.ts';
import { type Metrics, metrics as isolateMetrics } from '../optimizer/metrics.ts';
import type { AuthContext } from './auth.ts';
import { ApiError, errorResponse } from './errors.ts';

/** Which limit applies to a caller. */
export type CallerTier = 'anon' | 'user' | 'service';

/** Why a decision was not a plain answer of the window. */
export type RateLimitReason =
  /** Redis did not answer within `timeoutMs`: let through. */
  | 'timeout'
  /** Redis failed: let through. */
  | 'error'
  /** The isolate's memory window decided because Redis failed a moment ago. */
  | 'fallback'
  /** `@upstash/ratelimit`'s ephemeral cache denied without asking Redis. */
  | 'cacheBlock'
  /** `@upstash/ratelimit`'s deny list. */
  | 'denyList';

/** One decision. */
export interface RateLimitDecision {
  /** Whether the request may pass. */
  success: boolean;
  /** Requests allowed per window. */
  limit: number;
  /** Requests left in the window after this one. */
  remaining: number;
  /** When the window has room again, Unix ms. */
  reset: number;
  /** Set when the decision is not a plain answer of the shared window. */
  reason?: RateLimitReason;
}

/** Decides whether `identifier` may make one more request under `limit` per window. */
export interface CallerRateLimiter {
  /** `memory` or `upstash`. */
  readonly backend: string;
  limit(identifier: string, tier: CallerTier, limit: number): Promise<RateLimitDecision>;
}

/** Options of {@link rateLimitByCaller}, all with defaults from the environment. */
export interface RateLimitOptions {
  /** Off: no limit, no headers. @default true */
  enabled?: boolean;
  /** Requests per window of one anonymous caller (per client address). @default 300 */
  anonLimit?: number;
  /** Requests per window of one signed-in user. @default 600 */
  userLimit?: number;
  /** Requests per window of one service caller (service_role, cron); 0 = exempt. @default 0 */
  serviceLimit?: number;
  /** Length of the sliding window, ms. @default 60000 */
  windowMs?: number;
  /** Longest wait for Redis before failing open, ms (`@upstash/ratelimit` waits 5 s). @default 100 */
  timeoutMs?: number;
  /** After a fail-open the isolate's memory window decides for this long, ms. @default 1000 */
  fallbackMs?: number;
  /** Prefix of the Redis keys. @default 'qf:ratelimit' */
  prefix?: string;
  /** The store whose backend picks the limiter. @default getStore() */
  store?: KeyValueStore;
  /** A limiter of your own (tests); wins over `store`. */
  limiter?: CallerRateLimiter;
  /** Where fail-opens and denials are counted. @default the isolate's metrics */
  metrics?: Metrics;
  /** Reads the `QF_RATELIMIT_*` variables. @default the process environment */
  env?: EnvReader;
}

/** The settings, defaults applied. */
export const rateLimitSettingsSchema = z.object({
  enabled: z.boolean().default(true),
  anonLimit: z.number().int().min(1).max(1_000_000).default(300),
  userLimit: z.number().int().min(1).max(1_000_000).default(600),
  serviceLimit: z.number().int().min(0).max(1_000_000).default(0),
  windowMs: z.number().int().min(100).max(86_400_000).default(60_000),
  timeoutMs: z.number().int().min(1).max(10_000).default(100),
  fallbackMs: z.number().int().min(0).max(600_000).default(1_000),
  prefix: z.string().min(1).max(100).default('qf:ratelimit'),
}).strict();

/** {@link RateLimitOptions} with defaults applied. */
export type RateLimitSettings = z.infer<typeof rateLimitSettingsSchema>;

/** Every `QF_RATELIMIT_*` variable and the option it sets (README and docs/security.md). */
export const rateLimitEnvBindings: readonly EnvBinding[] = [
  { env: 'QF_RATELIMIT_ENABLED', path: 'enabled', type: 'boolean' },
  { env: 'QF_RATELIMIT_ANON_LIMIT', path: 'anonLimit', type: 'number' },
  { env: 'QF_RATELIMIT_USER_LIMIT', path: 'userLimit', type: 'number' },
  { env: 'QF_RATELIMIT_SERVICE_LIMIT', path: 'serviceLimit', type: 'number' },
  { env: 'QF_RATELIMIT_WINDOW_MS', path: 'windowMs', type: 'number' },
  { env: 'QF_RATELIMIT_TIMEOUT_MS', path: 'timeoutMs', type: 'number' },
  { env: 'QF_RATELIMIT_FALLBACK_MS', path: 'fallbackMs', type: 'number' },
  { env: 'QF_RATELIMIT_PREFIX', path: 'prefix', type: 'string' },
];

/**
 * Reads the settings from the environment; defined values in `overrides` win.
 *
 * @example
 * ```ts
 * rateLimitSettingsFromEnv(() => undefined).anonLimit; // 300
 * ```
 */
export function rateLimitSettingsFromEnv(
  env: EnvReader = processEnv,
  overrides: Partial<RateLimitSettings> = {},
): RateLimitSettings {
  const defined = Object.fromEntries(
    Object.entries(overrides).filter(([name, value]) =>
      value !== undefined && name in rateLimitSettingsSchema.shape
    ),
  );
  const result = rateLimitSettingsSchema.safeParse({
    ...readEnvBindings(rateLimitEnvBindings, env),
    ...defined,
  });
  if (!result.success) {
    const issue = result.error.issues[0];
    const binding = rateLimitEnvBindings.find((b) => b.path === issue.path.join('.'));
    throw new ConfigError(
      `rate limit option '${issue.path.join('.')}'${
        binding ? ` (${binding.env})` : ''
      } ${issue.message}`,
    );
  }
  return result.data;
}

// ---------------------------------------------------------------------------------------------
// Memory: a sliding window with `@upstash/ratelimit`'s arithmetic, per isolate.

interface WindowState {
  window: number;
  current: number;
  previous: number;
}

/** Options of {@link MemorySlidingWindow}. */
export interface MemorySlidingWindowOptions {
  /** Length of the window, ms. @default 60000 */
  windowMs?: number;
  /** Identifiers tracked; the least recently seen are forgotten beyond it. @default 100000 */
  maxIdentifiers?: number;
  /** Clock. @default Date.now */
  now?: () => number;
}

/**
 * An in-memory sliding window (the embedded default, and the fallback while Redis fails): the
 * count of the previous window, weighted by how much of it still overlaps, plus the current one.
 *
 * @example
 * ```ts
 * const window = new MemorySlidingWindow({ windowMs: 1000 });
 * (await window.limit('ip:203.0.113.7', 'anon', 10)).success; // true
 * ```
 */
export class MemorySlidingWindow implements CallerRateLimiter {
  readonly backend = 'memory';
  readonly windowMs: number;
  #max: number;
  #now: () => number;
  #states = new Map<string, WindowState>();

  constructor(options: MemorySlidingWindowOptions = {}) {
    this.windowMs = options.windowMs ?? 60_000;
    if (!Number.isFinite(this.windowMs) || this.windowMs <= 0) {
      throw new RangeError(`'windowMs' must be a finite number > 0: received ${this.windowMs}`);
    }
    this.#max = options.maxIdentifiers ?? 100_000;
    if (!Number.isInteger(this.#max) || this.#max < 1) {
      throw new RangeError(`'maxIdentifiers' must be an integer >= 1: received ${this.#max}`);
    }
    this.#now = options.now ?? Date.now;
  }

  /** Identifiers currently tracked. */
  get size(): number {
    return this.#states.size;
  }

  limit(identifier: string, tier: CallerTier, limit: number): Promise<RateLimitDecision> {
    return Promise.resolve(this.limitSync(`${tier}:${identifier}`, limit));
  }

  /** The same decision, synchronously. */
  limitSync(key: string, limit: number): RateLimitDecision {
    const now = this.#now();
    const window = Math.floor(now / this.windowMs);
    let state = this.#states.get(key);
    if (state) {
      this.#states.delete(key); // re-inserted below: the map's order is recency
      if (state.window !== window) {
        state = {
          window,
          previous: state.window === window - 1 ? state.current : 0,
          current: 0,
        };
      }
    } else {
      state = { window, current: 0, previous: 0 };
    }
    this.#states.set(key, state);
    while (this.#states.size > this.#max) {
      this.#states.delete(this.#states.keys().next().value!);
    }
    const overlap = 1 - (now - window * this.windowMs) / this.windowMs;
    const used = Math.floor(state.previous * overlap) + state.current;
    const reset = (window + 1) * this.windowMs;
    if (used >= limit) return { success: false, limit, remaining: 0, reset };
    state.current++;
    return { success: true, limit, remaining: Math.max(0, limit - used - 1), reset };
  }
}

// ---------------------------------------------------------------------------------------------
// Upstash: windows shared by every isolate.

/** Options of {@link UpstashCallerLimiter}. */
export interface UpstashCallerLimiterOptions {
  /** The raw client (`UpstashStore.redis`). */
  redis: UpstashStore['redis'];
  /** @default 60000 */
  windowMs?: number;
  /** @default 100 */
  timeoutMs?: number;
  /** @default 1000 */
  fallbackMs?: number;
  /** @default 'qf:ratelimit' */
  prefix?: string;
  /** @default the isolate's metrics */
  metrics?: Metrics;
  /** @default Date.now */
  now?: () => number;
}

/**
 * `@upstash/ratelimit` sliding windows, one `Ratelimit` per tier and limit, created once and
 * kept for the isolate's life (its ephemeral cache only helps that way). A Redis that is slow or
 * down never holds a request longer than `timeoutMs`: the request passes (`reason` `timeout` or
 * `error`, counted as `ratelimit.fail_open`), and for `fallbackMs` afterwards the isolate's
 * memory window decides (`reason: 'fallback'`) instead of waiting on Redis again.
 *
 * @example
 * ```ts
 * const limiter = new UpstashCallerLimiter({ redis: (getStore() as UpstashStore).redis });
 * const decision = await limiter.limit('user:0b6f...', 'user', 600);
 * ```
 */
export class UpstashCallerLimiter implements CallerRateLimiter {
  readonly backend = 'upstash';
  #options: Required<Omit<UpstashCallerLimiterOptions, 'metrics'>>;
  #metrics: Metrics;
  #limiters = new Map<string, Ratelimit>();
  #fallback: MemorySlidingWindow;
  #fallbackUntil = 0;

  constructor(options: UpstashCallerLimiterOptions) {
    this.#options = {
      redis: options.redis,
      windowMs: options.windowMs ?? 60_000,
      timeoutMs: options.timeoutMs ?? 100,
      fallbackMs: options.fallbackMs ?? 1_000,
      prefix: options.prefix ?? 'qf:ratelimit',
      now: options.now ?? Date.now,
    };
    this.#metrics = options.metrics ?? isolateMetrics;
    this.#fallback = new MemorySlidingWindow({
      windowMs: this.#options.windowMs,
      now: this.#options.now,
    });
  }

  #limiter(tier: CallerTier, limit: number): Ratelimit {
    const name = `${tier}:${limit}`;
    let limiter = this.#limiters.get(name);
    if (!limiter) {
      limiter = new Ratelimit({
        redis: this.#options.redis,
        limiter: Ratelimit.slidingWindow(limit, `${this.#options.windowMs} ms`),
        prefix: `${this.#options.prefix}:${tier}`,
        ephemeralCache: new Map(),
        timeout: this.#options.timeoutMs,
        analytics: false,
      });
      this.#limiters.set(name, limiter);
    }
    return limiter;
  }

  async limit(identifier: string, tier: CallerTier, limit: number): Promise<RateLimitDecision> {
    const now = this.#options.now();
    if (now < this.#fallbackUntil) {
      return { ...this.#fallback.limitSync(`${tier}:${identifier}`, limit), reason: 'fallback' };
    }
    let reason: RateLimitReason;
    try {
      const result = await this.#limiter(tier, limit).limit(identifier);
      if (result.reason !== 'timeout') {
        // Keep the memory window warm so a fallback starts from what this isolate has seen.
        if (result.success) this.#fallback.limitSync(`${tier}:${identifier}`, limit);
        return {
          success: result.success,
          limit: result.limit,
          remaining: result.remaining,
          reset: result.reset,
          ...(result.reason ? { reason: result.reason } : {}),
        };
      }
      reason = 'timeout';
    } catch {
      reason = 'error';
    }
    this.#metrics.increment('ratelimit.fail_open');
    this.#metrics.increment(`ratelimit.fail_open.${reason}`);
    this.#fallbackUntil = now + this.#options.fallbackMs;
    // Counted locally, but let through whatever the memory window says: the store failed.
    const local = this.#fallback.limitSync(`${tier}:${identifier}`, limit);
    return { ...local, success: true, reason };
  }
}

// ---------------------------------------------------------------------------------------------
// Who is calling.

const ADDRESS = /^[0-9a-fA-F:.]{2,45}$/;

function address(value: string | undefined): string | undefined {
  const first = value?.split(',')[0]?.trim();
  return first && ADDRESS.test(first) ? first.toLowerCase() : undefined;
}

async function digest(text: string): Promise<string> {
  const bytes = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return [...new Uint8Array(bytes).slice(0, 12)].map((b) => b.toString(16).padStart(2, '0'))
    .join('');
}

/**
 * The caller's tier and identifier: the user id for signed-in users; else the client address
 * (`x-forwarded-for`'s first hop, `cf-connecting-ip`, the connection's address); else a hash of
 * the API key the caller presented (never the key itself).
 *
 * @example
 * ```ts
 * app.get('/who', (c) => c.json(await callerIdentity(c))); // { tier: 'anon', identifier: 'ip:...' }
 * ```
 */
export async function callerIdentity(
  c: Context,
): Promise<{ tier: CallerTier; identifier: string }> {
  const auth = c.get('auth') as AuthContext | undefined;
  if (auth?.isService) {
    return { tier: 'service', identifier: `service:${auth.userId ?? auth.role}` };
  }
  if (auth?.userId && auth.role === 'authenticated') {
    return { tier: 'user', identifier: `user:${auth.userId.toLowerCase()}` };
  }
  const env = c.env as { remoteAddr?: { hostname?: string } } | undefined;
  const ip = address(c.req.header('x-forwarded-for')) ??
    address(c.req.header('cf-connecting-ip')) ??
    address(env?.remoteAddr?.hostname);
  if (ip) return { tier: 'anon', identifier: `ip:${ip}` };
  const key = c.req.header('apikey') ??
    /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '')?.[1];
  if (key) return { tier: 'anon', identifier: `key:${await digest(key)}` };
  return { tier: 'anon', identifier: 'anonymous' };
}

/** Context variables set by {@link rateLimitByCaller}. */
export type RateLimitVariables = { rateLimit?: RateLimitDecision };

/**
 * Creates the limiter the store calls for: `@upstash/ratelimit` on an Upstash store (sharing
 * its client), the memory sliding window otherwise.
 *
 * @example
 * ```ts
 * const limiter = createCallerRateLimiter(rateLimitSettingsFromEnv(), getStore());
 * ```
 */
export function createCallerRateLimiter(
  settings: RateLimitSettings,
  store: KeyValueStore,
  metrics: Metrics = isolateMetrics,
): CallerRateLimiter {
  // Auto-pipelined: a burst's rate checks share one round trip per tick (rate windows need no
  // order against the cache's commands, which stay on the store's ordered client).
  const upstash = store as Partial<UpstashStore>;
  const redis = upstash.batchedRedis ?? upstash.redis;
  if (store.backend === 'upstash' && redis) {
    return new UpstashCallerLimiter({
      redis,
      windowMs: settings.windowMs,
      timeoutMs: settings.timeoutMs,
      fallbackMs: settings.fallbackMs,
      prefix: settings.prefix,
      metrics,
    });
  }
  return new MemorySlidingWindow({ windowMs: settings.windowMs });
}

/**
 * Middleware that limits each caller to its tier's requests per window. Place it after
 * `authenticate()`: it reads `c.get('auth')`. Every response it lets through, and every 429,
 * carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds); a 429 is
 * `{ error: { code: 'rate_limited', message } }` with `Retry-After`. Service callers are exempt
 * unless `serviceLimit` is set. The limiter is created once, on the first request, and kept for
 * the isolate's life.
 *
 * @example
 * ```ts
 * const app = createFunctionApp<RobotsEnv>('robots');
 * app.use('*', authenticate());
 * app.use('*', rateLimitByCaller()); // QF_RATELIMIT_* from the environment
 * app.get('/public', (c) => c.json({ data: [] }));
 * ```
 */
export function rateLimitByCaller(
  options: RateLimitOptions = {},
): MiddlewareHandler<{ Variables: RateLimitVariables }> {
  const settings = rateLimitSettingsFromEnv(options.env ?? processEnv, options);
  const counters = options.metrics ?? isolateMetrics;
  let limiter: CallerRateLimiter | undefined = options.limiter;
  return createMiddleware<{ Variables: RateLimitVariables }>(
    async function rateLimitByCaller(c, next) {
      if (!settings.enabled || c.req.method === 'OPTIONS') return await next();
      const { tier, identifier } = await callerIdentity(c);
      const limit = tier === 'anon'
        ? settings.anonLimit
        : tier === 'user'
        ? settings.userLimit
        : settings.serviceLimit;
      if (limit === 0) return await next(); // exempt
      limiter ??= createCallerRateLimiter(settings, options.store ?? getStore(), counters);
      const decision = await limiter.limit(identifier, tier, limit);
      c.set('rateLimit', decision);
      const resetSeconds = Math.max(0, Math.ceil((decision.reset - Date.now()) / 1000));
      const headers = {
        'ratelimit-limit': String(decision.limit),
        'ratelimit-remaining': String(decision.remaining),
        'ratelimit-reset': String(resetSeconds),
      };
      if (!decision.success) {
        counters.increment(`ratelimit.denied.${tier}`);
        const retryAfter = Math.max(1, resetSeconds);
        return errorResponse(
          c,
          new ApiError(
            429,
            'rate_limited',
            `Too many requests: ${limit} per ${
              settings.windowMs / 1000
            } s for this caller; retry in ${retryAfter} s`,
            { headers: { ...headers, 'retry-after': String(retryAfter) } },
          ),
        );
      }
      await next();
      for (const [name, value] of Object.entries(headers)) c.header(name, value);
    },
  );
}
