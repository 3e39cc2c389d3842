/**
 * CORS and id headers of shared/http/app.ts on every kind of answer (issue 11: CORS headers are
 * prepared with `c.header` instead of through an early `c.res`): JSON, text, 304/204 bodies,
 * errors, not found, a raw `Response` returned by a handler, an immutable `fetch`-style response,
 * and preflights.
 */
import assert from 'node:assert/strict';
import { createFunctionApp, EXPOSED_HEADERS } from '../../shared/http/app.ts';

function assertCorsAndIds(res: Response, label: string): void {
  assert.equal(res.headers.get('access-control-allow-origin'), '*', label);
  assert.equal(res.headers.get('access-control-expose-headers'), EXPOSED_HEADERS.join(','), label);
  assert.ok(res.headers.get('x-request-id'), `${label}: x-request-id`);
  assert.ok(res.headers.get('x-instance-id'), `${label}: x-instance-id`);
  assert.match(res.headers.get('server-timing') ?? '', /total/, `${label}: server-timing`);
}

Deno.test('http CORS: every answer carries CORS, ids and timing exactly once', async () => {
  const app = createFunctionApp('demo');
  app.get('/json', (c) => c.json({ ok: true }));
  app.get('/text', (c) => c.text('hi'));
  app.get('/empty', (c) => c.body(null, 204));
  app.get('/raw', () => new Response('raw', { headers: { 'content-type': 'text/plain' } }));
  app.get('/immutable', () => Response.redirect('http://127.0.0.1/elsewhere', 302));
  app.get('/boom', () => {
    throw new Error('hidden');
  });
  for (const path of ['/json', '/text', '/empty', '/raw', '/immutable', '/boom', '/missing']) {
    const res = await app.request(`/demo${path}`, { headers: { origin: 'http://localhost:3000' } });
    assertCorsAndIds(res, path);
    // One value each: a copied or appended header would read "*, *".
    assert.doesNotMatch(res.headers.get('access-control-allow-origin')!, /,/, path);
    await res.body?.cancel();
  }
  const raw = await app.request('/demo/raw');
  assert.equal(await raw.text(), 'raw');
  assert.equal((await app.request('/demo/boom')).status, 500);
  const given = await app.request('/demo/raw', { headers: { 'x-request-id': 'trace-raw-1' } });
  assert.equal(given.headers.get('x-request-id'), 'trace-raw-1');
  await given.body?.cancel();
});

Deno.test('http CORS: preflight still answers 204 with allowed headers and methods', async () => {
  const app = createFunctionApp('demo');
  app.post('/json', (c) => c.json({ ok: true }));
  const res = await app.request('/demo/json', {
    method: 'OPTIONS',
    headers: {
      origin: 'http://localhost:3000',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization, content-type',
    },
  });
  assert.equal(res.status, 204);
  assert.equal(res.headers.get('access-control-allow-origin'), '*');
  assert.match(res.headers.get('access-control-allow-methods')!, /PATCH/);
  assert.match(res.headers.get('access-control-allow-headers')!, /x-client-info/);
  assert.equal(res.headers.get('access-control-max-age'), '86400');
  assert.ok(res.headers.get('x-request-id'));
});

Deno.test('http timing and ids: handler metrics then total in Server-Timing; odd caller ids replaced', async () => {
  const { setMetric } = await import('hono/timing');
  const app = createFunctionApp('demo');
  app.get('/metric', (c) => {
    setMetric(c, 'optimizer', 1.25, 'hit memory');
    return c.json({ ok: true });
  });
  const res = await app.request('/demo/metric', { headers: { 'x-request-id': 'trace-1=ok' } });
  assert.match(
    res.headers.get('server-timing')!,
    /^optimizer;dur=1\.3;desc="hit memory",total;dur=[\d.]+;desc="Total Response Time"$/,
  );
  assert.equal(res.headers.get('timing-allow-origin'), '*');
  assert.equal(res.headers.get('x-request-id'), 'trace-1=ok');
  await res.body?.cancel();
  for (const odd of ['has space', 'x'.repeat(256), 'semi;colon']) {
    const other = await app.request('/demo/metric', { headers: { 'x-request-id': odd } });
    assert.match(other.headers.get('x-request-id')!, /^[0-9a-f-]{36}$/, odd);
    await other.body?.cancel();
  }
  const raw = await app.request('/demo/missing');
  assert.equal(raw.headers.get('timing-allow-origin'), '*');
  await raw.body?.cancel();
});
