/** Per-caller rate limiting on real Redis through the Upstash REST bridge, two isolates. */
import assert from 'node:assert/strict';
import { createFunctionApp, type FunctionEnv } from '../../shared/http/app.ts';
import { authenticate, type AuthVariables, signLocalJwt } from '../../shared/http/auth.ts';
import { rateLimitByCaller, UpstashCallerLimiter } from '../../shared/http/rate_limit.ts';
import { Metrics } from '../../shared/optimizer/metrics.ts';
import { UpstashStore } from '../../shared/store/upstash.ts';
import { upstashBridge } from '../support/services.ts';

const run = crypto.randomUUID().slice(0, 8);
const noEnv = () => undefined;

/** One isolate: its own store client, app and limiter, as a function creates them at start. */
function isolate(prefix: string, limits: { anonLimit: number; userLimit: number }) {
  const { url, token } = upstashBridge();
  // Generous timeouts: this test is about the shared window, not about failing open.
  const store = new UpstashStore({ url, token, timeoutMs: 5_000 });
  const metrics = new Metrics();
  const app = createFunctionApp<FunctionEnv & { Variables: AuthVariables }>('demo');
  app.use('*', authenticate({ env: noEnv }) as never);
  app.use(
    '*',
    rateLimitByCaller({ env: noEnv, store, prefix, timeoutMs: 4_000, metrics, ...limits }) as never,
  );
  app.get('/ok', (c) => c.json({ ok: true }));
  return { store, app, metrics };
}

async function cleanup(store: UpstashStore, prefix: string) {
  let cursor = '0';
  do {
    const [next, keys] = await store.redis.scan(cursor, { match: `${prefix}*`, count: 200 });
    cursor = String(next);
    if (keys.length > 0) await store.redis.del(...keys);
  } while (cursor !== '0');
}

Deno.test('rate limit via the bridge: while anon floods two isolates, a user succeeds >= 95%', async () => {
  const prefix = `qf-test:${run}:flood`;
  const a = isolate(prefix, { anonLimit: 30, userLimit: 200 });
  const b = isolate(prefix, { anonLimit: 30, userLimit: 200 });
  const user = {
    authorization: `Bearer ${await signLocalJwt({
      role: 'authenticated',
      sub: `7d3f${run}-0000-4000-8000-000000000001`,
    })}`,
  };
  const flood = { 'x-forwarded-for': '203.0.113.99' };
  const anon: { status: number; limit: string | null }[] = [];
  const users: { status: number; limit: string | null }[] = [];
  const call = async (
    side: typeof a,
    headers: Record<string, string>,
    into: typeof anon,
  ) => {
    const res = await side.app.request('/demo/ok', { headers });
    into.push({ status: res.status, limit: res.headers.get('ratelimit-limit') });
    await res.body?.cancel();
  };
  try {
    for (let round = 0; round < 20; round++) {
      const side = round % 2 ? a : b;
      await Promise.all([
        ...Array.from({ length: 8 }, (_, i) => call(i % 2 ? a : b, flood, anon)),
        call(side, user, users),
      ]);
    }
    const userOk = users.filter((r) => r.status === 200).length / users.length;
    assert.ok(userOk >= 0.95, `user success ${userOk}`);
    // The window is shared: the two isolates together let the flood through exactly 30 times.
    assert.equal(anon.filter((r) => r.status === 200).length, 30);
    assert.ok(anon.every((r) => r.status === 200 || r.status === 429));
    // Headers on every answer, 200 and 429 alike.
    assert.ok(anon.every((r) => r.limit === '30'));
    assert.ok(users.every((r) => r.limit === '200'));
    assert.equal(
      a.metrics.counter('ratelimit.fail_open') + b.metrics.counter('ratelimit.fail_open'),
      0,
    );
    assert.ok(
      a.metrics.counter('ratelimit.denied.anon') + b.metrics.counter('ratelimit.denied.anon') > 0,
    );
  } finally {
    await cleanup(a.store, prefix);
  }
});

