import assert from 'node:assert/strict';
import { createFunctionApp } from '../../shared/http/app.ts';
import { ApiError, registerErrorTranslator } from '../../shared/http/errors.ts';
import { authenticate, type AuthVariables, signLocalJwt } from '../../shared/http/auth.ts';
import type { BaseVariables } from '../../shared/http/app.ts';
import type { WriteHooks } from '../../shared/db/hooks.ts';

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

// ---------------------------------------------------------------------------------------------
// The shared layer: validation, error mapping, serialization and ETags, the optimized wrappers.

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

Deno.test('http: validQuery drops the gateway parameters, refuses duplicates and unknown ones', async () => {
  const { z } = await import('zod');
  const { validQuery } = await import('../../shared/http/validate.ts');
  const app = createFunctionApp('demo');
  app.get(
    '/',
    validQuery(z.object({ limit: z.string().optional() }).strict()),
    (c) => c.json(c.req.valid('query')),
  );
  const ok = await app.request('/demo?limit=2&forceFunctionRegion=us-east-1');
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), { limit: '2' });
  for (const path of ['/demo?region=x', '/demo?limit=1&limit=2']) {
    const res = await app.request(path);
    assert.equal(res.status, 400, path);
    assert.equal((await res.json()).error.code, 'invalid_query');
  }
});

Deno.test('http: validJson answers 415 for non-JSON media types and 400 past the depth bound', async () => {
  const { z } = await import('zod');
  const { validJson, MAX_BODY_DEPTH } = await import('../../shared/http/validate.ts');
  const app = createFunctionApp('demo');
  app.post(
    '/',
    validJson(z.object({ a: z.unknown() }).strict()),
    (c) => c.json(c.req.valid('json')),
  );
  const post = (body: string, contentType?: string) =>
    app.request('/demo', {
      method: 'POST',
      headers: contentType ? { 'content-type': contentType } : {},
      body: new Blob([body]),
    });
  for (const type of [undefined, 'text/plain', 'application/x-www-form-urlencoded', 'json']) {
    const res = await post('{"a":1}', type);
    assert.equal(res.status, 415, String(type));
    assert.equal((await res.json()).error.code, 'unsupported_media_type');
  }
  for (
    const type of ['application/json', 'Application/JSON; charset=utf-8', 'application/ld+json']
  ) {
    const res = await post('{"a":1}', type);
    assert.equal(res.status, 200, type);
    assert.deepEqual(await res.json(), { a: 1 });
  }
  const nested = (n: number) => '{"a":' + '['.repeat(n - 1) + ']'.repeat(n - 1) + '}';
  assert.equal((await post(nested(MAX_BODY_DEPTH), 'application/json')).status, 200);
  const deep = await post(nested(MAX_BODY_DEPTH + 1), 'application/json');
  assert.equal(deep.status, 400);
  assert.equal((await deep.json()).error.code, 'invalid_body');
  // Brackets inside strings do not count.
  assert.equal((await post(`{"a":"${'['.repeat(5000)}"}`, 'application/json')).status, 200);
  const notObject = await post('[1]', 'application/json');
  assert.equal((await notObject.json()).error.code, 'invalid_body');
  // JSON Patch is another operation, and JSON is UTF-8 only (fuzz findings).
  for (const type of ['application/json-patch+json', 'application/json; charset=latin1']) {
    const res = await post('{"a":1}', type);
    assert.equal(res.status, 415, type);
    assert.equal((await res.json()).error.code, 'unsupported_media_type');
  }
});

