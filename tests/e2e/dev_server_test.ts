import assert from 'node:assert/strict';
import { createClient } from '@supabase/supabase-js';
import { createEmbeddedDatabase } from '../../scripts/pglite.ts';
import { LOCAL_PUBLISHABLE_KEY } from '../../scripts/local_keys.ts';
import { startDevServer } from '../support/dev_server.ts';
import { upstashBridge } from '../support/services.ts';

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

/** Runs the dev server expecting it to refuse to start: its exit code and what it printed. */
async function failedStart(env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ['run', '-A', '--unstable-no-legacy-abort', 'scripts/dev-server.ts'],
    cwd: new URL('../../', import.meta.url).pathname,
    clearEnv: true,
    env: {
      PATH: Deno.env.get('PATH') ?? '/usr/bin:/bin',
      HOME: Deno.env.get('HOME') ?? '/tmp',
      DENO_DIR: Deno.env.get('DENO_DIR') ?? '',
      DENO_NO_PACKAGE_JSON: '1',
      NO_COLOR: '1',
      PORT: '0',
      QF_LOCAL_DATA_DIR: 'memory://',
      ...env,
    },
    stdout: 'piped',
    stderr: 'piped',
  }).output();
  const decoder = new TextDecoder();
  assert.equal(decoder.decode(stdout), '', 'nothing on stdout: no banner');
  return { code, stderr: decoder.decode(stderr) };
}

/** A loopback port nobody listens on. */
function closedPort(): number {
  const listener = Deno.listen({ hostname: '127.0.0.1', port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** One line, no stack trace. */
function assertOneLine(stderr: string): void {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line expected:\n${stderr}`);
  assert.doesNotMatch(stderr, /^\s+at |Uncaught|error: /m);
}

Deno.test('dev server: a port in use is one line naming the port and PORT=..., exit 1, no stack', async () => {
  const listener = Deno.listen({ hostname: '127.0.0.1', port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  try {
    const { code, stderr } = await failedStart({ PORT: String(port) });
    assert.equal(code, 1);
    assertOneLine(stderr);
    assert.match(stderr, new RegExp(`port ${port} .*already in use`));
    assert.match(stderr, new RegExp(`PORT=${port + 1} npm start`));
  } finally {
    listener.close();
  }
});

Deno.test('dev server: an unreachable SUPABASE_DB_URL says so in one line and serves 503s until it answers', async () => {
  const port = closedPort();
  const server = await startDevServer({
    SUPABASE_DB_URL: `postgresql://postgres:hunter2@127.0.0.1:${port}/postgres`,
  });
  try {
    const stderr = server.stderr;
    assertOneLine(stderr);
    assert.match(stderr, /cannot reach the database at SUPABASE_DB_URL=/);
    assert.match(stderr, new RegExp(`127\\.0\\.0\\.1:${port}`));
    assert.doesNotMatch(stderr, /hunter2/, 'the password is never printed');
    assert.match(stderr, /unset SUPABASE_DB_URL to use the embedded database/);
    const read = await fetch(`${server.base}/robots/public`);
    assert.equal(read.status, 503);
    assert.ok(read.headers.get('retry-after'));
    const body = await read.json();
    assert.equal(body.error.code, 'db_unavailable');
    assert.doesNotMatch(JSON.stringify(body), /hunter2|127\.0\.0\.1/);
  } finally {
    await server.stop();
  }
});

Deno.test('dev server: a SUPABASE_DB_URL with a wrong password is one line, exit 1', async () => {
  const { databaseUrl } = await import('../support/services.ts');
  const url = new URL(databaseUrl());
  url.password = 'hunter2-wrong';
  url.username = 'qf_no_such_role';
  const { code, stderr } = await failedStart({ SUPABASE_DB_URL: url.toString() });
  assert.equal(code, 1);
  assertOneLine(stderr);
  assert.match(stderr, /cannot use the database at SUPABASE_DB_URL=/);
  assert.doesNotMatch(stderr, /hunter2/, 'the password is never printed');
});

