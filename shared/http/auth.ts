/**
 * Authentication: who is calling. A Supabase JWT in `Authorization: Bearer` (HS256 with the
 * project's JWT secret, or an asymmetric key from the project's JWKS), or, for cron callers that
 * cannot mint JWTs, the shared secret in `x-cron-secret`.
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | `SUPABASE_JWT_SECRET` | the Supabase CLI's local secret | HS256 secret |
 * | `SUPABASE_URL` | unset | with it, asymmetric tokens are checked against `<url>/auth/v1/.well-known/jwks.json` |
 * | `CRON_SECRET` | unset (service routes then need a service_role JWT) | value of `x-cron-secret` |
 *
 * @module
 */
import type { MiddlewareHandler } from 'hono';
import { createMiddleware } from 'hono/factory';
import { decodeHeader, sign, verify, verifyWithJwks } from 'hono/utils/jwt/jwt';
import type { EnvReader } from '../store/mod.ts';
import { processEnv } from '../store/mod.ts';
import { ApiError } from './errors.ts';

/** The Supabase CLI's local JWT secret: the default where `SUPABASE_JWT_SECRET` is unset. */
export const LOCAL_JWT_SECRET = 'super-secret-jwt-token-with-at-least-32-characters-long';

/** The caller, as the functions see it. */
export interface AuthContext {
  /** `anon`, `authenticated`, `service_role`, or `cron` for the shared-secret caller. */
  role: string;
  /** The user's id (`sub`) for `authenticated` callers. */
  userId?: string;
  /** The verified JWT claims (empty for cron callers). */
  claims: Record<string, unknown>;
  /** Whether the caller may run service work (warming, optimizer runs). */
  isService: boolean;
}

/** Context variables set by {@link authenticate}. */
export type AuthVariables = { auth: AuthContext };

/** Options of {@link authenticate}. */
export interface AuthOptions {
  /** Reads configuration. @default the process environment */
  env?: EnvReader;
  /** Reject calls without a valid token (else they proceed as `anon`). @default false */
  required?: boolean;
  /** Only service callers (service_role JWT or cron secret). @default false */
  serviceOnly?: boolean;
}

/** Compares two strings in time independent of where they differ. */
function timingSafeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/**
 * Verifies a Supabase access token and returns its claims.
 *
 * @example
 * ```ts
 * const claims = await verifySupabaseJwt(token, processEnv);
 * ```
 */
export async function verifySupabaseJwt(
  token: string,
  env: EnvReader = processEnv,
): Promise<Record<string, unknown>> {
  const header = decodeHeader(token);
  if (header.alg === 'HS256') {
    return await verify(token, env('SUPABASE_JWT_SECRET') || LOCAL_JWT_SECRET, 'HS256');
  }
  const url = env('SUPABASE_URL');
  if (!url) throw new Error(`tokens signed with ${header.alg} need SUPABASE_URL for the JWKS`);
  return await verifyWithJwks(token, {
    jwks_uri: `${url.replace(/\/$/, '')}/auth/v1/.well-known/jwks.json`,
    allowedAlgorithms: ['RS256', 'ES256'],
  });
}

/**
 * Signs a token as the Supabase CLI does for local development (HS256, one year).
 *
 * @example
 * ```ts
 * const anonKey = await signLocalJwt({ role: 'anon' });
 * ```
 */
export function signLocalJwt(
  claims: Record<string, unknown>,
  secret: string = processEnv('SUPABASE_JWT_SECRET') || LOCAL_JWT_SECRET,
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return sign(
    { iss: 'supabase-demo', iat: now, exp: now + 365 * 86_400, ...claims },
    secret,
    'HS256',
  );
}

/**
 * Middleware that sets `c.var.auth`. A bad token is a 401; a missing one is `anon` unless
 * `required`; `serviceOnly` routes answer 403 to everyone but service callers.
 *
 * @example
 * ```ts
 * app.post('/run', authenticate({ serviceOnly: true }), (c) => c.json({ ok: true }));
 * ```
 */
export function authenticate(
  options: AuthOptions = {},
): MiddlewareHandler<{ Variables: AuthVariables }> {
  const env = options.env ?? processEnv;
  return createMiddleware<{ Variables: AuthVariables }>(async function authenticate(c, next) {
    const cronSecret = env('CRON_SECRET');
    const presented = c.req.header('x-cron-secret');
    if (presented !== undefined) {
      if (!cronSecret || !timingSafeEqual(presented, cronSecret)) {
        throw new ApiError(401, 'invalid_cron_secret', 'x-cron-secret does not match CRON_SECRET');
      }
      c.set('auth', { role: 'cron', claims: {}, isService: true });
      return await next();
    }
    const header = c.req.header('authorization');
    let auth: AuthContext = { role: 'anon', claims: {}, isService: false };
    if (header) {
      const match = /^Bearer\s+(\S+)$/i.exec(header);
      if (!match) {
        throw new ApiError(401, 'invalid_authorization', "Authorization must be 'Bearer <jwt>'");
      }
      let claims: Record<string, unknown>;
      try {
        claims = await verifySupabaseJwt(match[1], env);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        throw new ApiError(401, 'invalid_jwt', `Invalid JWT: ${reason}`);
      }
      const role = typeof claims.role === 'string' ? claims.role : 'anon';
      auth = {
        role,
        userId: typeof claims.sub === 'string' ? claims.sub : undefined,
        claims,
        isService: role === 'service_role',
      };
    } else if (options.required || options.serviceOnly) {
      throw new ApiError(401, 'missing_authorization', 'Authorization: Bearer <jwt> is required');
    }
    if (options.serviceOnly && !auth.isService) {
      throw new ApiError(
        403,
        'service_only',
        'This route needs a service_role JWT or the x-cron-secret header',
      );
    }
    if (options.required && auth.role === 'anon' && !auth.isService) {
      throw new ApiError(401, 'login_required', 'This route needs a signed-in user');
    }
    c.set('auth', auth);
    await next();
  });
}
