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
