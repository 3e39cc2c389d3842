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

/** Sends `head` (a raw HTTP/1.1 request head) and reads the answer until the server closes. */
async function rawHttp(port: number, head: string) {
  const conn = await Deno.connect({ hostname: '127.0.0.1', port });
  await conn.write(new TextEncoder().encode(head));
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(65_536);
  for (;;) {
    const n = await conn.read(buffer);
    if (n === null) break;
    chunks.push(buffer.slice(0, n));
  }
  conn.close();
  const text = new TextDecoder().decode(
    new Uint8Array(chunks.flatMap((c) => [...c])),
  );
  const [headText, body = ''] = text.split('\r\n\r\n');
  const [statusLine, ...lines] = headText.split('\r\n');
  const headers = new Headers(
    lines.map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]),
  );
  return { status: Number(statusLine.split(' ')[1]), headers, body };
}

Deno.test('dev server: the gateway answers JSON with x-request-id, never a throw', async () => {
  const server = await startDevServer();
  try {
    const host = `Host: 127.0.0.1:${server.port}\r\nConnection: close\r\n`;
    for (
      const head of [
        `TRACE /functions/v1/health HTTP/1.1\r\n${host}\r\n`,
        `TRACK /functions/v1/health HTTP/1.1\r\n${host}\r\n`,
        `CONNECT 127.0.0.1:${server.port} HTTP/1.1\r\n${host}\r\n`,
      ]
    ) {
      const res = await rawHttp(server.port, head);
      assert.equal(res.status, 405, head);
      assert.match(res.headers.get('content-type')!, /application\/json/);
      assert.match(res.headers.get('x-request-id')!, /^[0-9a-f-]{36}$/);
      assert.match(res.headers.get('allow')!, /GET/);
      assert.equal(JSON.parse(res.body).error.code, 'method_not_allowed');
    }
    // Unknown function and unknown path: JSON 404 with a request id, the caller's if given.
    for (const path of ['/functions/v1/no-such-function', '/rest/v1/robots', '/']) {
      const res = await fetch(`http://127.0.0.1:${server.port}${path}`, {
        headers: { 'x-request-id': 'trace-me-123' },
      });
      assert.equal(res.status, 404, path);
      assert.equal(res.headers.get('x-request-id'), 'trace-me-123');
      assert.match(res.headers.get('content-type')!, /application\/json/);
      const body = await res.json();
      assert.equal(body.error.code, 'function_not_found');
      assert.equal(body.error.requestId, 'trace-me-123');
    }
    // A request id that is not one is replaced, not echoed.
    const odd = await fetch(`${server.base}/nope`, { headers: { 'x-request-id': '<b>x</b>' } });
    assert.match(odd.headers.get('x-request-id')!, /^[0-9a-f-]{36}$/);
    assert.doesNotMatch(await odd.text(), /<b>/);
    // The gateway passes its request id on to the function.
    const health = await fetch(`${server.base}/health`, { headers: { 'x-request-id': 'abc-1' } });
    assert.equal(health.headers.get('x-request-id'), 'abc-1');
    await health.body?.cancel();
    // Bodies are forwarded (POST through the gateway reaches the function).
    const post = await fetch(`${server.base}/robots`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x' }),
    });
    assert.equal(post.status, 401);
    assert.match(post.headers.get('x-request-id')!, /^[0-9a-f-]{36}$/);
    assert.equal(typeof (await post.json()).error.code, 'string');
    // CONNECT with a path instead of host:port is not HTTP: Deno's parser closes it with a bare
    // 400 before any code of ours runs (docs/security.md). It must not disturb the server.
    const malformed = await rawHttp(
      server.port,
      `CONNECT /functions/v1/health HTTP/1.1\r\n${host}\r\n`,
    );
    assert.equal(malformed.status, 400);
    // Still alive.
    const after = await fetch(`${server.base}/health`);
    assert.equal(after.status, 200);
    await after.body?.cancel();
  } finally {
    await server.stop();
  }
});
