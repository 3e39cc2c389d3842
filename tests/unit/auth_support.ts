/**
 * Shared fixtures of the auth unit tests (`auth_*_test.ts`): a project on Supabase's new API keys
 * with an inline JWKS and the legacy fallback, ES256 key pairs, a fake clock, the demo app and the
 * refusal-body check. No network.
 */
import assert from 'node:assert/strict';
import { createFunctionApp } from '../../shared/http/app.ts';
import type { BaseVariables } from '../../shared/http/app.ts';
import {
  authenticate,
  type AuthOptions,
  type AuthVariables,
  TokenVerifier,
} from '../../shared/http/auth.ts';
import type { Jwk } from '../../shared/http/auth/keys.ts';
import { signEs256 } from '../../scripts/local_keys.ts';

export const PROJECT = 'https://abcdefghijklmnop.supabase.co';
export const ISSUER = `${PROJECT}/auth/v1`;
export const PUBLISHABLE = 'sb_publishable_testTESTtest1234567890_abcdef';
export const SECRET = 'sb_secret_testTESTtest1234567890_abcdefghijk';
export const CRON_SECRET = 'legacy-cron-secret-value-0123456789';
export const LEGACY_SECRET = 'legacy-project-jwt-secret-with-at-least-32-characters';

export async function keyPair(kid: string): Promise<{ privateJwk: Jwk; publicJwk: Jwk }> {
  const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ]);
  const jwk = await crypto.subtle.exportKey('jwk', pair.privateKey);
  const { kty, crv, x, y } = jwk;
  return {
    privateJwk: { ...jwk, kty: kty!, kid, alg: 'ES256' },
    publicJwk: { kty: kty!, crv, x, y, kid, alg: 'ES256', use: 'sig' },
  };
}

export const current = await keyPair('key-current');
export const standby = await keyPair('key-standby');
export const stranger = await keyPair('key-current'); // same kid, another key: a forgery

export let nowMs = Date.UTC(2026, 10, 22, 12);
export const clock = () => nowMs;
/** Sets the fake clock (a test cannot assign the imported `nowMs`). */
export function setNow(ms: number): void {
  nowMs = ms;
}

export function userClaims(extra: Record<string, unknown> = {}) {
  const now = Math.floor(nowMs / 1000);
  return {
    iss: ISSUER,
    aud: 'authenticated',
    role: 'authenticated',
    sub: 'user-1',
    iat: now,
    exp: now + 3600,
    ...extra,
  };
}

export function userToken(extra: Record<string, unknown> = {}, jwk: Jwk = current.privateJwk) {
  return signEs256(userClaims(extra), jwk);
}

/** A project on the new keys only, with the legacy fallback configured as Supabase provides it. */
export function projectEnv(overrides: Record<string, string | undefined> = {}) {
  const values: Record<string, string | undefined> = {
    SUPABASE_URL: PROJECT,
    SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: PUBLISHABLE }),
    SUPABASE_SECRET_KEYS: JSON.stringify({ default: SECRET, automations: `${SECRET}_2` }),
    SUPABASE_JWKS: JSON.stringify({ keys: [current.publicJwk, standby.publicJwk] }),
    SUPABASE_JWT_SECRET: LEGACY_SECRET,
    CRON_SECRET,
    ...overrides,
  };
  return (name: string) => values[name];
}

export function appFor(options: AuthOptions, verifier = new TokenVerifier({ now: clock })) {
  const app = createFunctionApp<{ Variables: BaseVariables & AuthVariables }>('demo');
  app.post(
    '/',
    authenticate({ env: projectEnv(), verifier, ...options }),
    (c) => c.json(c.get('auth')),
  );
  return app;
}

export async function call(app: ReturnType<typeof appFor>, headers: Record<string, string>) {
  const res = await app.request('/demo', { method: 'POST', headers });
  const body = await res.json();
  return { status: res.status, body, text: JSON.stringify(body) };
}

/** The body of every refusal: no credential echoed, no configuration described. */
export function assertSafe(text: string, secrets: string[]) {
  for (const secret of secrets) {
    assert.ok(!text.includes(secret.slice(0, 24)), `the body repeats a credential: ${text}`);
  }
  assert.doesNotMatch(text, /SUPABASE_[A-Z]|JWKS|jwks|CRON_SECRET|configur|environment/, text);
}
