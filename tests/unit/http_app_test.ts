/**
 * The shared HTTP app: request and instance ids, JSON errors, CORS, function names, and the
 * one place errors map to statuses (ApiError, optimizer and data-layer errors, Postgres SQLSTATEs).
 */
import assert from 'node:assert/strict';
import { createFunctionApp } from '../../shared/http/app.ts';
import { ApiError, registerErrorTranslator } from '../../shared/http/errors.ts';

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

Deno.test('http: Postgres SQLSTATEs map in the one place (class 22 and 54xxx are 400s)', async () => {
  const { toApiError } = await import('../../shared/http/errors.ts');
  const pg = (code: string, message = 'boom', detail?: string) =>
    Object.assign(new Error(message), { code, severity: 'ERROR', detail });
  const cases: [string, number, string][] = [
    ['22007', 400, 'invalid_input'], // invalid datetime format
    ['22008', 400, 'invalid_input'], // datetime field overflow
    ['22P05', 400, 'invalid_input'], // untranslatable character (\u0000 in jsonb)
    ['22021', 400, 'invalid_input'], // NUL byte in text
    ['54000', 400, 'invalid_input'],
    ['54001', 400, 'invalid_input'], // stack depth: deep jsonb
    ['23514', 400, 'invalid_input'],
    ['23505', 409, 'conflict'],
    ['42501', 403, 'forbidden'],
    ['57014', 503, 'db_timeout'],
    ['08006', 503, 'db_unavailable'],
    ['57P01', 503, 'db_unavailable'],
    ['42P01', 500, 'internal_error'], // undefined table: our bug, not the caller's
  ];
  for (const [code, status, apiCode] of cases) {
    const error = toApiError(pg(code));
    assert.equal(error.status, status, code);
    assert.equal(error.code, apiCode, code);
  }
  const reference = toApiError(
    pg('23503', 'fk', 'Key (strategy_id)=(1) is not present in table "strategies".'),
  );
  assert.equal(reference.status, 400);
  assert.equal(reference.code, 'invalid_reference');
  assert.match(reference.message, /'strategy_id'/);
  // Something with a 5-letter code that is not Postgres (a socket error) stays a 500.
  assert.equal(toApiError(Object.assign(new Error('x'), { code: 'EPIPE' })).status, 500);
});

Deno.test('http: CORS allows x-region (supabase-js functions region)', async () => {
  const { ALLOWED_HEADERS } = await import('../../shared/http/app.ts');
  assert.ok(ALLOWED_HEADERS.includes('x-region'));
});
