/**
 * Local auth material: the asymmetric (ES256) key that signs local user tokens, generated once
 * per checkout and kept in the git-ignored `supabase/.temp/local_signing_keys.json` (the Supabase
 * CLI's `signing_keys_path` format: a JSON array of private JWKs), its public JWKS, and the local
 * API keys. The dev server serves the JWKS at `/auth/v1/.well-known/jwks.json` and hands it to the
 * functions as `SUPABASE_JWKS`, so local tokens go through the same verification as production.
 *
 * @module
 */
import { base64UrlEncode } from '../shared/http/auth/jwt.ts';
import type { Jwk } from '../shared/http/auth/keys.ts';
import {
  LOCAL_JWT_SECRET,
  LOCAL_PUBLISHABLE_KEY,
  LOCAL_SECRET_KEY,
} from '../shared/http/auth/keys.ts';

export { LOCAL_JWT_SECRET, LOCAL_PUBLISHABLE_KEY, LOCAL_SECRET_KEY };

/** Where the local signing key is kept (git-ignored). */
export const LOCAL_SIGNING_KEYS_PATH = new URL(
  '../supabase/.temp/local_signing_keys.json',
  import.meta.url,
);

/** The issuer of local user tokens: the Supabase CLI's local auth URL. */
export const LOCAL_ISSUER = 'http://127.0.0.1:54321/auth/v1';

/** A private signing key and its public half. */
export interface LocalSigningKey {
  kid: string;
  privateJwk: Jwk;
  publicJwk: Jwk;
}

async function generate(): Promise<Jwk[]> {
  const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ]);
  const jwk = await crypto.subtle.exportKey('jwk', pair.privateKey);
  return [{
    ...jwk,
    kty: 'EC',
    kid: crypto.randomUUID(),
    use: 'sig',
    alg: 'ES256',
    key_ops: ['sign', 'verify'],
  }];
}

function toSigningKey(jwk: Jwk): LocalSigningKey {
  const { kty, crv, x, y, kid } = jwk;
  if (kty !== 'EC' || crv !== 'P-256' || typeof kid !== 'string' || typeof jwk.d !== 'string') {
    throw new Error('the local signing key file must hold an ES256 (P-256) private JWK with a kid');
  }
  return { kid, privateJwk: jwk, publicJwk: { kty, crv, x, y, kid, use: 'sig', alg: 'ES256' } };
}

const loaded = new Map<string, Promise<LocalSigningKey>>();

/**
 * The checkout's local signing key, created on first use. Concurrent first uses (tests in
 * parallel, the dev server) agree on one key: the file appears atomically (hard link).
 *
 * @example
 * ```ts
 * const { kid, publicJwk } = await localSigningKey();
 * ```
 */
export function localSigningKey(path: URL = LOCAL_SIGNING_KEYS_PATH): Promise<LocalSigningKey> {
  let key = loaded.get(path.href);
  if (!key) {
    key = (async () => {
      try {
        return toSigningKey(JSON.parse(await Deno.readTextFile(path))[0]);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
      await Deno.mkdir(new URL('.', path), { recursive: true });
      const temporary = new URL(`${path.pathname}.${crypto.randomUUID()}.tmp`, path);
      await Deno.writeTextFile(temporary, JSON.stringify(await generate(), null, 2) + '\n', {
        mode: 0o600,
      });
      try {
        await Deno.link(temporary.pathname, path.pathname);
      } catch (error) {
        if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      } finally {
        await Deno.remove(temporary);
      }
      return toSigningKey(JSON.parse(await Deno.readTextFile(path))[0]);
    })();
    key.catch(() => loaded.delete(path.href));
    loaded.set(path.href, key);
  }
  return key;
}

/**
 * The public JWKS of the local signing key, as `/auth/v1/.well-known/jwks.json` serves it.
 *
 * @example
 * ```ts
 * Deno.env.set('SUPABASE_JWKS', JSON.stringify(await localJwks()));
 * ```
 */
export async function localJwks(path?: URL): Promise<{ keys: Jwk[] }> {
  return { keys: [(await localSigningKey(path)).publicJwk] };
}

const privateKeys = new Map<string, Promise<CryptoKey>>();

/**
 * Signs an ES256 JWT with a private JWK (tests sign with other keys to prove they are refused).
 *
 * @example
 * ```ts
 * const token = await signEs256({ sub: 'u', exp: 2e9 }, privateJwk);
 * ```
 */
export async function signEs256(
  payload: Record<string, unknown>,
  privateJwk: Jwk,
  header: Record<string, unknown> = {},
): Promise<string> {
  const cacheKey = `${privateJwk.kid}:${privateJwk.d}`;
  let key = privateKeys.get(cacheKey);
  if (!key) {
    const { kty, crv, x, y, d } = privateJwk as Record<string, string>;
    key = crypto.subtle.importKey(
      'jwk',
      { kty, crv, x, y, d },
      { name: 'ECDSA', namedCurve: 'P-256' },
      false,
      ['sign'],
    );
    privateKeys.set(cacheKey, key);
  }
  const input = `${
    base64UrlEncode(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid: privateJwk.kid, ...header }))
  }.${base64UrlEncode(JSON.stringify(payload))}`;
  const signature = await crypto.subtle.sign(
    { name: 'ECDSA', hash: 'SHA-256' },
    await key,
    new TextEncoder().encode(input),
  );
  return `${input}.${base64UrlEncode(new Uint8Array(signature))}`;
}

/** Options of {@link signLocalUserToken}. */
export interface LocalUserTokenOptions {
  /** Lifetime in seconds. @default 3600 (Supabase Auth's default) */
  expiresInSeconds?: number;
  /** `iss`. @default `<SUPABASE_URL>/auth/v1`, else {@link LOCAL_ISSUER} */
  issuer?: string;
  /** Key file. @default {@link LOCAL_SIGNING_KEYS_PATH} */
  path?: URL;
}

/**
 * Signs a user access token as Supabase Auth does (ES256 with the local signing key): `sub`
 * is required; `role` and `aud` default to `authenticated`.
 *
 * @example
 * ```ts
 * const token = await signLocalUserToken({ sub: crypto.randomUUID(), email: 'a@example.com' });
 * await fetch(url, { headers: { authorization: `Bearer ${token}`, apikey: LOCAL_PUBLISHABLE_KEY } });
 * ```
 */
export async function signLocalUserToken(
  claims: Record<string, unknown> & { sub: string },
  options: LocalUserTokenOptions = {},
): Promise<string> {
  const { privateJwk } = await localSigningKey(options.path);
  const now = Math.floor(Date.now() / 1000);
  const url = Deno.env.get('SUPABASE_URL')?.replace(/\/$/, '');
  return await signEs256({
    iss: options.issuer ?? (url ? `${url}/auth/v1` : LOCAL_ISSUER),
    aud: 'authenticated',
    role: 'authenticated',
    iat: now,
    exp: now + (options.expiresInSeconds ?? 3600),
    aal: 'aal1',
    is_anonymous: false,
    ...claims,
  }, privateJwk);
}
