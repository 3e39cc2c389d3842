import assert from 'node:assert/strict';
import { startDevServer } from '../support/dev_server.ts';

Deno.test('dev server: serves health on embedded defaults, routes like the gateway, stops cleanly', async () => {
  const server = await startDevServer();
  let stopped = false;
  try {
    assert.match(server.banner, /store:\s+memory/);
    assert.match(server.banner, /database:\s+pglite/);
    assert.match(server.banner, /anon key:\s+eyJ/);
    assert.match(server.banner, /service_role key:\s+eyJ/);

    const first = await fetch(`${server.base}/health`);
    assert.equal(first.status, 200);
    const body = await first.json();
    assert.equal(body.status, 'ok');
    assert.equal(body.checks.cache.backend, 'memory');
    assert.equal(body.checks.cache.ok, true);
    assert.equal(body.checks.db.backend, 'pglite');
    assert.equal(body.checks.db.ok, true);
    assert.equal(body.instance.coldStart, true);
    assert.equal(first.headers.get('x-instance-id'), body.instance.id);
    assert.match(first.headers.get('x-request-id')!, /^[0-9a-f-]{36}$/);

    const second = await (await fetch(`${server.base}/health`)).json();
    assert.equal(second.instance.coldStart, false);
    assert.equal(second.instance.id, body.instance.id);

    const unknown = await fetch(`${server.base}/no-such-function`);
    assert.equal(unknown.status, 404);
    const error = await unknown.json();
    assert.equal(error.error.code, 'function_not_found');
    assert.match(error.error.message, /health/);

    const outside = await fetch(`http://127.0.0.1:${server.port}/rest/v1/robots`);
    assert.equal(outside.status, 404);
    await outside.body?.cancel();

    const code = await server.stop();
    stopped = true;
    assert.equal(code, 0);

    // A second start on the same port works at once.
    const again = await startDevServer({}, server.port);
    try {
      const res = await fetch(`${again.base}/health`);
      assert.equal(res.status, 200);
      await res.body?.cancel();
    } finally {
      assert.equal(await again.stop(), 0);
    }
  } finally {
    if (!stopped) await server.stop();
  }
});
