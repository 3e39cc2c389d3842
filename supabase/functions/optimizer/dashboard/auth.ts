/**
 * Sign-in of the operator dashboard: the key the operator pasted, sent by the page in
 * `x-operator-key`, checked as the same credentials the service routes accept (a secret API key
 * `sb_secret_...`, a legacy service_role JWT, or the cron secret).
 *
 * Why a header of its own: the shared auth refuses secret API keys from browsers (Supabase's
 * API does the same, so a key shipped in a public app is useless). The dashboard is the one
 * browser page that must hold one, so it sends it where gateways and the shared check do not
 * look, and the function accepts it only from the page's own origin (`Sec-Fetch-Site:
 * same-origin`, which browsers set and scripts cannot change): another site's script cannot use
 * this header with a key it got hold of. Requests without the header go through the shared
 * `authenticate({ serviceOnly: true })` unchanged.
 *
 * @module
 */
import type { MiddlewareHandler } from 'hono';
import { createMiddleware } from 'hono/factory';
import { type AuthVariables, defaultVerifier, readAuthConfig } from '@shared/http/auth.ts';
import { authenticate, JwtError } from '@shared/http/auth.ts';
import { resolveCaller } from '@shared/http/auth/modes.ts';
import { ApiError } from '@shared/http/errors.ts';
import { type EnvReader, processEnv } from '@shared/store/mod.ts';

/** The header the dashboard sends the operator's key in. */
export const OPERATOR_KEY_HEADER = 'x-operator-key';

/**
 * The credential headers the shared auth understands for a pasted key: `sb_...` as `apikey`, a
 * JWT as the bearer, anything else as `x-cron-secret`.
 *
 * @example
 * ```ts
 * credentialHeaders('sb_secret_abc').get('apikey'); // 'sb_secret_abc'
 * ```
 */
export function credentialHeaders(key: string): Headers {
  const value = key.trim();
  const headers = new Headers();
  if (value.startsWith('sb_')) headers.set('apikey', value);
  else if (value.startsWith('eyJ')) headers.set('authorization', `Bearer ${value}`);
  else headers.set('x-cron-secret', value);
  return headers;
}

/**
 * Service-only auth that also admits the dashboard's `x-operator-key` from the same origin.
 * 401 `operator_key_cross_site` when a browser sends it from another site; otherwise the shared
 * auth's answers (401 `invalid_api_key`, `invalid_jwt`, `invalid_cron_secret`; 403
 * `service_only` for a publishable/anon key).
 *
 * @example
 * ```ts
 * app.use('*', operatorAuthenticate());
 * ```
 */
export function operatorAuthenticate(
  options: { env?: EnvReader } = {},
): MiddlewareHandler<{ Variables: AuthVariables }> {
  const env = options.env ?? processEnv;
  const standard = authenticate({ serviceOnly: true, env });
  return createMiddleware<{ Variables: AuthVariables }>(
    async function operatorAuthenticate(c, next) {
      const key = c.req.header(OPERATOR_KEY_HEADER);
      if (key === undefined) return await standard(c, next);
      const site = c.req.header('sec-fetch-site');
      if (site !== undefined && site !== 'same-origin') {
        throw new ApiError(
          401,
          'operator_key_cross_site',
          `'${OPERATOR_KEY_HEADER}' is accepted only from the dashboard page itself`,
        );
      }
      try {
        const auth = await resolveCaller(
          credentialHeaders(key),
          ['secret'],
          readAuthConfig(env),
          defaultVerifier,
        );
        c.set('auth', auth);
      } catch (error) {
        if (error instanceof ApiError) throw error;
        if (error instanceof JwtError) {
          throw new ApiError(401, 'invalid_jwt', `Invalid JWT: ${error.message}`);
        }
        console.warn('dashboard auth: unexpected error while verifying the operator key', error);
        throw new ApiError(401, 'invalid_credentials', 'The credentials could not be verified');
      }
      await next();
    },
  );
}
