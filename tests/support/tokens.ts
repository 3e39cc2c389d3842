/**
 * Every credential the trust suites send, made in one place so the signing scheme can change
 * without touching the suites. User tokens are signed as Supabase Auth signs them (ES256 with the
 * checkout's local signing key, whose JWKS the dev server serves); the legacy anon and
 * service_role keys are HS256 JWTs with the local secret.
 *
 * @module
 */
import { LOCAL_JWT_SECRET, LOCAL_SECRET_KEY, signLocalJwt } from '../../shared/http/auth.ts';
import { LOCAL_PUBLISHABLE_KEY, signLocalUserToken } from '../../scripts/local_keys.ts';

const encoder = new TextEncoder();
const base64url = (bytes: Uint8Array | string) =>
  btoa(String.fromCharCode(...(typeof bytes === 'string' ? encoder.encode(bytes) : bytes)))
    .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

/**
 * Signs `claims` the way the servers under test accept (the one place tokens are created).
 *
 * @example
 * ```ts
 * const token = await signTestToken({ role: 'authenticated', sub: crypto.randomUUID() });
 * ```
 */
export function signTestToken(
  claims: Record<string, unknown>,
  secret: string = LOCAL_JWT_SECRET,
): Promise<string> {
  return signLocalJwt(claims, secret);
}

/** A signed-in user's access token, as Supabase Auth issues it (ES256, local signing key). */
export const userToken = (sub: string): Promise<string> => signLocalUserToken({ sub });

/** The same user's token in the legacy scheme (HS256 with the JWT secret). */
export const legacyUserToken = (sub: string): Promise<string> =>
  signTestToken({ role: 'authenticated', sub, aud: 'authenticated' });

/** The project's publishable key (sent in `apikey`), the new generation of the anon key. */
export const publishableKey = (): string => LOCAL_PUBLISHABLE_KEY;

/** The project's anon key. */
export const anonKey = (): Promise<string> => signTestToken({ role: 'anon' });

/** The service_role key (operators, cron). */
export const serviceKey = (): Promise<string> => signTestToken({ role: 'service_role' });

/** The secrets a response must never reveal. */
export const SECRETS: readonly string[] = [LOCAL_JWT_SECRET, LOCAL_SECRET_KEY];

/**
 * Tokens that must all be refused with a JSON 401: expired, `alg: none`, signed with another
 * secret, a payload changed after signing (claiming `victim`'s id), and plain garbage.
 *
 * @example
 * ```ts
 * for (const [name, token] of Object.entries(await badTokens(victimId))) { ... }
 * ```
 */
export async function badTokens(victim: string): Promise<Record<string, string>> {
  const now = Math.floor(Date.now() / 1000);
  const attacker = await userToken(crypto.randomUUID());
  const [header, , signature] = attacker.split('.');
  const forgedPayload = base64url(
    JSON.stringify({ role: 'authenticated', sub: victim, iat: now, exp: now + 3600 }),
  );
  return {
    expired: await signTestToken({
      role: 'authenticated',
      sub: victim,
      iat: now - 7200,
      exp: now - 3600,
    }),
    notYetValid: await signTestToken({ role: 'authenticated', sub: victim, nbf: now + 3600 }),
    algNone: `${base64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${forgedPayload}.`,
    algNoneSigned: `${
      base64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))
    }.${forgedPayload}.${signature}`,
    wrongSecret: await signTestToken(
      { role: 'authenticated', sub: victim },
      'another-secret-another-secret-another-secret-0000',
    ),
    tampered: `${header}.${forgedPayload}.${signature}`,
    serviceForged: `${header}.${base64url(JSON.stringify({ role: 'service_role' }))}.${signature}`,
    hs512: `${
      base64url(JSON.stringify({ alg: 'HS512', typ: 'JWT' }))
    }.${forgedPayload}.${signature}`,
    rs256: `${base64url(JSON.stringify({ alg: 'RS256', kid: 'x' }))}.${forgedPayload}.${signature}`,
    legacyExpired: await signTestToken({ role: 'authenticated', sub: victim, exp: now - 60 }),
    es256Expired: await signLocalUserToken({ sub: victim }, { expiresInSeconds: -60 }),
    es256Tampered: await (async () => {
      const [h, , sig] = (await signLocalUserToken({ sub: crypto.randomUUID() })).split('.');
      return `${h}.${forgedPayload}.${sig}`;
    })(),
    secretKeyAsBearer: 'sb_secret_' + 'x'.repeat(32),
    garbage: 'not-a-jwt',
    twoParts: `${header}.${forgedPayload}`,
    emptyParts: '..',
    hugeHeader: `${
      base64url('{"alg":"HS256","x":"' + 'a'.repeat(6000) + '"}')
    }.${forgedPayload}.${signature}`,
  };
}
