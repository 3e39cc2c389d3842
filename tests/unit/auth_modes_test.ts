/**
 * Auth modes (user, publishable, secret, none) with Supabase's new API keys and JWKS-signed user
 * tokens, the legacy options, and an unexpected verifier failure (a 401, never a 500).
 * Fixtures: `auth_support.ts`. No network.
 */
import assert from 'node:assert/strict';
import { type AuthMode, authModes, signLocalJwt, TokenVerifier } from '../../shared/http/auth.ts';
import { base64UrlEncode } from '../../shared/http/auth/jwt.ts';
import { signEs256 } from '../../scripts/local_keys.ts';
import {
  appFor,
  assertSafe,
  call,
  CRON_SECRET,
  current,
  LEGACY_SECRET,
  nowMs,
  PUBLISHABLE,
  SECRET,
  standby,
  stranger,
  userClaims,
  userToken,
} from './auth_support.ts';

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
