/**
 * `authenticate` on the shared app: local HS256 user JWTs, service-only routes (service_role JWT
 * or the cron secret) and no cron secret without CRON_SECRET.
 */
import assert from 'node:assert/strict';
import { createFunctionApp } from '../../shared/http/app.ts';
import { authenticate, type AuthVariables, signLocalJwt } from '../../shared/http/auth.ts';
import type { BaseVariables } from '../../shared/http/app.ts';

function authApp(options: Parameters<typeof authenticate>[0]) {
  const app = createFunctionApp<{ Variables: BaseVariables & AuthVariables }>('demo');
  app.get('/', authenticate(options), (c) => c.json(c.get('auth')));
  return app;
}

Deno.test('auth: a local HS256 JWT identifies the user; a forged one is a 401', async () => {
  const env = (name: string) =>
    ({ CRON_SECRET: 'cron-secret-value' } as Record<string, string>)[name];
  const app = authApp({ env });
  const token = await signLocalJwt({ role: 'authenticated', sub: 'user-1' });
  const res = await app.request('/demo', { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  const auth = await res.json();
  assert.equal(auth.role, 'authenticated');
  assert.equal(auth.userId, 'user-1');
  assert.equal(auth.isService, false);

  const forged = await signLocalJwt(
    { role: 'service_role' },
    'another-secret-that-is-at-least-32-characters',
  );
  const denied = await app.request('/demo', { headers: { authorization: `Bearer ${forged}` } });
  assert.equal(denied.status, 401);
  assert.equal((await denied.json()).error.code, 'invalid_jwt');

  const anon = await app.request('/demo');
  assert.equal((await anon.json()).role, 'anon');

  const malformed = await app.request('/demo', { headers: { authorization: 'Basic abc' } });
  assert.equal(malformed.status, 401);
});

Deno.test('auth: service-only routes take a service_role JWT or the cron secret, nothing else', async () => {
  const env = (name: string) =>
    ({ CRON_SECRET: 'cron-secret-value' } as Record<string, string>)[name];
  const app = authApp({ env, serviceOnly: true });
  const user = await signLocalJwt({ role: 'authenticated', sub: 'u' });
  const service = await signLocalJwt({ role: 'service_role' });
  assert.equal((await app.request('/demo')).status, 401);
  assert.equal(
    (await app.request('/demo', { headers: { authorization: `Bearer ${user}` } })).status,
    403,
  );
  assert.equal(
    (await app.request('/demo', { headers: { authorization: `Bearer ${service}` } })).status,
    200,
  );
  const cron = await app.request('/demo', { headers: { 'x-cron-secret': 'cron-secret-value' } });
  assert.equal(cron.status, 200);
  assert.equal((await cron.json()).role, 'cron');
  const wrong = await app.request('/demo', { headers: { 'x-cron-secret': 'nope' } });
  assert.equal(wrong.status, 401);
  assert.equal((await wrong.json()).error.code, 'invalid_cron_secret');
});

Deno.test('auth: without CRON_SECRET configured, no cron secret is accepted', async () => {
  const app = authApp({ env: () => undefined, serviceOnly: true });
  const res = await app.request('/demo', { headers: { 'x-cron-secret': '' } });
  assert.equal(res.status, 401);
});
