import assert from 'node:assert/strict';
import { createFunctionApp } from '../../shared/http/app.ts';
import { ApiError, registerErrorTranslator } from '../../shared/http/errors.ts';
import { authenticate, type AuthVariables, signLocalJwt } from '../../shared/http/auth.ts';
import type { BaseVariables } from '../../shared/http/app.ts';

Deno.test('http: every response carries x-request-id and x-instance-id; errors are JSON', async () => {
  const app = createFunctionApp('demo');
  app.get('/ok', (c) => c.json({ ok: true }));
  app.get('/boom', () => {
    throw new Error('secret detail: password=hunter2');
  });
  const ok = await app.request('/demo/ok');
  assert.equal(ok.status, 200);
  assert.match(ok.headers.get('x-request-id')!, /^[0-9a-f-]{36}$/);
  const instance = ok.headers.get('x-instance-id');
  assert.match(instance!, /^[0-9a-f-]{36}$/);

  const missing = await app.request('/demo/nope');
  assert.equal(missing.status, 404);
  assert.equal(missing.headers.get('x-instance-id'), instance);
  const body404 = await missing.json();
  assert.equal(body404.error.code, 'not_found');
  assert.match(body404.error.message, /GET \/demo\/nope/);

  const originalError = console.error;
  console.error = () => {};
  try {
    const boom = await app.request('/demo/boom');
    assert.equal(boom.status, 500);
    const text = await boom.text();
    assert.doesNotMatch(text, /hunter2|at .*\.ts/);
    assert.equal(JSON.parse(text).error.code, 'internal_error');
  } finally {
    console.error = originalError;
  }
});

Deno.test('http: the caller may pass its own request id', async () => {
  const app = createFunctionApp('demo');
  app.get('/', (c) => c.text('hi'));
  const res = await app.request('/demo', { headers: { 'x-request-id': 'trace-123' } });
  assert.equal(res.headers.get('x-request-id'), 'trace-123');
});

Deno.test('http: ApiError and translated errors keep status, code and headers', async () => {
  class Busy extends Error {}
  registerErrorTranslator((e) =>
    e instanceof Busy
      ? new ApiError(503, 'busy_test', 'try later', { headers: { 'retry-after': '2' } })
      : undefined
  );
  const app = createFunctionApp('demo');
  app.get('/bad', () => {
    throw new ApiError(400, 'invalid_limit', "'limit' must be 1..100: received 0");
  });
  app.get('/busy', () => {
    throw new Busy();
  });
  app.post('/json', async (c) => c.json(await c.req.json()));
  const bad = await app.request('/demo/bad');
  assert.equal(bad.status, 400);
  assert.deepEqual((await bad.json()).error.code, 'invalid_limit');
  const busy = await app.request('/demo/busy');
  assert.equal(busy.status, 503);
  assert.equal(busy.headers.get('retry-after'), '2');
  assert.equal((await busy.json()).error.code, 'busy_test');
  const json = await app.request('/demo/json', { method: 'POST', body: '{nope' });
  assert.equal(json.status, 400);
  assert.equal((await json.json()).error.code, 'invalid_json');
});

Deno.test('http: CORS preflight answers for supabase-js headers and exposes ours', async () => {
  const app = createFunctionApp('demo');
  app.get('/', (c) => c.text('hi'));
  const res = await app.request('/demo', {
    method: 'OPTIONS',
    headers: {
      origin: 'http://localhost:3000',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization, x-client-info, apikey, content-type',
    },
  });
  assert.equal(res.status, 204);
  assert.equal(res.headers.get('access-control-allow-origin'), '*');
  assert.match(res.headers.get('access-control-allow-headers')!, /x-client-info/);
  const get = await app.request('/demo', { headers: { origin: 'http://localhost:3000' } });
  assert.match(get.headers.get('access-control-expose-headers')!, /x-cache/);
});

Deno.test('http: function names are validated', () => {
  assert.throws(() => createFunctionApp('Bad Name'), /received "Bad Name"/);
});

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

Deno.test('http: optimizer and data-layer errors map to 429/503/400/404 with Retry-After', async () => {
  const { CircuitOpenError, ThrottledError, BulkheadRejectedError } = await import(
    '../../shared/optimizer/resilience/errors.ts'
  );
  const { DbValidationError } = await import('../../shared/db/errors.ts');
  const app = createFunctionApp('demo');
  app.get('/open', () => {
    throw new CircuitOpenError('db', 2500, 'open');
  });
  app.get('/throttled', () => {
    throw new ThrottledError('robots_api', 'rate-limit', 1200, 100);
  });
  app.get('/pool', () => {
    throw new BulkheadRejectedError('db', 'queue-full', 10);
  });
  app.get('/invalid', () => {
    throw new DbValidationError('limit', 'must be an integer from 1 to 100', 0);
  });
  const open = await app.request('/demo/open');
  assert.equal(open.status, 503);
  assert.equal(open.headers.get('retry-after'), '3');
  assert.equal((await open.json()).error.code, 'circuit_open');
  const throttled = await app.request('/demo/throttled');
  assert.equal(throttled.status, 429);
  assert.equal(throttled.headers.get('retry-after'), '2');
  assert.equal(throttled.headers.get('ratelimit-limit'), '100');
  assert.equal((await throttled.json()).error.code, 'rate_limited');
  const pool = await app.request('/demo/pool');
  assert.equal(pool.status, 503);
  assert.equal((await pool.json()).error.code, 'pool_exhausted');
  const invalid = await app.request('/demo/invalid');
  assert.equal(invalid.status, 400);
  const body = await invalid.json();
  assert.equal(body.error.code, 'validation_error');
  assert.equal(body.error.details.field, 'limit');
});
