/**
 * Cold start (issue 11, target 4a): a function on the memory store does not load the Upstash
 * clients. Each function's static module graph (`deno info --json` through its own import map,
 * dynamic imports left out) holds neither `@upstash/redis` nor `@upstash/ratelimit`, and its app
 * imported in a fresh process on the memory store loads neither adapter (module flags); started
 * with Upstash named, the store and the caller limiter load and use it (here against a refused
 * port; the integration tests run them on the bridge).
 */
import assert from 'node:assert/strict';
import { runInFunction } from '../support/fresh_process.ts';

const root = new URL('../../', import.meta.url);
const functions = ['health', 'robots', 'strategies', 'optimizer', 'warmup'];

interface GraphModule {
  specifier: string;
  dependencies?: { code?: { specifier: string }; isDynamic?: boolean }[];
}

/**
 * The modules `supabase/functions/<fn>/index.ts` loads before running (static imports only), as
 * Deno resolves them with the function's import map: each with its static importers' paths.
 */
async function staticGraph(fn: string): Promise<Map<string, string[]>> {
  const dir = new URL(`supabase/functions/${fn}/`, root);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ['info', '--json', '--config', 'deno.json', '--no-lock', 'index.ts'],
    cwd: dir.pathname,
    env: { DENO_NO_PACKAGE_JSON: '1', NO_COLOR: '1' },
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const graph = JSON.parse(new TextDecoder().decode(out.stdout));
  const modules = new Map<string, GraphModule>(
    graph.modules.map((m: GraphModule) => [m.specifier, m]),
  );
  const importers = new Map<string, string[]>();
  const queue: string[] = [...graph.roots];
  for (const start of queue) importers.set(start, []);
  while (queue.length) {
    const from = queue.shift()!;
    for (const dep of modules.get(from)?.dependencies ?? []) {
      if (!dep.code || dep.isDynamic) continue;
      const to = dep.code.specifier;
      const local = from.replace(root.href, '');
      if (importers.has(to)) importers.get(to)!.push(local);
      else {
        importers.set(to, [local]);
        queue.push(to);
      }
    }
  }
  return importers;
}

function run(fn: string, code: string, env: Record<string, string>) {
  // Nothing listens there: importing the app must not need the database.
  return runInFunction(fn, code, {
    SUPABASE_DB_URL: 'postgres://postgres:postgres@127.0.0.1:9/postgres',
    ...env,
  });
}

const flags = `
  const { upstashAdapterLoaded } = await import('${new URL('shared/store/mod.ts', root)}');
  const { upstashRatelimitLoaded } = await import('${new URL(
  'shared/http/rate_limit/upstash.ts',
  root,
)}');
`;

for (const fn of functions) {
  Deno.test(`store: ${fn}'s static graph holds neither Upstash client nor the Upstash adapter`, async () => {
    const graph = await staticGraph(fn);
    const reached = (prefix: string) =>
      [...graph].filter(([specifier]) => specifier.startsWith(prefix)).map(([s, by]) =>
        `${s} <- ${by}`
      );
    assert.deepEqual(reached('npm:@upstash/redis'), []);
    assert.deepEqual(reached(new URL('shared/store/upstash.ts', root).href), []);
    assert.deepEqual(reached('npm:@upstash/ratelimit'), []);
  });

  Deno.test(`store: ${fn} on the memory store loads neither Upstash adapter`, async () => {
    const code = `
      await import('${new URL(`supabase/functions/${fn}/app.ts`, root)}');
      ${flags}
      console.log(JSON.stringify([upstashAdapterLoaded(), upstashRatelimitLoaded()]));
    `;
    const memory = await run(fn, code, {});
    assert.equal(memory.code, 0, memory.stderr);
    assert.deepEqual(JSON.parse(memory.stdout), [false, false]);
  });
}

Deno.test('store: with Upstash named at start, the store and the caller limiter use it', async () => {
  const code = `
    ${flags}
    const { getStore } = await import('${new URL('shared/store/mod.ts', root)}');
    const { UpstashStore } = await import('${new URL('shared/store/upstash.ts', root)}');
    const { createCallerRateLimiter } = await import('${new URL(
    'shared/http/rate_limit/upstash.ts',
    root,
  )}');
    const store = getStore();
    const before = upstashRatelimitLoaded();
    const limiter = createCallerRateLimiter(
      { windowMs: 60_000, timeoutMs: 100, fallbackMs: 1000, prefix: 'qf:test' },
      store,
    );
    const decision = await limiter.limit('anon:1', 'anon', 10);
    console.log(JSON.stringify({
      adapter: upstashAdapterLoaded(),
      upstash: store instanceof UpstashStore,
      limiter: limiter.backend,
      before,
      after: upstashRatelimitLoaded(),
      success: decision.success,
      reason: decision.reason,
    }));
  `;
  const out = await run('robots', code, {
    UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:9',
    UPSTASH_REDIS_REST_TOKEN: 'token',
  });
  assert.equal(out.code, 0, out.stderr);
  assert.deepEqual(JSON.parse(out.stdout), {
    adapter: true,
    upstash: true,
    limiter: 'upstash',
    before: false,
    after: true,
    success: true, // a refused Redis fails open
    reason: 'error',
  });
});

Deno.test('store: Upstash named after start needs loadUpstashAdapter(), then builds it', async () => {
  const code = `
    const { storeFromEnv, loadUpstashAdapter, upstashAdapterLoaded } = await import('${new URL(
    'shared/store/mod.ts',
    root,
  )}');
    const env = (name) => ({ UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:9', UPSTASH_REDIS_REST_TOKEN: 't' })[name];
    let error = '';
    try { storeFromEnv(env); } catch (e) { error = e.message; }
    const memory = storeFromEnv(() => undefined).backend;
    await loadUpstashAdapter();
    console.log(JSON.stringify({ error, memory, loaded: upstashAdapterLoaded(), backend: storeFromEnv(env).backend }));
  `;
  const out = await run('robots', code, {});
  assert.equal(out.code, 0, out.stderr);
  const result = JSON.parse(out.stdout);
  assert.match(result.error, /await loadUpstashAdapter\(\)/);
  assert.deepEqual({ ...result, error: undefined }, {
    error: undefined,
    memory: 'memory',
    loaded: true,
    backend: 'upstash',
  });
});