Deno.test('http: a body that is not valid UTF-8 is a 400, never stored with U+FFFD', async () => {
  const { z } = await import('zod');
  const { validJson } = await import('../../shared/http/validate.ts');
  const app = createFunctionApp('demo');
  app.post(
    '/',
    validJson(z.object({ a: z.string() }).strict()),
    (c) => c.json(c.req.valid('json')),
  );
  const send = (bytes: Uint8Array<ArrayBuffer>) =>
    app.request('/demo', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: new Blob([bytes]),
    });
  const prefix = new TextEncoder().encode('{"a":"');
  const suffix = new TextEncoder().encode('"}');
  for (const bad of [[0xff], [0xc3, 0x28], [0xe2, 0x28, 0xa1], [0xed, 0xa0, 0x80]]) {
    const res = await send(new Uint8Array([...prefix, ...bad, ...suffix]));
    assert.equal(res.status, 400, JSON.stringify(bad));
    assert.equal((await res.json()).error.code, 'invalid_encoding');
  }
  const ok = await send(new TextEncoder().encode('{"a":"é€😀"}'));
  assert.deepEqual(await ok.json(), { a: 'é€😀' });
});

Deno.test('http: jsonTextDepth and jsonProblem are iterative (no stack overflow at 100,000 levels)', async () => {
  const { jsonTextDepth } = await import('../../shared/http/validate.ts');
  const { jsonProblem, PARAMS_LIMITS } = await import('../../shared/db/validate.ts');
  assert.equal(jsonTextDepth('{"a":[1,[2]],"b":"[[["}'), 3);
  assert.equal(jsonTextDepth('"\\"[["'), 0);
  assert.equal(jsonTextDepth('['.repeat(100_000), 32), 33, 'stops past the limit');
  let deep: unknown = {};
  for (let i = 0; i < 100_000; i++) deep = { a: deep };
  assert.match(jsonProblem(deep, PARAMS_LIMITS)!, /nests deeper than 5 levels/);
  assert.equal(jsonProblem({ a: [1, { b: 'x' }], c: null }, PARAMS_LIMITS), undefined);
  assert.match(jsonProblem({ a: ['\u0000'] }, PARAMS_LIMITS)!, /'a.0' must not contain NUL/);
  assert.match(jsonProblem({ ['\ud800']: 1 }, PARAMS_LIMITS)!, /surrogate/);
  const wide = Array.from({ length: 20 }, () => Array.from({ length: 200 }, () => 1));
  assert.match(jsonProblem({ wide }, PARAMS_LIMITS)!, /more than 2000 values/);
});

Deno.test('http: ETags are strong, computed once per value; If-None-Match uses weak comparison', async () => {
  const { serializeOnce, ifNoneMatchHits, conditionalJson } = await import(
    '../../shared/http/json_response.ts'
  );
  const value = { items: [1, 2, 3] };
  const first = await serializeOnce(value);
  assert.equal(await serializeOnce(value), first, 'the same object reuses its serialization');
  assert.equal((await serializeOnce({ items: [1, 2, 3] })).etag, first.etag, 'same body, same tag');
  assert.notEqual((await serializeOnce({ items: [1, 2] })).etag, first.etag);
  assert.match(first.etag, /^"[A-Za-z0-9_-]{32}"$/);
  assert.ok(ifNoneMatchHits(`W/${first.etag}`, first.etag));
  assert.ok(ifNoneMatchHits(`"a", ${first.etag}`, first.etag));
  assert.ok(ifNoneMatchHits('*', first.etag));
  assert.ok(!ifNoneMatchHits('"a"', first.etag));
  assert.ok(!ifNoneMatchHits(undefined, first.etag));

  const app = createFunctionApp('demo');
  app.get('/', (c) => conditionalJson(c, value));
  const ok = await app.request('/demo');
  assert.equal(ok.headers.get('etag'), first.etag);
  assert.deepEqual(await ok.json(), value);
  const notModified = await app.request('/demo', { headers: { 'if-none-match': first.etag } });
  assert.equal(notModified.status, 304);
  assert.equal(await notModified.text(), '');
});

