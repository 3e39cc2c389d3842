/**
 * The per-isolate cache of verified tokens and key rotation with a JWKS served by an injected
 * fetch, on a fake clock.
 * Fixtures: `auth_support.ts`. No network.
 */
import assert from 'node:assert/strict';
import { createFunctionApp } from '../../shared/http/app.ts';
import type { BaseVariables } from '../../shared/http/app.ts';
import { authenticate, type AuthVariables, TokenVerifier } from '../../shared/http/auth.ts';
import { VerifiedTokenCache } from '../../shared/http/auth/cache.ts';
import { base64UrlEncode } from '../../shared/http/auth/jwt.ts';
import type { Jwk } from '../../shared/http/auth/keys.ts';
import { signEs256 } from '../../scripts/local_keys.ts';
import {
  appFor,
  call,
  clock,
  current,
  ISSUER,
  nowMs,
  projectEnv,
  setNow,
  standby,
  userClaims,
  userToken,
} from './auth_support.ts';

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
    setNow(nowMs + 61_000);
    const late = await call(app, { authorization: `Bearer ${token}` });
    assert.equal(late.status, 401);
    assert.match(late.body.error.message, /expired/);
  } finally {
    setNow(start);
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
    setNow(nowMs + 31_000);
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
    setNow(nowMs + 601_000);
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
    setNow(start);
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
    setNow(nowMs + 601_000);
    const res = await call(app, { authorization: `Bearer ${await userToken({ sub: 'u3' })}` });
    assert.equal(res.status, 200, res.text);
  } finally {
    console.warn = warn;
    setNow(start);
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
