/**
 * The answers of reads built in one go (`shared/http/answer.ts`): the same status, headers and
 * body as when Hono built them from prepared headers, in every way a read can end (200, 304, an
 * error after the read, a header a handler set itself, an app without the shared middleware);
 * and a miss with caching off leaves nothing behind (no hit-lane entry, no kept ETag text).
 */
import assert from 'node:assert/strict';
import { Hono } from 'hono';
import { createFunctionApp, EXPOSED_HEADERS_VALUE } from '../../shared/http/app.ts';
import { answerBody, answerHeader } from '../../shared/http/answer.ts';
import { ApiError } from '../../shared/http/errors.ts';
import { HitLane } from '../../shared/http/hit_lane.ts';
import { serializedOf, serializeOnce } from '../../shared/http/json_response.ts';
import { optimizedResource } from '../../shared/http/optimized.ts';
import { callerRateLimit } from '../../shared/http/rate_limit.ts';
import { AdvancedBackendOptimizer, Metrics } from '../../shared/optimizer/mod.ts';
import { instanceId } from '../../shared/runtime/instance.ts';
import { MemoryStore } from '../../shared/store/memory.ts';

/** Every header of a response, as name -> value (a repeated name would show joined by ', '). */
const headersOf = (response: Response) => Object.fromEntries(response.headers);

const ANON = { authMode: 'none', role: 'anon', claims: {}, isService: false } as const;

function readApp(caching: boolean, handlerHeader?: [string, string]) {
  const optimizer = new AdvancedBackendOptimizer({
    store: new MemoryStore(),
    metrics: new Metrics(),
    metricsFlushIntervalMs: 0,
    config: { enablePredictiveCaching: caching },
  });
  const rows: Record<string, { id: string; name: string } | null> = {
    a: { id: 'a', name: 'first' },
    gone: null,
  };
  const resource = optimizedResource({
    table: 'things',
    repository: () => ({ get: (id: string) => Promise.resolve(rows[id] ?? null) }),
    db: () => Promise.resolve({} as never),
    optimizer,
  });
  const app = createFunctionApp('demo');
  // What `authenticate` sets in a resource app (the hit lane remembers by caller).
  app.use('*', async (c, next) => {
    c.set('auth' as never, ANON as never);
    await next();
  });
  app.get('/:id', (c) => {
    if (handlerHeader) c.header(...handlerHeader);
    const id = c.req.param('id');
    return resource.read(c, (repo) => repo.get(id), {
      cacheKey: `pub:things:${id}`,
      tags: ['pub:things'],
      whenMissing: () => new ApiError(404, 'not_found', `No thing ${id}`),
    });
  });
  return { app, optimizer };
}

Deno.test('answer: a read carries the ten headers once each, the JSON type replacing text/plain', async () => {
  const { app, optimizer } = readApp(false);
  try {
    const response = await app.request('/demo/a', { headers: { 'x-request-id': 'req-1' } });
    assert.equal(response.status, 200);
    const headers = headersOf(response);
    const etag = serializeOnce({ id: 'a', name: 'first' }).etag;
    assert.deepEqual(Object.keys(headers).sort(), [
      'access-control-allow-origin',
      'access-control-expose-headers',
      'cache-control',
      'content-type',
      'etag',
      'server-timing',
      'timing-allow-origin',
      'x-cache',
      'x-instance-id',
      'x-request-id',
    ]);
    assert.equal(headers['content-type'], 'application/json; charset=UTF-8');
    assert.equal(headers['x-request-id'], 'req-1');
    assert.equal(headers['x-instance-id'], instanceId);
    assert.equal(headers['access-control-allow-origin'], '*');
    assert.equal(headers['access-control-expose-headers'], EXPOSED_HEADERS_VALUE);
    assert.equal(headers['timing-allow-origin'], '*');
    assert.equal(headers['x-cache'], 'bypass');
    assert.equal(headers['cache-control'], 'private, no-store');
    assert.equal(headers.etag, etag);
    assert.match(
      headers['server-timing'],
      /^optimizer;dur=[\d.]+;desc="uncached",total;dur=[\d.]+;desc="Total Response Time"$/,
    );
    assert.deepEqual(await response.json(), { id: 'a', name: 'first' });

    const notModified = await app.request('/demo/a', { headers: { 'if-none-match': etag } });
    assert.equal(notModified.status, 304);
    assert.equal(notModified.headers.get('content-type'), null);
    assert.equal(notModified.headers.get('etag'), etag);
    assert.equal(notModified.headers.get('x-cache'), 'bypass');
    assert.equal(notModified.headers.get('access-control-allow-origin'), '*');
    assert.equal(await notModified.text(), '');
  } finally {
    await optimizer.close();
  }
});

