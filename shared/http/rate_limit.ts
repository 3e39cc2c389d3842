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
 * The pieces live in `rate_limit/`: `settings.ts` (schema, variables), `types.ts` (tiers and
 * decisions), `memory.ts` (the isolate's sliding window), `upstash.ts` (the shared windows, and
 * the choice between them). This file says who is calling and answers the request.
 *
 * @module
 */
import type { Context, MiddlewareHandler } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { KeyValueStore } from '../store/mod.ts';
import { getStore } from '../store/mod.ts';
import { type EnvReader, processEnv } from '../runtime/env.ts';
import { type Metrics, metrics as isolateMetrics } from '../optimizer/metrics.ts';
import type { AuthContext } from './auth.ts';
import { setAnswerHeaders } from './answer.ts';
import { ApiError, errorResponse } from './errors.ts';
import { rateLimitSettingsFromEnv } from './rate_limit/settings.ts';
import type { CallerRateLimiter, CallerTier, RateLimitDecision } from './rate_limit/types.ts';
import { createCallerRateLimiter } from './rate_limit/upstash.ts';

export {
  type CallerRateLimiter,
  type CallerTier,
  type RateLimitDecision,
  type RateLimitReason,
} from './rate_limit/types.ts';
export {
  rateLimitEnvBindings,
  type RateLimitSettings,
  rateLimitSettingsFromEnv,
  rateLimitSettingsSchema,
} from './rate_limit/settings.ts';
export { MemorySlidingWindow, type MemorySlidingWindowOptions } from './rate_limit/memory.ts';
export {
  createCallerRateLimiter,
  UpstashCallerLimiter,
  type UpstashCallerLimiterOptions,
} from './rate_limit/upstash.ts';

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
export function callerIdentity(
  c: Context,
): Promise<{ tier: CallerTier; identifier: string }> {
  const env = c.env as { remoteAddr?: { hostname?: string } } | undefined;
  return identityOf(
    c.get('auth') as AuthContext | undefined,
    c.req.raw.headers,
    env?.remoteAddr?.hostname,
  );
}

/**
 * {@link callerIdentity} from its inputs: the verified caller, the request's headers and the
 * connection's address (what `Deno.serve` gives as `info.remoteAddr.hostname`).
 */
export async function identityOf(
  auth: AuthContext | undefined,
  headers: Headers,
  remoteHostname: string | undefined,
): Promise<{ tier: CallerTier; identifier: string }> {
  if (auth?.isService) {
    return { tier: 'service', identifier: `service:${auth.userId ?? auth.role}` };
  }
  if (auth?.userId && auth.role === 'authenticated') {
    return { tier: 'user', identifier: `user:${auth.userId.toLowerCase()}` };
  }
  const ip = address(headers.get('x-forwarded-for') ?? undefined) ??
    address(headers.get('cf-connecting-ip') ?? undefined) ??
    address(remoteHostname);
  if (ip) return { tier: 'anon', identifier: `ip:${ip}` };
  const key = headers.get('apikey') ??
    /^Bearer\s+(\S+)$/i.exec(headers.get('authorization') ?? '')?.[1];
  if (key) return { tier: 'anon', identifier: `key:${await digest(key)}` };
  return { tier: 'anon', identifier: 'anonymous' };
}

/** Context variables set by {@link rateLimitByCaller}. */
export type RateLimitVariables = { rateLimit?: RateLimitDecision };

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
  return callerRateLimit(options).middleware;
}

/** The outcome of {@link CallerRateLimit.check}: admitted with its headers, or the 429. */
export type RateLimitCheck =
  | { admitted: true; decision?: RateLimitDecision; headers: Record<string, string> }
  | { admitted: false; error: ApiError };

