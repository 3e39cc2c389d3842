/**
 * Authentication: who is calling, with Supabase's auth modes (`user`, `publishable`, `secret`,
 * `none`, as `@supabase/server` names them) and its environment variables. Supabase's new API
 * keys (`sb_publishable_...`, `sb_secret_...`), user JWTs signed by the project's asymmetric keys
 * (JWKS), and, as a fallback until they are retired, the legacy anon/service_role JWTs, the HS256
 * `SUPABASE_JWT_SECRET` and `x-cron-secret`. Every token's signature is checked once per isolate
 * and remembered until it expires. See docs/auth.md.
 *
 * The pieces live in `auth/`: `keys.ts` (configuration, key comparison), `jwt.ts` (decoding,
 * signature and claim checks), `jwks.ts` (signing keys), `cache.ts` (verified tokens),
 * `verifier.ts`, `modes.ts` (who the caller is).
 *
 * @module
 */
import type { MiddlewareHandler } from 'hono';
import { createMiddleware } from 'hono/factory';
import { sign } from 'hono/utils/jwt/jwt';
import { type EnvReader, processEnv } from '../runtime/env.ts';
import { ApiError } from './errors.ts';
import { LOCAL_JWT_SECRET, readAuthConfig } from './auth/keys.ts';
import { AUTH_MODES, type AuthContext, type AuthMode, resolveCaller } from './auth/modes.ts';
import { TokenVerifier } from './auth/verifier.ts';
import { JwtError } from './auth/jwt.ts';

export {
  AUTH_ENV_VARIABLES,
  LOCAL_JWT_SECRET,
  LOCAL_PUBLISHABLE_KEY,
  LOCAL_SECRET_KEY,
  readAuthConfig,
  resetAuthConfig,
} from './auth/keys.ts';
export { AUTH_MODES, type AuthContext, type AuthMode, type KeyType } from './auth/modes.ts';
export { TokenVerifier, type TokenVerifierOptions } from './auth/verifier.ts';
export { JWT_REASONS, JwtError } from './auth/jwt.ts';

/** Context variables set by {@link authenticate}. */
export type AuthVariables = { auth: AuthContext };

/** Options of {@link authenticate}. */
export interface AuthOptions {
  /** Reads configuration. @default the process environment */
  env?: EnvReader;
  /**
   * The modes this route accepts, tried in order (the first the credentials satisfy wins).
   * With neither `auth` nor the legacy flags: `['user', 'secret', 'publishable', 'none']`
   * (anyone, identified when they present valid credentials).
   */
  auth?: AuthMode | readonly AuthMode[];
  /** Legacy: reject calls without a user or service caller. Same as `auth: ['user', 'secret']`. @default false */
  required?: boolean;
  /** Legacy: only service callers. Same as `auth: 'secret'`. @default false */
  serviceOnly?: boolean;
  /** Verifies tokens (tests inject clocks and fetch). @default the isolate's shared verifier */
  verifier?: TokenVerifier;
}

/** The isolate's verifier: one cache of verified tokens and imported keys for every route. */
export const defaultVerifier: TokenVerifier = new TokenVerifier();

/**
 * The modes a route accepts, from {@link AuthOptions}.
 *
 * @example
 * ```ts
 * authModes({ serviceOnly: true }); // ['secret']
 * ```
 */
export function authModes(options: AuthOptions): readonly AuthMode[] {
  if (options.auth !== undefined) {
    const modes = typeof options.auth === 'string' ? [options.auth] : [...options.auth];
    const unknown = modes.filter((m) => !AUTH_MODES.includes(m));
    if (modes.length === 0 || unknown.length > 0) {
      throw new TypeError(
        `'auth' must be one or more of ${AUTH_MODES.join(', ')}: received ${
          JSON.stringify(options.auth)
        }`,
      );
    }
    return modes;
  }
  if (options.serviceOnly) return ['secret'];
  if (options.required) return ['user', 'secret'];
  return ['user', 'secret', 'publishable', 'none'];
}

/**
 * Verifies a Supabase access token (asymmetric with the JWKS, or legacy HS256) and returns its
 * claims. Throws {@link JwtError} whose message is safe to show.
 *
 * @example
 * ```ts
 * const claims = await verifySupabaseJwt(token, processEnv);
 * ```
 */
export async function verifySupabaseJwt(
  token: string,
  env: EnvReader = processEnv,
  verifier: TokenVerifier = defaultVerifier,
): Promise<Record<string, unknown>> {
  return { ...(await verifier.verify(token, readAuthConfig(env))).claims };
}

/**
 * Signs a token as the Supabase CLI does for its legacy keys (HS256, one year). For local user
 * tokens signed with the asymmetric local key, see `signLocalUserToken` in
 * `scripts/local_keys.ts`.
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
 * Middleware that sets `c.var.auth` for the modes the route accepts. Failures are JSON:
 * 401 `invalid_jwt`, `invalid_api_key`, `invalid_authorization`, `invalid_cron_secret`,
 * `secret_key_in_browser`, `missing_authorization`, `missing_api_key`, `login_required`,
 * `invalid_credentials`;
 * 403 `service_only`. No body ever repeats the credential or describes the configuration.
 *
 * @example
 * ```ts
 * app.post('/run', authenticate({ auth: 'secret' }), (c) => c.json({ ok: true }));
 * app.get('/mine', authenticate({ auth: 'user' }), (c) => c.json(c.var.auth.userId));
 * ```
 */
export function authenticate(
  options: AuthOptions = {},
): MiddlewareHandler<{ Variables: AuthVariables }> {
  return authenticateWith(callerResolver(options));
}

/**
 * {@link authenticate} with a resolver of your own ({@link callerResolver}): the resource apps
 * share one between the middleware and the hit lane (`hit_lane.ts`).
 *
 * @example
 * ```ts
 * const resolve = callerResolver({ auth: 'user' });
 * app.use('*', authenticateWith(resolve));
 * ```
 */
export function authenticateWith(
  resolve: (headers: Headers) => Promise<AuthContext>,
): MiddlewareHandler<{ Variables: AuthVariables }> {
  return createMiddleware<{ Variables: AuthVariables }>(async function authenticate(c, next) {
    c.set('auth', await resolve(c.req.raw.headers));
    await next();
  });
}

/**
 * Who is calling, as {@link authenticate} decides it from a request's headers: the caller, or
 * the `ApiError` (401/403) to answer. For code that answers before Hono's chain (the hit lane,
 * `hit_lane.ts`) and must admit exactly whom the middleware admits.
 *
 * @example
 * ```ts
 * const resolve = callerResolver({ auth: 'user' });
 * const auth = await resolve(request.headers); // throws ApiError 401 without a user
 * ```
 */
export function callerResolver(
  options: AuthOptions = {},
): (headers: Headers) => Promise<AuthContext> {
  const env = options.env ?? processEnv;
  const modes = authModes(options);
  const verifier = options.verifier ?? defaultVerifier;
  return async (headers) => {
    try {
      return await resolveCaller(headers, modes, readAuthConfig(env), verifier);
    } catch (error) {
      if (error instanceof ApiError) throw error;
      if (error instanceof JwtError) {
        throw new ApiError(401, 'invalid_jwt', `Invalid JWT: ${error.message}`);
      }
      // Whatever a credential makes go wrong is the credential's fault for the caller (never a
      // 500 with details); the details go to the log.
      console.warn('auth: unexpected error while verifying credentials', error);
      throw new ApiError(401, 'invalid_credentials', 'The credentials could not be verified');
    }
  };
}
