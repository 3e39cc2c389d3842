/**
 * supabase/functions/_shared/serve.ts: a function's index.ts answers warm-up pings without its
 * app module, and hands every other request to the app once it has loaded (issue 11).
 */
import assert from 'node:assert/strict';
import { lazyFunctionApp, type ServedModule } from '../../supabase/functions/_shared/serve.ts';
import { settleBackground } from '../../shared/runtime/background.ts';

/** A load that settles only when the test says so, counting its calls. */
function deferredLoad() {
  let resolve!: (module: ServedModule) => void;
  let reject!: (error: unknown) => void;
  const calls: number[] = [];
  const load = () => {
    calls.push(calls.length + 1);
    return new Promise<ServedModule>((res, rej) => {
      resolve = res;
      reject = rej;
    });
  };
  return {
    load,
    calls,
    resolve: (m: ServedModule) => resolve(m),
    reject: (e: unknown) => reject(e),
  };
}

/** An app that answers with what it received. */
function echoModule(): ServedModule & { seen: { url: string; info: unknown }[] } {
  const seen: { url: string; info: unknown }[] = [];
  return {
    seen,
    app: {
      fetch(request: Request, info?: unknown) {
        seen.push({ url: request.url, info });
        return Response.json({ served: 'app', path: new URL(request.url).pathname });
      },
    },
  };
}

Deno.test('serve: a warm-up ping answers while the app has not loaded', async () => {
  const { load, calls, resolve } = deferredLoad();
  const handler = lazyFunctionApp('lazy-ping', load);
  assert.equal(calls.length, 0, 'nothing loads before a request');
  const res = await handler.fetch(
    new Request('http://edge/lazy-ping/__warmup', { method: 'POST' }),
  );
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.function, 'lazy-ping');
  assert.equal(body.coldStart, true);
  assert.ok(res.headers.get('x-instance-id'), 'the shared headers of a function app');
  assert.equal(res.headers.get('access-control-allow-origin'), '*');
  assert.equal(handler.loaded, false);
  // The ping starts loading the app in the background, for the instance's next request.
  assert.equal(calls.length, 1);
  // x-warmup: 1 on any path is a ping too, and does not start a second load.
  const byHeader = await handler.fetch(
    new Request('http://edge/lazy-ping/anything', { headers: { 'x-warmup': '1' } }),
  );
  assert.equal(byHeader.status, 200);
  assert.equal((await byHeader.json()).coldStart, false);
  assert.equal(calls.length, 1);
  resolve(echoModule());
  await settleBackground();
  assert.equal(handler.loaded, true);
});

Deno.test('serve: other requests wait for the app and reach it unchanged, request info included', async () => {
  const { load, calls, resolve } = deferredLoad();
  const handler = lazyFunctionApp('lazy-route', load);
  const module = echoModule();
  const info = { remoteAddr: { transport: 'tcp', hostname: '203.0.113.7', port: 5000 } };
  const pending = handler.fetch(new Request('http://edge/lazy-route/items?x=1'), info);
  assert.equal(calls.length, 1);
  resolve(module);
  const res = await pending;
  assert.deepEqual(await res.json(), { served: 'app', path: '/lazy-route/items' });
  assert.deepEqual(module.seen, [{ url: 'http://edge/lazy-route/items?x=1', info }]);
  // Once loaded, pings go to the app itself (it answers them with the same middleware).
  await (await handler.fetch(new Request('http://edge/lazy-route/__warmup'))).body?.cancel();
  assert.equal(module.seen.length, 2);
  assert.equal(calls.length, 1, 'loaded once');
});

Deno.test('serve: ready() loads the app once', async () => {
  const { load, calls, resolve } = deferredLoad();
  const handler = lazyFunctionApp('lazy-ready', load);
  const ready = handler.ready();
  assert.equal(calls.length, 1);
  resolve(echoModule());
  await ready;
  assert.equal(handler.loaded, true);
  const res = await handler.fetch(new Request('http://edge/lazy-ready/'));
  assert.equal((await res.json()).served, 'app');
  assert.equal(calls.length, 1);
});

Deno.test('serve: a failed load is a JSON 500 and the next request loads again', async () => {
  const { load, calls, reject, resolve } = deferredLoad();
  const handler = lazyFunctionApp('lazy-fail', load);
  const logged: unknown[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => logged.push(args);
  try {
    const pending = handler.fetch(new Request('http://edge/lazy-fail/items'));
    reject(new Error('SUPABASE_DB_URL is malformed'));
    const res = await pending;
    assert.equal(res.status, 500);
    const body = await res.json();
    assert.equal(body.error.code, 'internal_error');
    assert.doesNotMatch(JSON.stringify(body), /malformed|at /, 'no cause or stack in the answer');
    assert.equal(logged.length, 1, 'the cause is logged');
  } finally {
    console.error = original;
  }
  const retry = handler.fetch(new Request('http://edge/lazy-fail/items'));
  assert.equal(calls.length, 2);
  resolve(echoModule());
  assert.equal((await retry).status, 200);
});

/** Serves `supabase/functions/<name>/index.ts` as deployed (its own import map) on a free port. */
function serveFunction(name: string) {
  const listener = Deno.listen({ hostname: '127.0.0.1', port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  const dir = new URL(`../../supabase/functions/${name}/`, import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: ['run', '-A', '--unstable-no-legacy-abort', '--config', 'deno.json', 'index.ts'],
    cwd: dir,
    env: {
      DENO_NO_PACKAGE_JSON: '1',
      NO_COLOR: '1',
      DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${port}`,
      // Nothing listens there: the ping and the first answers must not need the database.
      SUPABASE_DB_URL: 'postgres://postgres:postgres@127.0.0.1:9/postgres',
      QF_RATELIMIT_ENABLED: 'false',
      LOCAL_CRON: 'off',
      UPSTASH_REDIS_REST_URL: '',
      UPSTASH_REDIS_REST_TOKEN: '',
      CRON_SECRET: '',
    },
    stdout: 'null',
    stderr: 'null',
  }).spawn();
  const base = `http://127.0.0.1:${port}/${name}`;
  const deadline = Date.now() + 30_000;
  const request = async (path: string, init?: RequestInit): Promise<Response> => {
    for (;;) {
      try {
        return await fetch(`${base}${path}`, init);
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  };
  const stop = async () => {
    child.kill('SIGKILL');
    await child.status;
  };
  return { request, stop };
}

for (const name of ['optimizer', 'warmup']) {
  Deno.test(`serve: ${name}'s index.ts answers a ping, then its app's routes on first use`, async () => {
    const server = serveFunction(name);
    try {
      const ping = await server.request('/__warmup', { method: 'POST' });
      assert.equal(ping.status, 200);
      const body = await ping.json();
      assert.equal(body.function, name);
      assert.equal(body.coldStart, true);
      // The first request of the app itself: its service auth answers, through the loaded app.
      const path = name === 'optimizer' ? '/status' : '';
      const denied = await server.request(path, { method: name === 'optimizer' ? 'GET' : 'POST' });
      assert.equal(denied.status, 401);
      const error = await denied.json();
      assert.equal(typeof error.error.code, 'string');
      assert.ok(denied.headers.get('x-request-id'));
    } finally {
      await server.stop();
    }
  });
}