Deno.test('http: a value that cannot be serialized is a 500 once, then dropped from the cache', async () => {
  const { optimizedResource } = await import('../../shared/http/optimized.ts');
  const { AdvancedBackendOptimizer, Metrics } = await import('../../shared/optimizer/mod.ts');
  const { MemoryStore } = await import('../../shared/store/memory.ts');
  const optimizer = new AdvancedBackendOptimizer({
    store: new MemoryStore(),
    metrics: new Metrics(),
    metricsFlushIntervalMs: 0,
  });
  const originalError = console.error;
  console.error = () => {};
  try {
    let loads = 0;
    const resource = optimizedResource({
      table: 'things',
      repository: () => ({
        load: () => {
          loads++;
          if (loads > 1) return Promise.resolve({ ok: true });
          const cyclic: Record<string, unknown> = {};
          cyclic.self = cyclic;
          return Promise.resolve(cyclic);
        },
      }),
      db: () => Promise.resolve({} as never),
      optimizer,
    });
    const app = createFunctionApp('demo');
    app.get(
      '/',
      (c) =>
        resource.read(c, (repo) => repo.load(), {
          cacheKey: 'pub:things:one',
          tags: ['pub:things'],
        }),
    );
    const broken = await app.request('/demo');
    assert.equal(broken.status, 500);
    assert.equal((await broken.json()).error.code, 'unserializable_response');
    const healed = await app.request('/demo');
    assert.equal(healed.status, 200);
    assert.deepEqual(await healed.json(), { ok: true });
    assert.equal(loads, 2);
  } finally {
    console.error = originalError;
    await optimizer.close();
  }
});

Deno.test('http: write() records the outbox inside the write transaction, invalidates after', async () => {
  const { optimizedResource } = await import('../../shared/http/optimized.ts');
  const { AdvancedBackendOptimizer, Metrics } = await import('../../shared/optimizer/mod.ts');
  const { MemoryStore } = await import('../../shared/store/memory.ts');
  const optimizer = new AdvancedBackendOptimizer({
    store: new MemoryStore(),
    metrics: new Metrics(),
    metricsFlushIntervalMs: 0,
  });
  try {
    const invalidated: { tags: string[]; outboxId?: string }[] = [];
    optimizer.invalidateTags = (tags: string[], options: { outboxId?: string } = {}) => {
      invalidated.push({ tags, outboxId: options.outboxId });
      return Promise.resolve(true);
    };
    const log: string[] = [];
    // The write's transaction: the outbox row is written through it, before the commit.
    const fakeTx = {
      query: (sql: string, params: unknown[]) => {
        log.push(`tx: ${sql.includes('enqueue_cache_invalidation') ? 'outbox' : sql} ${params}`);
        return Promise.resolve([{ id: '42' }]);
      },
    } as unknown as import('../../shared/db/types.ts').SqlExecutor;
    const repo = {
      // A repository write: the hook runs before the transaction commits.
      async save(
        name: string,
        hooks: WriteHooks<{ id: string }>,
      ) {
        log.push('begin');
        if (name !== 'missing') await hooks.afterWrite?.(fakeTx, { id: name });
        log.push('commit');
        return name === 'missing' ? null : { id: name };
      },
    };
    const resource = optimizedResource({
      table: 'things',
      repository: () => repo,
      db: () => Promise.resolve({} as never),
      optimizer,
    });
    const saved = await resource.write((r, hooks) => r.save('a', hooks), {
      tags: (row: { id: string }) => {
        log.push('tags');
        return [`pub:thing:${row.id}`, 'pub:things', 'pub:things'];
      },
    });
    assert.deepEqual(saved, { id: 'a' });
    assert.deepEqual(log, [
      'begin',
      'tags',
      'tx: outbox ["pub:thing:a","pub:things"]',
      'commit',
    ]);
    assert.deepEqual(invalidated, [{ tags: ['pub:thing:a', 'pub:things'], outboxId: '42' }]);
    invalidated.length = 0;
    assert.equal(
      await resource.write((r, hooks) => r.save('missing', hooks), {
        tags: (_row: { id: string }) => ['x'],
      }),
      null,
    );
    assert.deepEqual(invalidated, [], 'nothing written, nothing invalidated');
  } finally {
    await optimizer.close();
  }
});

Deno.test('http: CORS allows x-region (supabase-js functions region)', async () => {
  const { ALLOWED_HEADERS } = await import('../../shared/http/app.ts');
  assert.ok(ALLOWED_HEADERS.includes('x-region'));
});
