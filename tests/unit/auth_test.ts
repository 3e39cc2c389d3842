/**
 * Auth modes (user, publishable, secret, none) with Supabase's new API keys, JWKS-signed user
 * tokens and the legacy fallback; the per-isolate cache of verified tokens; key rotation.
 * No network: JWKS are inline or served by an injected fetch.
 */
import assert from 'node:assert/strict';
import { createFunctionApp } from '../../shared/http/app.ts';
import type { BaseVariables } from '../../shared/http/app.ts';
import {
  authenticate,
  type AuthMode,
  authModes,
  type AuthOptions,
  type AuthVariables,
  LOCAL_JWT_SECRET,
  readAuthConfig,
  resetAuthConfig,
  signLocalJwt,
  TokenVerifier,
} from '../../shared/http/auth.ts';
import { processEnv } from '../../shared/runtime/env.ts';
import { VerifiedTokenCache } from '../../shared/http/auth/cache.ts';
import { base64UrlEncode } from '../../shared/http/auth/jwt.ts';
import type { Jwk } from '../../shared/http/auth/keys.ts';
import { signEs256 } from '../../scripts/local_keys.ts';

const PROJECT = 'https://abcdefghijklmnop.supabase.co';
const ISSUER = `${PROJECT}/auth/v1`;
const PUBLISHABLE = 'sb_publishable_testTESTtest1234567890_abcdef';
const SECRET = 'sb_secret_testTESTtest1234567890_abcdefghijk';
const CRON_SECRET = 'legacy-cron-secret-value-0123456789';
const LEGACY_SECRET = 'legacy-project-jwt-secret-with-at-least-32-characters';