Deno.test('dev server: wrong Upstash credentials say what failed and what to change', async () => {
  const bridge = upstashBridge();
  const wrongToken = await failedStart({
    UPSTASH_REDIS_REST_URL: bridge.url,
    UPSTASH_REDIS_REST_TOKEN: 'not-the-token',
  });
  assert.equal(wrongToken.code, 1);
  assertOneLine(wrongToken.stderr);
  assert.match(wrongToken.stderr, /Upstash Redis at UPSTASH_REDIS_REST_URL=.* did not answer PING/);
  assert.match(wrongToken.stderr, /Check UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN/);
  assert.doesNotMatch(wrongToken.stderr, /not-the-token/);

  const unreachable = await failedStart({
    UPSTASH_REDIS_REST_URL: `http://127.0.0.1:${closedPort()}`,
    UPSTASH_REDIS_REST_TOKEN: bridge.token,
  });
  assert.equal(unreachable.code, 1);
  assertOneLine(unreachable.stderr);
  assert.match(unreachable.stderr, /did not answer PING/);

  const half = await failedStart({ UPSTASH_REDIS_REST_URL: bridge.url });
  assert.equal(half.code, 1);
  assertOneLine(half.stderr);
  assert.match(half.stderr, /must be set together/);
});

Deno.test('dev server: data survives a restart; new migrations only; --reset and QF_LOCAL_DB_RESET start clean', async () => {
  const dataDir = await Deno.makeTempDir({ prefix: 'qf-devserver-data-' });
  const env = { QF_LOCAL_DATA_DIR: dataDir };
  const supabaseOf = (server: { port: number }) =>
    createClient(`http://127.0.0.1:${server.port}`, LOCAL_PUBLISHABLE_KEY, {
      auth: { persistSession: false, autoRefreshToken: false },
    });
  const email = `keep-${crypto.randomUUID()}@example.com`;
  try {
    let server = await startDevServer(env);
    let robotId: string;
    try {
      assert.match(
        server.banner,
        /database:\s+pglite .* \(new: \d+ migrations and the seed applied\)/,
      );
      const supabase = supabaseOf(server);
      assert.equal((await supabase.auth.signUp({ email, password: 'keep-me-1' })).error, null);
      const created = await supabase.functions.invoke('robots', {
        method: 'POST',
        body: { name: 'Survivor', strategy_type: 'grid' },
      });
      assert.equal(created.error, null, String(created.error));
      robotId = created.data.id;
      // The first requests print nothing a user cannot act on (no legacy-abort warning).
      assert.equal(server.stderr, '');
      // A second dev server on the same folder is refused at once: PGlite is one process's.
      const second = await failedStart(env);
      assert.equal(second.code, 1);
      assertOneLine(second.stderr);
      assert.match(second.stderr, /another dev server is using the data folder/);
      assert.match(second.stderr, /QF_LOCAL_DATA_DIR=/);
    } finally {
      assert.equal(await server.stop(), 0);
    }

    server = await startDevServer(env);
    try {
      assert.match(server.banner, /database:\s+pglite .* \(kept; no new migrations\)/);
      const supabase = supabaseOf(server);
      const signIn = await supabase.auth.signInWithPassword({ email, password: 'keep-me-1' });
      assert.equal(signIn.error, null);
      const mine = await supabase.functions.invoke('robots', { method: 'GET' });
      assert.deepEqual(mine.data.items.map((r: { id: string }) => r.id), [robotId]);
    } finally {
      assert.equal(await server.stop(), 0);
    }

    // A migration recorded as applied is not applied again; one missing from the record is.
    const db = await createEmbeddedDatabase({ dataDir });
    const [{ version }] = await db.query<{ version: string }>(
      'select max(version) as version from supabase_migrations.schema_migrations',
    );
    await db.query('delete from supabase_migrations.schema_migrations where version = $1', [
      version,
    ]);
    await db.close();
    server = await startDevServer(env);
    try {
      assert.match(server.banner, new RegExp(`\\(kept; applied ${version}_`));
    } finally {
      assert.equal(await server.stop(), 0);
    }

    const resets: { args: string[]; env: Record<string, string> }[] = [
      { args: ['--reset'], env: {} },
      { args: [], env: { QF_LOCAL_DB_RESET: '1' } },
    ];
    for (const reset of resets) {
      server = await startDevServer({ ...env, ...reset.env }, 0, reset.args);
      try {
        assert.match(server.banner, /\(new: \d+ migrations and the seed applied\)/);
        const signIn = await supabaseOf(server).auth.signInWithPassword({
          email,
          password: 'keep-me-1',
        });
        assert.equal(signIn.error?.code, 'invalid_credentials');
      } finally {
        assert.equal(await server.stop(), 0);
      }
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