/** One per-caller limit: its middleware, and the same check for code outside Hono's chain. */
export interface CallerRateLimit {
  /** Whether the limit is on (`QF_RATELIMIT_ENABLED`). */
  readonly enabled: boolean;
  /** The middleware {@link rateLimitByCaller} returns. */
  readonly middleware: MiddlewareHandler<{ Variables: RateLimitVariables }>;
  /**
   * Counts one request of this caller: `admitted` with the `RateLimit-*` headers to answer (none
   * when the limit is off or the caller exempt), or the 429 to answer.
   */
  check(
    method: string,
    auth: AuthContext | undefined,
    headers: Headers,
    remoteHostname: string | undefined,
  ): Promise<RateLimitCheck>;
  /**
   * Hands a check already made for `request` to the middleware, which then answers from it
   * instead of counting the request again (the hit lane, when it does not answer).
   */
  decided(request: Request, result: RateLimitCheck): void;
}

const NO_HEADERS: Record<string, string> = Object.freeze({}) as Record<string, string>;

/**
 * The per-caller limit behind {@link rateLimitByCaller}, for the middleware and for the hit
 * lane (`hit_lane.ts`), which answers repeated reads before Hono's chain and must count them the
 * same way.
 *
 * @example
 * ```ts
 * const limit = callerRateLimit({ anonLimit: 100 });
 * app.use('*', limit.middleware);
 * ```
 */
export function callerRateLimit(options: RateLimitOptions = {}): CallerRateLimit {
  const settings = rateLimitSettingsFromEnv(options.env ?? processEnv, options);
  const counters = options.metrics ?? isolateMetrics;
  let limiter: CallerRateLimiter | undefined = options.limiter;
  const taken = new WeakMap<Request, RateLimitCheck>();

  const check: CallerRateLimit['check'] = async (method, auth, headers, remoteHostname) => {
    if (!settings.enabled || method === 'OPTIONS') return { admitted: true, headers: NO_HEADERS };
    const { tier, identifier } = await identityOf(auth, headers, remoteHostname);
    const limit = tier === 'anon'
      ? settings.anonLimit
      : tier === 'user'
      ? settings.userLimit
      : settings.serviceLimit;
    if (limit === 0) return { admitted: true, headers: NO_HEADERS }; // exempt
    limiter ??= createCallerRateLimiter(settings, options.store ?? getStore(), counters);
    const decision = await limiter.limit(identifier, tier, limit);
    const resetSeconds = Math.max(0, Math.ceil((decision.reset - Date.now()) / 1000));
    const answer = {
      'ratelimit-limit': String(decision.limit),
      'ratelimit-remaining': String(decision.remaining),
      'ratelimit-reset': String(resetSeconds),
    };
    if (decision.success) return { admitted: true, decision, headers: answer };
    counters.increment(`ratelimit.denied.${tier}`);
    const retryAfter = Math.max(1, resetSeconds);
    return {
      admitted: false,
      error: new ApiError(
        429,
        'rate_limited',
        `Too many requests: ${limit} per ${
          settings.windowMs / 1000
        } s for this caller; retry in ${retryAfter} s`,
        { headers: { ...answer, 'retry-after': String(retryAfter) } },
      ),
    };
  };

  const middleware = createMiddleware<{ Variables: RateLimitVariables }>(
    async function rateLimitByCaller(c, next) {
      if (!settings.enabled || c.req.method === 'OPTIONS') return await next();
      const env = c.env as { remoteAddr?: { hostname?: string } } | undefined;
      const result = taken.get(c.req.raw) ?? await check(
        c.req.method,
        c.get('auth' as never) as AuthContext | undefined,
        c.req.raw.headers,
        env?.remoteAddr?.hostname,
      );
      if (!result.admitted) return errorResponse(c, result.error);
      if (result.decision) c.set('rateLimit', result.decision);
      await next();
      setAnswerHeaders(c, result.headers);
    },
  );

  return {
    enabled: settings.enabled,
    middleware,
    check,
    decided: (request, result) => void taken.set(request, result),
  };
}
