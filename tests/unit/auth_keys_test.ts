/**
 * Where the keys come from: the CLI local HS256 secret (local projects only), a JWKS URL over
 * plain http (never fetched), a legacy HS256 oct key in the inline JWKS, and the per-checkout
 * local ES256 key.
 * Fixtures: `auth_support.ts`. No network.
 */
import assert from 'node:assert/strict';
import { createFunctionApp } from '../../shared/http/app.ts';
import type { BaseVariables } from '../../shared/http/app.ts';
import {
  authenticate,
  type AuthVariables,
  LOCAL_JWT_SECRET,
  signLocalJwt,
  TokenVerifier,
} from '../../shared/http/auth.ts';
import { base64UrlEncode } from '../../shared/http/auth/jwt.ts';
import {
  assertSafe,
  call,
  clock,
  current,
  ISSUER,
  LEGACY_SECRET,
  projectEnv,
  userToken,
} from './auth_support.ts';

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