Deno.test("answer: an error after the read keeps the read's headers, as prepared ones did", async () => {
  const { app, optimizer } = readApp(false);
  try {
    const missing = await app.request('/demo/gone');
    assert.equal(missing.status, 404);
    assert.equal((await missing.json()).error.code, 'not_found');
    assert.equal(missing.headers.get('x-cache'), 'bypass');
    assert.equal(missing.headers.get('cache-control'), 'private, no-store');
    assert.equal(missing.headers.get('content-type'), 'application/json');
    assert.equal(missing.headers.get('access-control-allow-origin'), '*');
    assert.ok(missing.headers.get('x-request-id'));
    assert.match(missing.headers.get('server-timing')!, /total;dur=/);
  } finally {
    await optimizer.close();
  }
});

Deno.test("answer: a header a handler set with c.header before the read is kept; the read's later one wins", async () => {
  const { app, optimizer } = readApp(false, ['cache-control', 'no-store']);
  const custom = readApp(false, ['x-custom', 'yes']);
  try {
    const response = await app.request('/demo/a');
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('cache-control'), 'private, no-store');
    assert.equal(response.headers.get('content-type'), 'application/json; charset=UTF-8');
    assert.equal(response.headers.get('x-cache'), 'bypass');
    const other = await custom.app.request('/demo/a');
    assert.equal(other.headers.get('x-custom'), 'yes');
    assert.equal(other.headers.get('cache-control'), 'private, no-store');
    assert.equal(other.headers.get('x-instance-id'), instanceId);
    assert.deepEqual(await other.json(), { id: 'a', name: 'first' });
  } finally {
    await optimizer.close();
    await custom.optimizer.close();
  }
});

Deno.test("answer: without the shared middleware answerHeader and answerBody are Hono's", async () => {
  const app = new Hono();
  app.get('/', (c) => {
    answerHeader(c, 'x-cache', 'bypass');
    answerHeader(c, 'x-cache', 'miss'); // a later value replaces an earlier one
    return answerBody(c, '{"ok":true}', 200, [['etag', '"t"']], 'application/json');
  });
  const response = await app.request('/');
  assert.deepEqual(headersOf(response), {
    'content-type': 'application/json',
    etag: '"t"',
    'x-cache': 'miss',
  });
  assert.deepEqual(await response.json(), { ok: true });

  const shared = createFunctionApp('demo');
  shared.get('/', (c) => {
    answerHeader(c, 'x-cache', 'bypass');
    answerHeader(c, 'x-cache', 'miss');
    return answerBody(c, null, 204, []);
  });
  const built = await shared.request('/demo');
  assert.equal(built.status, 204);
  assert.equal(built.headers.get('x-cache'), 'miss');
  assert.equal(built.headers.get('content-type'), null);
  assert.equal(built.headers.get('access-control-allow-origin'), '*');
});

Deno.test('answer: a raw Response, mutable or not, gets the shared headers it lacks', async () => {
  const app = createFunctionApp('demo');
  app.get('/raw', () => new Response('hi', { headers: { 'x-request-id': 'own' } }));
  app.get('/redirect', () => Response.redirect('https://example.com/', 302));
  const raw = await app.request('/demo/raw');
  assert.equal(raw.headers.get('x-request-id'), 'own');
  assert.equal(raw.headers.get('x-instance-id'), instanceId);
  assert.equal(raw.headers.get('access-control-allow-origin'), '*');
  assert.equal(raw.headers.get('timing-allow-origin'), '*');
  assert.match(raw.headers.get('server-timing')!, /total;dur=/);
  const redirect = await app.request('/demo/redirect');
  assert.equal(redirect.status, 302);
  assert.equal(redirect.headers.get('location'), 'https://example.com/');
  assert.equal(redirect.headers.get('access-control-allow-origin'), '*');
});

Deno.test('answer: a miss with caching off makes no hit-lane entry and keeps no ETag text', async () => {
  for (const caching of [false, true]) {
    const { app, optimizer } = readApp(caching);
    const lane = new HitLane({
      resolveCaller: () => Promise.resolve(ANON),
      rateLimit: callerRateLimit({ enabled: false }),
    });
    const fetch = lane.wrap(app.fetch);
    try {
      const response = await fetch(new Request('http://localhost/demo/a'));
      assert.equal(response.status, 200);
      await response.body?.cancel();
      assert.equal(lane.size, caching ? 1 : 0, `caching ${caching}`);
    } finally {
      await optimizer.close();
    }
  }
  const value = { once: true };
  serializeOnce(value, false);
  assert.equal(serializedOf(value), undefined);
  serializeOnce(value);
  assert.ok(serializedOf(value));
});