Deno.test('rate limit via the bridge: one user across isolates has one budget per tier', async () => {
  const prefix = `qf-test:${run}:user`;
  const { url, token } = upstashBridge();
  const store = new UpstashStore({ url, token, timeoutMs: 5_000 });
  const one = new UpstashCallerLimiter({ redis: store.redis, prefix, timeoutMs: 4_000 });
  const two = new UpstashCallerLimiter({ redis: store.redis, prefix, timeoutMs: 4_000 });
  try {
    const results = [];
    for (const limiter of [one, two, one, two]) {
      results.push(await limiter.limit('user:abc', 'user', 3));
    }
    assert.deepEqual(results.map((r) => r.success), [true, true, true, false]);
    assert.deepEqual(results.map((r) => r.remaining), [2, 1, 0, 0]);
    assert.ok(results.every((r) => r.reason === undefined || r.reason === 'cacheBlock'));
    // Tiers are separate windows: the same identifier as anon has its own budget.
    assert.equal((await one.limit('user:abc', 'anon', 3)).success, true);
  } finally {
    await cleanup(store, prefix);
  }
});

Deno.test('rate limit through the dev server on the bridge: an anonymous flood does not starve a user', async () => {
  const { startDevServer } = await import('../support/dev_server.ts');
  const { databaseUrl } = await import('../support/services.ts');
  const { userToken, anonKey } = await import('../support/tokens.ts');
  const prefix = `qf-test:${run}:devserver`;
  const server = await startDevServer({
    SUPABASE_DB_URL: databaseUrl(),
    UPSTASH_REDIS_REST_URL: upstashBridge().url,
    UPSTASH_REDIS_REST_TOKEN: upstashBridge().token,
    QF_CACHE_KEY_PREFIX: `${prefix}:cache:`,
    QF_RATELIMIT_PREFIX: prefix,
    QF_RATELIMIT_ANON_LIMIT: '20',
    QF_RATELIMIT_USER_LIMIT: '1000',
  });
  const { url, token } = upstashBridge();
  const store = new UpstashStore({ url, token, timeoutMs: 5_000 });
  try {
    const anon = await anonKey();
    const user = await userToken(crypto.randomUUID());
    const get = async (path: string, bearer: string) => {
      const res = await fetch(`${server.base}${path}`, {
        headers: { authorization: `Bearer ${bearer}` },
      });
      await res.body?.cancel();
      return { status: res.status, limit: res.headers.get('ratelimit-limit') };
    };
    const anonAnswers: { status: number; limit: string | null }[] = [];
    const userAnswers: { status: number; limit: string | null }[] = [];
    for (let round = 0; round < 20; round++) {
      // Ten anonymous requests (each a new key: the database is reached) per user request.
      await Promise.all([
        ...Array.from(
          { length: 10 },
          (_, i) =>
            get(`/robots/search?q=flood${round}x${i}`, anon).then((a) => anonAnswers.push(a)),
        ),
        get(`/robots?limit=${1 + (round % 50)}`, user).then((a) => userAnswers.push(a)),
      ]);
    }
    const userOk = userAnswers.filter((a) => a.status === 200).length / userAnswers.length;
    assert.ok(
      userOk >= 0.95,
      `user success ${userOk}: ${JSON.stringify(userAnswers.map((a) => a.status))}`,
    );
    assert.ok(anonAnswers.some((a) => a.status === 429), 'the flood was limited');
    assert.equal(anonAnswers.filter((a) => a.status === 200).length, 20, 'the flood got its 20');
    assert.ok(anonAnswers.every((a) => a.limit === '20'), 'RateLimit-Limit on every anon answer');
    assert.ok(userAnswers.every((a) => a.limit === '1000'), 'RateLimit-Limit on every user answer');
  } finally {
    await server.stop();
    await cleanup(store, prefix);
  }
});