async function keyPair(kid: string): Promise<{ privateJwk: Jwk; publicJwk: Jwk }> {
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

const current = await keyPair('key-current');
const standby = await keyPair('key-standby');
const stranger = await keyPair('key-current'); // same kid, another key: a forgery

let nowMs = Date.UTC(2026, 10, 22, 12);
const clock = () => nowMs;

function userClaims(extra: Record<string, unknown> = {}) {
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

function userToken(extra: Record<string, unknown> = {}, jwk: Jwk = current.privateJwk) {
  return signEs256(userClaims(extra), jwk);
}

/** A project on the new keys only, with the legacy fallback configured as Supabase provides it. */
function projectEnv(overrides: Record<string, string | undefined> = {}) {
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

function appFor(options: AuthOptions, verifier = new TokenVerifier({ now: clock })) {
  const app = createFunctionApp<{ Variables: BaseVariables & AuthVariables }>('demo');
  app.post(
    '/',
    authenticate({ env: projectEnv(), verifier, ...options }),
    (c) => c.json(c.get('auth')),
  );
  return app;
}

async function call(app: ReturnType<typeof appFor>, headers: Record<string, string>) {
  const res = await app.request('/demo', { method: 'POST', headers });
  const body = await res.json();
  return { status: res.status, body, text: JSON.stringify(body) };
}

/** The body of every refusal: no credential echoed, no configuration described. */
function assertSafe(text: string, secrets: string[]) {
  for (const secret of secrets) {
    assert.ok(!text.includes(secret.slice(0, 24)), `the body repeats a credential: ${text}`);
  }
  assert.doesNotMatch(text, /SUPABASE_[A-Z]|JWKS|jwks|CRON_SECRET|configur|environment/, text);
}

Deno.test('auth modes: user accepts a JWKS-signed user token, with the publishable key or alone', async () => {
  const app = appFor({ auth: 'user' });
  const token = await userToken({ email: 'a@example.com' });
  const withKey = await call(app, { authorization: `Bearer ${token}`, apikey: PUBLISHABLE });
  assert.equal(withKey.status, 200, withKey.text);
  assert.equal(withKey.body.authMode, 'user');
  assert.equal(withKey.body.role, 'authenticated');
  assert.equal(withKey.body.userId, 'user-1');
  assert.equal(withKey.body.claims.email, 'a@example.com');
  assert.equal(withKey.body.keyType, 'publishable');
  assert.equal(withKey.body.keyName, 'default');
  assert.equal(withKey.body.isService, false);
  const alone = await call(app, { authorization: `Bearer ${token}` });
  assert.equal(alone.status, 200);
  assert.equal(alone.body.keyType, undefined);
  // A token from the standby key of the same JWKS is as good.
  const standbyToken = await userToken({}, standby.privateJwk);
  assert.equal((await call(app, { authorization: `Bearer ${standbyToken}` })).status, 200);
});

Deno.test('auth modes: user refuses expired, wrong issuer, wrong audience, alg=none, tampered, forged, sub-less and missing tokens', async () => {
  const app = appFor({ auth: 'user' });
  const now = Math.floor(nowMs / 1000);
  const good = await userToken();
  const [header, payload] = good.split('.');
  const tamperedPayload = base64UrlEncode(JSON.stringify(userClaims({ sub: 'someone-else' })));
  const cases: [string, string, RegExp][] = [
    ['expired', await userToken({ iat: now - 7200, exp: now - 3600 }), /has expired/],
    ['no expiry', await userToken({ exp: undefined }), /has no expiry/],
    ['not yet valid', await userToken({ nbf: now + 600 }), /not valid yet/],
    ['wrong issuer', await userToken({ iss: 'https://evil.example.com/auth/v1' }), /issuer/],
    ['wrong audience', await userToken({ aud: 'other-app' }), /audience/],
    ['no audience', await userToken({ aud: undefined }), /audience/],
    [
      'alg=none',
      `${base64UrlEncode(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${payload}.`,
      /algorithm/,
    ],
    ['tampered payload', `${header}.${tamperedPayload}.${good.split('.')[2]}`, /signature/],
    ['tampered signature', `${good.slice(0, -4)}AAAA`, /signature/],
    ['same kid, other key', await userToken({}, stranger.privateJwk), /signature/],
    [
      'unknown kid',
      await signEs256(userClaims(), { ...current.privateJwk, kid: 'nope' }),
      /signing key/,
    ],
    ['no subject', await userToken({ sub: undefined }), /no subject/],
    ['not a JWT', 'not.a.jwt', /malformed/],
    ['HS256 with another secret', await signLocalJwt(userClaims(), 'x'.repeat(40)), /signature/],
  ];
  for (const [name, token, reason] of cases) {
    const res = await call(app, { authorization: `Bearer ${token}`, apikey: PUBLISHABLE });
    assert.equal(res.status, 401, `${name}: ${res.text}`);
    assert.equal(res.body.error.code, 'invalid_jwt', name);
    assert.match(res.body.error.message, reason, name);
    assertSafe(res.text, [token, PUBLISHABLE]);
  }
  const missing = await call(app, {});
  assert.equal(missing.status, 401);
  assert.equal(missing.body.error.code, 'missing_authorization');
  const keyOnly = await call(app, { apikey: PUBLISHABLE });
  assert.equal(keyOnly.status, 401);
  assert.equal(keyOnly.body.error.code, 'login_required');
  const basic = await call(app, { authorization: 'Basic dXNlcjpwYXNz' });
  assert.equal(basic.body.error.code, 'invalid_authorization');
});

Deno.test('auth modes: publishable accepts the publishable key (and the legacy anon JWT), nothing else', async () => {
  const app = appFor({ auth: 'publishable' });
  const ok = await call(app, { apikey: PUBLISHABLE });
  assert.equal(ok.status, 200);
  assert.deepEqual(
    { role: ok.body.role, authMode: ok.body.authMode, isService: ok.body.isService },
    { role: 'anon', authMode: 'publishable', isService: false },
  );
  // supabase-js without a session sends the key as the bearer too.
  const both = await call(app, { apikey: PUBLISHABLE, authorization: `Bearer ${PUBLISHABLE}` });
  assert.equal(both.status, 200);
  const legacyAnon = await signLocalJwt({ role: 'anon' }, LEGACY_SECRET);
  const legacy = await call(app, { apikey: legacyAnon, authorization: `Bearer ${legacyAnon}` });
  assert.equal(legacy.status, 200, legacy.text);
  assert.equal(legacy.body.keyType, 'legacy_anon');

  const wrong = await call(app, { apikey: `${PUBLISHABLE.slice(0, -3)}xyz` });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.body.error.code, 'invalid_api_key');
  assertSafe(wrong.text, [PUBLISHABLE]);
  const none = await call(app, {});
  assert.equal(none.status, 401);
  assert.equal(none.body.error.code, 'missing_authorization');
  const secretThere = await call(app, { apikey: SECRET });
  assert.equal(secretThere.status, 401, 'a secret key is not a publishable key');
});

Deno.test('auth modes: secret accepts secret keys in apikey or Bearer, legacy service_role and x-cron-secret; refuses the rest', async () => {
  const app = appFor({ auth: 'secret' });
  for (
    const headers of <Record<string, string>[]> [
      { apikey: SECRET },
      { authorization: `Bearer ${SECRET}` },
      { apikey: SECRET, authorization: `Bearer ${SECRET}`, 'user-agent': 'pg_net/0.19' },
    ]
  ) {
    const res = await call(app, headers);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.authMode, 'secret');
    assert.equal(res.body.role, 'service_role');
    assert.equal(res.body.isService, true);
    assert.equal(res.body.keyType, 'secret');
    assert.equal(res.body.keyName, 'default');
  }
  const named = await call(app, { apikey: `${SECRET}_2` });
  assert.equal(named.body.keyName, 'automations');
  const serviceRole = await signLocalJwt({ role: 'service_role' }, LEGACY_SECRET);
  const legacy = await call(app, { authorization: `Bearer ${serviceRole}` });
  assert.equal(legacy.status, 200);
  assert.equal(legacy.body.keyType, 'legacy_service_role');
  const cron = await call(app, { 'x-cron-secret': CRON_SECRET });
  assert.equal(cron.status, 200);
  assert.equal(cron.body.role, 'cron');
  assert.equal(cron.body.keyType, 'cron_secret');

  const refusals: [string, Record<string, string>, number, string][] = [
    ['publishable key', { apikey: PUBLISHABLE }, 403, 'service_only'],
    ['user token', { authorization: `Bearer ${await userToken()}` }, 403, 'service_only'],
    [
      'legacy anon',
      { apikey: await signLocalJwt({ role: 'anon' }, LEGACY_SECRET) },
      403,
      'service_only',
    ],
    ['wrong secret key', { apikey: `${SECRET}x` }, 401, 'invalid_api_key'],
    ['wrong cron secret', { 'x-cron-secret': 'guess' }, 401, 'invalid_cron_secret'],
    [
      'from a browser (Origin)',
      { apikey: SECRET, origin: 'https://app.example.com' },
      401,
      'secret_key_in_browser',
    ],
    [
      'from a browser (User-Agent)',
      { apikey: SECRET, 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Chrome/130' },
      401,
      'secret_key_in_browser',
    ],
    ['nothing', {}, 401, 'missing_authorization'],
  ];
  for (const [name, headers, status, code] of refusals) {
    const res = await call(app, headers);
    assert.equal(res.status, status, `${name}: ${res.text}`);
    assert.equal(res.body.error.code, code, name);
    assertSafe(res.text, [SECRET, PUBLISHABLE, CRON_SECRET, ...Object.values(headers)]);
  }
});

Deno.test('auth modes: none admits anyone without looking; a mode list takes the first satisfied, never downgrades a bad credential', async () => {
  const none = appFor({ auth: 'none' });
  const res = await call(none, { authorization: 'Bearer garbage' });
  assert.equal(res.status, 200);
  assert.equal(res.body.authMode, 'none');

  const list = appFor({ auth: ['user', 'publishable'] });
  assert.equal((await call(list, { apikey: PUBLISHABLE })).body.authMode, 'publishable');
  const user = await call(list, {
    apikey: PUBLISHABLE,
    authorization: `Bearer ${await userToken()}`,
  });
  assert.equal(user.body.authMode, 'user');
  const expired = await userToken({ exp: Math.floor(nowMs / 1000) - 1 });
  const bad = await call(list, { apikey: PUBLISHABLE, authorization: `Bearer ${expired}` });
  assert.equal(bad.status, 401, 'an expired token is not downgraded to the publishable mode');
  const open = appFor({ auth: ['user', 'none'] });
  const wrongKey = await call(open, { apikey: 'sb_publishable_unknown' });
  assert.equal(wrongKey.status, 401, 'a wrong key is refused even where none would do');
});

Deno.test('auth modes: the legacy options map to modes; unknown modes are refused when the route is built', () => {
  assert.deepEqual(authModes({ serviceOnly: true }), ['secret']);
  assert.deepEqual(authModes({ required: true }), ['user', 'secret']);
  assert.deepEqual(authModes({}), ['user', 'secret', 'publishable', 'none']);
  assert.deepEqual(authModes({ auth: 'user', serviceOnly: true }), ['user']);
  assert.throws(() => authModes({ auth: 'admin' as AuthMode }), /received "admin"/);
  assert.throws(() => authModes({ auth: [] }), /received \[\]/);
});

Deno.test('auth: the CLI local HS256 secret is accepted only where the project is local', async () => {
  const localToken = await signLocalJwt({ role: 'authenticated', sub: 'u' }, LOCAL_JWT_SECRET);
  const deployed = createFunctionApp<{ Variables: BaseVariables & AuthVariables }>('demo');
  const deployedEnv = projectEnv({ SUPABASE_JWT_SECRET: undefined });
  deployed.post(
    '/',
    authenticate({ env: deployedEnv, auth: 'user' }),
    (c) => c.json(c.get('auth')),
  );
  const refused = await call(deployed, { authorization: `Bearer ${localToken}` });
  assert.equal(refused.status, 401);
  assert.match(refused.body.error.message, /algorithm is not accepted/);
  const local = createFunctionApp<{ Variables: BaseVariables & AuthVariables }>('demo');
  local.post(
    '/',
    authenticate({ env: () => undefined, auth: 'user' }),
    (c) => c.json(c.get('auth')),
  );
  assert.equal((await call(local, { authorization: `Bearer ${localToken}` })).status, 200);
  // `supabase functions serve` runs functions behind the CLI's gateway `http://kong:8000`.
  const docker = createFunctionApp<{ Variables: BaseVariables & AuthVariables }>('demo');
  const dockerEnv = (name: string) => name === 'SUPABASE_URL' ? 'http://kong:8000' : undefined;
  docker.post('/', authenticate({ env: dockerEnv, auth: 'user' }), (c) => c.json(c.get('auth')));
  assert.equal((await call(docker, { authorization: `Bearer ${localToken}` })).status, 200);
});

Deno.test('auth: a JWKS over plain http on a public host is never fetched', async () => {
  let fetches = 0;
  const verifier = new TokenVerifier({
    now: clock,
    fetch: () => {
      fetches++;
      return Promise.resolve(Response.json({ keys: [current.publicJwk] }));
    },
  });
  const app = createFunctionApp<{ Variables: BaseVariables & AuthVariables }>('demo');
  const env = projectEnv({
    SUPABASE_JWKS: undefined,
    SUPABASE_JWKS_URL: 'http://attacker.example.com/jwks.json',
  });
  app.post('/', authenticate({ env, verifier, auth: 'user' }), (c) => c.json(c.get('auth')));
  const warn = console.warn;
  const warnings: string[] = [];
  console.warn = (message: string) => warnings.push(message);
  try {
    const res = await call(app, { authorization: `Bearer ${await userToken()}` });
    assert.equal(res.status, 401);
    assert.equal(fetches, 0);
    assert.ok(warnings.some((w) => /SUPABASE_JWKS_URL must be https/.test(w)), warnings.join());
    assertSafe(res.text, []);
  } finally {
    console.warn = warn;
  }
});

Deno.test('auth cache: one signature check per token until it expires; an expired cached token is refused', async () => {
  const verifier = new TokenVerifier({ now: clock });
  const app = appFor({ auth: 'user' }, verifier);
  const start = nowMs;
  try {
    const token = await userToken({ exp: Math.floor(nowMs / 1000) + 60 });
    for (let i = 0; i < 5; i++) {
      assert.equal((await call(app, { authorization: `Bearer ${token}` })).status, 200);
    }
    assert.equal(verifier.verifications, 1);
    nowMs += 61_000;
    const late = await call(app, { authorization: `Bearer ${token}` });
    assert.equal(late.status, 401);
    assert.match(late.body.error.message, /expired/);
  } finally {
    nowMs = start;
  }
});

Deno.test('auth cache: a cached valid token does not admit its tampered copies', async () => {
  const verifier = new TokenVerifier({ now: clock });
  const app = appFor({ auth: 'user' }, verifier);
  const good = await userToken();
  assert.equal((await call(app, { authorization: `Bearer ${good}` })).status, 200);
  const [header, , signature] = good.split('.');
  const forged = base64UrlEncode(JSON.stringify(userClaims({ sub: 'someone-else' })));
  for (
    const token of [
      `${header}.${forged}.${signature}`,
      `${good.slice(0, -4)}AAAA`,
      `${good}x`,
    ]
  ) {
    const res = await call(app, { authorization: `Bearer ${token}` });
    assert.equal(res.status, 401, token);
    assert.equal(res.body.error.code, 'invalid_jwt');
  }
  assert.equal((await call(app, { authorization: `Bearer ${good}` })).status, 200);
  assert.equal(verifier.verifications, 1);
});

Deno.test('auth config: the process environment is read once per isolate until resetAuthConfig', () => {
  const name = 'CRON_SECRET';
  const before = Deno.env.get(name);
  try {
    Deno.env.set(name, 'first-cron-secret-value');
    resetAuthConfig();
    const first = readAuthConfig(processEnv);
    assert.deepEqual(first.cronSecret, new TextEncoder().encode('first-cron-secret-value'));
    Deno.env.set(name, 'second-cron-secret-value');
    assert.equal(readAuthConfig(processEnv), first, 'no re-read on the next request');
    resetAuthConfig();
    assert.deepEqual(
      readAuthConfig(processEnv).cronSecret,
      new TextEncoder().encode('second-cron-secret-value'),
    );
    // A map reader (tests) is still read on every call.
    let value = 'a-value';
    const reader = (n: string) => (n === name ? value : undefined);
    assert.deepEqual(readAuthConfig(reader).cronSecret, new TextEncoder().encode('a-value'));
    value = 'b-value';
    assert.deepEqual(readAuthConfig(reader).cronSecret, new TextEncoder().encode('b-value'));
  } finally {
    if (before === undefined) Deno.env.delete(name);
    else Deno.env.set(name, before);
    resetAuthConfig();
  }
});

Deno.test('auth cache: bounded, least recently used first', () => {
  const cache = new VerifiedTokenCache({ maxEntries: 2, now: () => 0 });
  const entry = { claims: {}, expiresAtMs: 10, key: {} as CryptoKey, kid: null };
  cache.set('a', entry);
  cache.set('b', entry);
  cache.get('a');
  cache.set('c', entry);
  assert.equal(cache.size, 2);
  assert.ok(cache.get('a'));
  assert.equal(cache.get('b'), undefined);
  assert.throws(() => new VerifiedTokenCache({ maxEntries: -1 }), /received -1/);
});

Deno.test('auth rotation: remote JWKS fetched once, refreshed on an unknown kid (rate-limited), a dropped key voids its tokens', async () => {
  let served: Jwk[] = [current.publicJwk];
  let fetches = 0;
  const fakeFetch: typeof fetch = (input) => {
    fetches++;
    assert.equal(String(input), `${ISSUER}/.well-known/jwks.json`);
    return Promise.resolve(Response.json({ keys: served }));
  };
  const verifier = new TokenVerifier({ now: clock, fetch: fakeFetch });
  const start = nowMs;
  const app = createFunctionApp<{ Variables: BaseVariables & AuthVariables }>('demo');
  const env = projectEnv({ SUPABASE_JWKS: undefined });
  app.post('/', authenticate({ env, verifier, auth: 'user' }), (c) => c.json(c.get('auth')));
  try {
    const oldToken = await userToken();
    const newToken = await userToken({ sub: 'user-2' }, standby.privateJwk);
    assert.equal((await call(app, { authorization: `Bearer ${oldToken}` })).status, 200);
    assert.equal((await call(app, { authorization: `Bearer ${oldToken}` })).status, 200);
    assert.equal(fetches, 1, 'the JWKS is fetched once, its keys imported once');

    // The project rotates: the standby key signs, the JWKS lists both.
    served = [current.publicJwk, standby.publicJwk];
    const refusedEarly = await call(app, { authorization: `Bearer ${newToken}` });
    assert.equal(refusedEarly.status, 401, 'within the cooldown an unknown kid is not fetched');
    assert.equal(fetches, 1);
    nowMs += 31_000;
    assert.equal((await call(app, { authorization: `Bearer ${newToken}` })).status, 200);
    assert.equal(fetches, 2, 'an unknown kid after the cooldown refreshes the JWKS');
    const unknown = await signEs256(userClaims(), { ...current.privateJwk, kid: 'k-unknown' });
    for (let i = 0; i < 3; i++) {
      assert.equal((await call(app, { authorization: `Bearer ${unknown}` })).status, 401);
    }
    assert.equal(fetches, 2, 'unknown kids cannot make the function hammer the JWKS');

    // The old key is revoked: the JWKS drops it. Past the max age, its tokens are refused, also
    // the one verified and cached before.
    served = [standby.publicJwk];
    nowMs += 601_000;
    const revoked = await call(app, {
      authorization: `Bearer ${await userToken({ iat: Math.floor(nowMs / 1000) })}`,
    });
    assert.equal(revoked.status, 401);
    assert.equal(revoked.body.error.code, 'invalid_jwt');
    const cachedOld = await call(app, { authorization: `Bearer ${oldToken}` });
    assert.equal(cachedOld.status, 401, 'a cached token of a dropped key is refused');
    assert.equal((await call(app, { authorization: `Bearer ${newToken}` })).status, 200);
    assert.equal(fetches, 3);
  } finally {
    nowMs = start;
  }
});

Deno.test('auth rotation: an unreachable JWKS keeps the keys held', async () => {
  let up = true;
  const verifier = new TokenVerifier({
    now: clock,
    fetch: () =>
      up
        ? Promise.resolve(Response.json({ keys: [current.publicJwk] }))
        : Promise.reject(new TypeError('connection refused')),
  });
  const start = nowMs;
  const app = createFunctionApp<{ Variables: BaseVariables & AuthVariables }>('demo');
  const env = projectEnv({ SUPABASE_JWKS: undefined });
  app.post('/', authenticate({ env, verifier, auth: 'user' }), (c) => c.json(c.get('auth')));
  const warn = console.warn;
  console.warn = () => {};
  try {
    assert.equal((await call(app, { authorization: `Bearer ${await userToken()}` })).status, 200);
    up = false;
    nowMs += 601_000;
    const res = await call(app, { authorization: `Bearer ${await userToken({ sub: 'u3' })}` });
    assert.equal(res.status, 200, res.text);
  } finally {
    console.warn = warn;
    nowMs = start;
  }
});

Deno.test('config.toml: verify_jwt is off for every function (they authenticate themselves)', async () => {
  const toml = await Deno.readTextFile(new URL('../../supabase/config.toml', import.meta.url));
  const blocks = toml.split(/^\[functions\./m).slice(1);
  assert.ok(blocks.length >= 2);
  for (const block of blocks) {
    const name = block.slice(0, block.indexOf(']'));
    assert.match(block, /^verify_jwt = false$/m, `${name} must set verify_jwt = false`);
  }
});

async function signHs256(payload: Record<string, unknown>, secret: string, kid?: string) {
  const input = `${base64UrlEncode(JSON.stringify({ alg: 'HS256', typ: 'JWT', kid }))}.${
    base64UrlEncode(JSON.stringify(payload))
  }`;
  const key = await crypto.subtle.importKey(
    'raw',
    new TextEncoder().encode(secret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );
  const signature = await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(input));
  return `${input}.${base64UrlEncode(new Uint8Array(signature))}`;
}

Deno.test('auth legacy: an HS256 token whose kid names an oct key of the inline JWKS verifies without SUPABASE_JWT_SECRET', async () => {
  const legacyJwk = {
    kty: 'oct',
    kid: 'legacy-hs256',
    alg: 'HS256',
    k: base64UrlEncode(LEGACY_SECRET),
  };
  const env = projectEnv({
    SUPABASE_JWT_SECRET: undefined,
    SUPABASE_JWKS: JSON.stringify({ keys: [current.publicJwk, legacyJwk] }),
  });
  const app = createFunctionApp<{ Variables: BaseVariables & AuthVariables }>('demo');
  app.post('/', authenticate({ env, auth: ['user', 'secret'] }), (c) => c.json(c.get('auth')));
  const now = Math.floor(Date.now() / 1000);
  const user = await signHs256(
    { sub: 'u-legacy', role: 'authenticated', aud: 'authenticated', iss: ISSUER, exp: now + 60 },
    LEGACY_SECRET,
    'legacy-hs256',
  );
  const ok = await call(app, { authorization: `Bearer ${user}` });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.body.userId, 'u-legacy');
  const service = await signHs256(
    { role: 'service_role', exp: now + 60 },
    LEGACY_SECRET,
    'legacy-hs256',
  );
  assert.equal((await call(app, { apikey: service })).body.keyType, 'legacy_service_role');
  const noKid = await signHs256({ sub: 'u', role: 'authenticated', exp: now + 60 }, LEGACY_SECRET);
  assert.equal((await call(app, { authorization: `Bearer ${noKid}` })).status, 401);
});

Deno.test('README or docs/configuration.md, and docs/auth.md, document every auth variable', async () => {
  const { AUTH_ENV_VARIABLES } = await import('../../shared/http/auth.ts');
  const readme = await Deno.readTextFile(new URL('../../README.md', import.meta.url)) +
    await Deno.readTextFile(new URL('../../docs/configuration.md', import.meta.url));
  const docs = await Deno.readTextFile(new URL('../../docs/auth.md', import.meta.url));
  for (const name of AUTH_ENV_VARIABLES) {
    assert.ok(
      readme.includes(`\`${name}\``),
      `${name} is not in README.md or docs/configuration.md`,
    );
    assert.ok(docs.includes(`\`${name}\``), `${name} is not in docs/auth.md`);
  }
});

Deno.test('local keys: one ES256 key per checkout, created once even by concurrent first uses; its tokens pass the user mode', async () => {
  const { localJwks, localSigningKey, signLocalUserToken } = await import(
    '../../scripts/local_keys.ts'
  );
  const dir = await Deno.makeTempDir({ prefix: 'qf-auth-' });
  try {
    const path = new URL(`file://${dir}/nested/local_signing_keys.json`);
    const [a, b] = await Promise.all([localSigningKey(path), localSigningKey(path)]);
    assert.equal(a.kid, b.kid);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600, 'the private key is private');
    const stored = JSON.parse(await Deno.readTextFile(path));
    assert.equal(stored.length, 1);
    assert.equal(stored[0].alg, 'ES256');
    const jwks = await localJwks(path);
    assert.deepEqual(Object.keys(jwks.keys[0]).sort(), [
      'alg',
      'crv',
      'kid',
      'kty',
      'use',
      'x',
      'y',
    ]);
    assert.deepEqual([...Deno.readDirSync(new URL('.', path))].map((e) => e.name), [
      'local_signing_keys.json',
    ]);

    const env = (name: string) =>
      ({ SUPABASE_JWKS: JSON.stringify(jwks) } as Record<string, string>)[name];
    const app = createFunctionApp<{ Variables: BaseVariables & AuthVariables }>('demo');
    app.post('/', authenticate({ env, auth: 'user' }), (c) => c.json(c.get('auth')));
    const token = await signLocalUserToken({ sub: 'local-user', email: 'l@example.com' }, { path });
    const res = await call(app, { authorization: `Bearer ${token}` });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.userId, 'local-user');
    assert.equal(res.body.claims.aud, 'authenticated');
    assert.equal(res.body.claims.exp - res.body.claims.iat, 3600);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test('auth: an unexpected failure while verifying is a 401 without details, never a 500', async () => {
  class BrokenVerifier extends TokenVerifier {
    override verify(): never {
      throw new Error('internal detail: key store corrupted at /secret/path');
    }
  }
  const app = appFor({ auth: 'user' }, new BrokenVerifier());
  const warn = console.warn;
  console.warn = () => {};
  try {
    const res = await call(app, { authorization: `Bearer ${await userToken()}` });
    assert.equal(res.status, 401);
    assert.equal(res.body.error.code, 'invalid_credentials');
    assert.doesNotMatch(res.text, /internal detail|secret\/path/);
  } finally {
    console.warn = warn;
  }
});
