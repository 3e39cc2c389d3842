/**
 * The dev server's start-up pieces (issue 11: first health answer within 1 s on the embedded
 * database): the database that is still opening, and functions imported on first use.
 */
import assert from 'node:assert/strict';
import { Hono } from 'hono';
import { startingDatabase } from '../../scripts/dev/backends.ts';
import { createGateway } from '../../scripts/dev/gateway.ts';
import type { Database } from '../../shared/db/types.ts';
import { createFunctionApp } from '../../shared/http/app.ts';

function fakeDatabase(): Database & { queries: string[] } {
  const queries: string[] = [];
  return {
    queries,
    backend: 'pglite',
    query: <T>(text: string) => {
      queries.push(text);
      return Promise.resolve([{ text }] as T[]);
    },
    transaction: (fn) => fn({ query: (text) => Promise.resolve([{ text }] as never) }),
    asUser: (_claims, fn) => fn({ query: (text) => Promise.resolve([{ text }] as never) }),
    ping: () => Promise.resolve({ ok: true, latencyMs: 1 }),
    close: () => Promise.resolve(),
  };
}

Deno.test('dev start: a database still opening says so at once and holds queries until it is open', async () => {
  const ready = Promise.withResolvers<Database>();
  const db = startingDatabase(ready.promise);
  const ping = await db.ping(1500);
  assert.equal(ping.ok, false);
  assert.match(ping.reason!, /starting/);
  let answered = false;
  const pending = db.query('select 1').then((rows) => {
    answered = true;
    return rows;
  });
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(answered, false, 'a query waits for the database');
  const real = fakeDatabase();
  ready.resolve(real);
  assert.deepEqual(await pending, [{ text: 'select 1' }]);
  assert.deepEqual(real.queries, ['select 1']);
  assert.equal((await db.ping()).ok, true, 'then ping is the real one');
});

Deno.test('dev start: a lazily loaded function is imported on its first request, once; a failed import is a JSON 500', async () => {
  let loads = 0;
  const app = new Hono().basePath('/demo');
  app.get('/', (c) => c.json({ ok: true }));
  const gateway = createGateway([
    {
      name: 'demo',
      load: () => {
        loads++;
        return Promise.resolve(app);
      },
    },
    { name: 'broken', load: () => Promise.reject(new Error('syntax error in app.ts')) },
  ]);
  const info = { remoteAddr: { transport: 'tcp', hostname: '127.0.0.1', port: 1 } } as never;
  for (let i = 0; i < 3; i++) {
    const res = await gateway(new Request('http://127.0.0.1/functions/v1/demo'), info);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { ok: true });
  }
  assert.equal(loads, 1);
  const error = console.error;
  console.error = () => {};
  try {
    const broken = await gateway(new Request('http://127.0.0.1/functions/v1/broken'), info);
    assert.equal(broken.status, 500);
    const body = await broken.json();
    assert.equal(body.error.code, 'internal_error');
    assert.doesNotMatch(JSON.stringify(body), /syntax error/);
  } finally {
    console.error = error;
  }
});

Deno.test('dev gateway: a plain path reaches a function app as it came; a normalized one as a copy under /<name>', async () => {
  const seen: { request: Request; path: string }[] = [];
  const app = createFunctionApp('demo');
  app.get('/items/:id', (c) => {
    seen.push({ request: c.req.raw, path: c.req.path });
    return c.json({ id: c.req.param('id') });
  });
  const gateway = createGateway([{ name: 'demo', app: app as unknown as Hono }]);
  const info = { remoteAddr: { transport: 'tcp', hostname: '127.0.0.1', port: 1 } } as never;
  const plain = new Request('http://127.0.0.1/functions/v1/demo/items/7?x=1');
  const res = await gateway(plain, info);
  assert.deepEqual(await res.json(), { id: '7' });
  assert.equal(seen[0].request, plain, 'no copy of the request');
  assert.equal(seen[0].path, '/demo/items/7');
  // An escape (or dots, backslashes: Deno.serve hands the path over raw) is normalized by URL.
  const escaped = new Request('http://127.0.0.1/functions/v1/demo/items/a%20b');
  assert.deepEqual(await (await gateway(escaped, info)).json(), { id: 'a b' });
  assert.notEqual(seen[1].request, escaped);
  assert.equal(seen[1].request.url, 'http://127.0.0.1/demo/items/a%20b');
});

Deno.test('dev gateway: an app that throws, at once or later, is a JSON 500 without details', async () => {
  const throwing = {
    fetch: () => {
      throw new Error('sync secret');
    },
  } as unknown as Hono;
  const rejecting = { fetch: () => Promise.reject(new Error('async secret')) } as unknown as Hono;
  const gateway = createGateway([{ name: 'sync', app: throwing }, {
    name: 'late',
    app: rejecting,
  }]);
  const info = { remoteAddr: { transport: 'tcp', hostname: '127.0.0.1', port: 1 } } as never;
  const error = console.error;
  console.error = () => {};
  try {
    for (const name of ['sync', 'late']) {
      const res = await gateway(new Request(`http://127.0.0.1/functions/v1/${name}/x`), info);
      assert.equal(res.status, 500);
      const text = await res.text();
      assert.equal(JSON.parse(text).error.code, 'internal_error');
      assert.doesNotMatch(text, /secret/);
    }
  } finally {
    console.error = error;
  }
});
