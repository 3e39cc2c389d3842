/**
 * The dev server's local Supabase Auth wiring: the CLI's local keys and the checkout's signing key
 * given to the functions, the JWKS route, `/auth/v1/` to the local Auth (scripts/local_auth.ts),
 * and the banner's auth lines.
 *
 * @module
 */
import type { Hono } from 'hono';
import { urlParts } from './gateway.ts';

/** The local JWKS route of Supabase Auth, served next to the functions. */
export const LOCAL_JWKS_PATH = '/auth/v1/.well-known/jwks.json';

/**
 * Gives the functions the local auth configuration, as the Supabase CLI does for its local
 * stack: the CLI's local publishable and secret keys, and the JWKS of the checkout's ES256
 * signing key. Variables already set win (a real project's keys, its JWKS or SUPABASE_URL).
 * Returns the JWKS it serves.
 */
export async function configureLocalAuth(): Promise<{ keys: unknown[] }> {
  const { localJwks, LOCAL_PUBLISHABLE_KEY, LOCAL_SECRET_KEY } = await import('../local_keys.ts');
  const unset = (...names: string[]) => names.every((name) => !Deno.env.get(name));
  if (unset('SUPABASE_PUBLISHABLE_KEYS', 'SUPABASE_PUBLISHABLE_KEY')) {
    Deno.env.set('SUPABASE_PUBLISHABLE_KEYS', JSON.stringify({ default: LOCAL_PUBLISHABLE_KEY }));
  }
  if (unset('SUPABASE_SECRET_KEYS', 'SUPABASE_SECRET_KEY')) {
    Deno.env.set('SUPABASE_SECRET_KEYS', JSON.stringify({ default: LOCAL_SECRET_KEY }));
  }
  const jwks = await localJwks();
  if (unset('SUPABASE_JWKS', 'SUPABASE_JWKS_URL', 'SUPABASE_URL')) {
    Deno.env.set('SUPABASE_JWKS', JSON.stringify(jwks));
  }
  // The functions read the auth variables once per isolate: forget any earlier read.
  const { resetAuthConfig } = await import('../../shared/http/auth/keys.ts');
  resetAuthConfig();
  return jwks;
}

/** Wraps the gateway so `GET /auth/v1/.well-known/jwks.json` answers the local JWKS. */
export function withLocalJwks(handler: Deno.ServeHandler, jwks: unknown): Deno.ServeHandler {
  const body = JSON.stringify(jwks);
  return (request, info) => {
    // URL normalization never makes 'auth' appear: most requests skip the parse.
    if (!request.url.includes('auth') || urlParts(request.url)?.pathname !== LOCAL_JWKS_PATH) {
      return handler(request, info);
    }
    return new Response(request.method === 'HEAD' ? null : body, {
      headers: {
        'content-type': 'application/json',
        'cache-control': 'public, max-age=600',
        'access-control-allow-origin': '*',
      },
    });
  };
}

/** The banner's auth lines: the keys to paste into a client, new generation first. */
export async function localAuthBanner(base: string): Promise<string[]> {
  const { signLocalJwt, LOCAL_JWT_SECRET, readAuthConfig } = await import(
    '../../shared/http/auth.ts'
  );
  const env = (name: string) => Deno.env.get(name);
  const config = readAuthConfig(env);
  const key = (name: string) => {
    const plural = env(`${name}S`);
    if (plural) {
      try {
        return JSON.parse(plural).default ?? '(named keys only)';
      } catch {
        return '(invalid JSON)';
      }
    }
    return env(name) ?? '(unset)';
  };
  const [anon, service] = await Promise.all([
    signLocalJwt({ role: 'anon' }),
    signLocalJwt({ role: 'service_role' }),
  ]);
  const origin = new URL(base).origin;
  return [
    `  publishable key:  ${key('SUPABASE_PUBLISHABLE_KEY')}`,
    `  secret key:       ${key('SUPABASE_SECRET_KEY')}`,
    `  jwks:             ${
      env('SUPABASE_JWKS')
        ? `${origin}${LOCAL_JWKS_PATH} (ES256, local signing key)`
        : config.jwksUrl ?? '(none)'
    }`,
    `  legacy jwt:       HS256 with ${
      env('SUPABASE_JWT_SECRET') ? 'SUPABASE_JWT_SECRET' : `the local secret '${LOCAL_JWT_SECRET}'`
    }`,
    `  legacy anon key:         ${anon}`,
    `  legacy service_role key: ${service}`,
  ];
}

/**
 * Wraps the gateway so `/auth/v1/...` (but the JWKS) goes to the local Supabase Auth.
 * Development only: deployed functions use the project's Supabase Auth.
 */
export function withLocalAuth(
  handler: Deno.ServeHandler,
  auth: Hono | Promise<Hono>,
): Deno.ServeHandler {
  let app: Hono | undefined;
  Promise.resolve(auth).then((loaded) => app = loaded, () => {});
  return (request, info) => {
    if (!request.url.includes('auth')) return handler(request, info);
    const pathname = urlParts(request.url)?.pathname ?? '';
    if (pathname.startsWith('/auth/v1/') && pathname !== LOCAL_JWKS_PATH) {
      return app ? app.fetch(request) : Promise.resolve(auth).then((a) => a.fetch(request));
    }
    return handler(request, info);
  };
}

/** The banner's sign-in lines: where supabase-js signs in, and the seeded demo users. */
export function localSignInBanner(base: string, enabled: boolean): string[] {
  if (!enabled) {
    return ['  sign-in:          the Supabase Auth of SUPABASE_URL (local auth is off)'];
  }
  return [
    `  sign-in:          ${new URL(base).origin}/auth/v1 (email + password for supabase-js;` +
    ' dev server only, never deployed)',
    '  demo users:       alice@example.com, bob@example.com, carol@example.com,' +
    ' password quantforge-demo',
  ];
}
