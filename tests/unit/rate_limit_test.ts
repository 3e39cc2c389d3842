import assert from 'node:assert/strict';
import { Redis } from '@upstash/redis';
import { createFunctionApp, type FunctionEnv } from '../../shared/http/app.ts';
import { authenticate, type AuthVariables, signLocalJwt } from '../../shared/http/auth.ts';
import {
  callerIdentity,
  MemorySlidingWindow,
  rateLimitByCaller,
  rateLimitEnvBindings,
  rateLimitSettingsFromEnv,
  UpstashCallerLimiter,
} from '../../shared/http/rate_limit.ts';
import { Metrics } from '../../shared/optimizer/metrics.ts';
import { MemoryStore } from '../../shared/store/mod.ts';

const noEnv = () => undefined;

/** A function app as the integrator wires it: authenticate, then the per-caller limit. */
function limitedApp(options: Parameters<typeof rateLimitByCaller>[0] = {}) {
  const app = createFunctionApp<FunctionEnv & { Variables: AuthVariables }>('demo');
  app.use('*', authenticate({ env: noEnv }) as never);
  app.use('*', rateLimitByCaller({ env: noEnv, store: new MemoryStore(), ...options }) as never);
  app.get('/ok', (c) => c.json({ ok: true }));
  app.get('/who', async (c) => c.json(await callerIdentity(c)));
  app.get('/missing', (c) => c.json({ error: { code: 'not_found', message: 'no' } }, 404));
  return app;
}

const userToken = (sub: string) => signLocalJwt({ role: 'authenticated', sub });

Deno.test('rate limit: the memory window allows the limit, then 429 with JSON and Retry-After', async () => {
  const app = limitedApp({ anonLimit: 3 });
  const headers = { 'x-forwarded-for': '203.0.113.7' };
  const answers = [];
  for (let i = 0; i < 4; i++) answers.push(await app.request('/demo/ok', { headers }));
  assert.deepEqual(answers.map((r) => r.status), [200, 200, 200, 429]);
  assert.deepEqual(answers.map((r) => r.headers.get('ratelimit-limit')), ['3', '3', '3', '3']);
  assert.deepEqual(answers.map((r) => r.headers.get('ratelimit-remaining')), ['2', '1', '0', '0']);
  for (const r of answers) {
    const reset = Number(r.headers.get('ratelimit-reset'));
    assert.ok(reset >= 0 && reset <= 60, `RateLimit-Reset ${reset} is seconds within the window`);
  }
  const denied = answers[3];
  assert.match(denied.headers.get('content-type')!, /application\/json/);
  assert.ok(Number(denied.headers.get('retry-after')) >= 1);
  assert.ok(denied.headers.get('x-request-id'));
  const body = await denied.json();
  assert.equal(body.error.code, 'rate_limited');
  assert.match(body.error.message, /3 per 60 s/);
  // Another address has its own budget.
  const other = await app.request('/demo/ok', { headers: { 'x-forwarded-for': '198.51.100.1' } });
  assert.equal(other.status, 200);
});

Deno.test('rate limit: its headers are written onto the answer itself, not onto copies', async () => {
  // Hono's c.header on a finished answer copied the whole response once per header (three).
  const app = createFunctionApp<FunctionEnv & { Variables: AuthVariables }>('demo');
  app.use('*', authenticate({ env: noEnv }) as never);
  app.use('*', rateLimitByCaller({ env: noEnv, store: new MemoryStore(), anonLimit: 5 }) as never);
  const made: Response[] = [];
  app.use('*', async (c, next) => {
    await next();
    made.push(c.res);
  });
  app.get('/ok', (c) => c.json({ ok: true }));
  app.get('/redirect', () => Response.redirect('https://example.com/', 302));
  const res = await app.request('/demo/ok', { headers: { 'x-forwarded-for': '203.0.113.9' } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('ratelimit-limit'), '5');
  assert.equal(res.headers.get('ratelimit-remaining'), '4');
  assert.equal(res, made[0], 'the answer the handler made is the one sent');
  assert.deepEqual(await res.json(), { ok: true });
  // An immutable answer (a redirect) is copied once and keeps its status and location.
  const moved = await app.request('/demo/redirect', {
    headers: { 'x-forwarded-for': '203.0.113.9' },
  });
  assert.equal(moved.status, 302);
  assert.equal(moved.headers.get('location'), 'https://example.com/');
  assert.equal(moved.headers.get('ratelimit-remaining'), '3');
  assert.ok(moved.headers.get('x-request-id'));
});

Deno.test('rate limit: headers on every limited answer, errors included', async () => {
  const app = limitedApp({ anonLimit: 10 });
  const headers = { 'x-forwarded-for': '203.0.113.8' };
  for (const path of ['/demo/missing', '/demo/no-such-route']) {
    const res = await app.request(path, { headers });
    assert.equal(res.status, 404);
    assert.equal(res.headers.get('ratelimit-limit'), '10');
    assert.ok(res.headers.get('ratelimit-remaining'));
    assert.ok(res.headers.get('ratelimit-reset'));
    await res.body?.cancel();
  }
  // A bad token is refused by authentication before the limit: no window is spent on it.
  const bad = await app.request('/demo/ok', { headers: { authorization: 'Bearer x.y.z' } });
  assert.equal(bad.status, 401);
  await bad.body?.cancel();
});

Deno.test('rate limit: users and anonymous callers have their own limits; ids are canonical', async () => {
  const app = limitedApp({ anonLimit: 1, userLimit: 2 });
  const id = '0B6F1D5E-3C8A-4B7E-9F00-AAAAAAAAAAAA';
  const upper = await userToken(id);
  const lower = await userToken(id.toLowerCase());
  const statuses = [];
  for (const token of [upper, lower, upper]) {
    const res = await app.request('/demo/ok', { headers: { authorization: `Bearer ${token}` } });
    statuses.push(res.status);
    assert.equal(res.headers.get('ratelimit-limit'), '2');
    await res.body?.cancel();
  }
  // One user, however the id is spelled: 2 pass, the third is denied.
  assert.deepEqual(statuses, [200, 200, 429]);
  const who = await app.request('/demo/who', {
    headers: { authorization: `Bearer ${await userToken('another-user')}` },
  });
  assert.deepEqual(await who.json(), { tier: 'user', identifier: 'user:another-user' });
});

Deno.test('rate limit: service callers are exempt unless given a limit', async () => {
  const service = await signLocalJwt({ role: 'service_role' });
  const exempt = limitedApp({ anonLimit: 1 });
  for (let i = 0; i < 5; i++) {
    const res = await exempt.request('/demo/ok', {
      headers: { authorization: `Bearer ${service}` },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('ratelimit-limit'), null);
    await res.body?.cancel();
  }
  const limited = limitedApp({ serviceLimit: 2 });
  const statuses = [];
  for (let i = 0; i < 3; i++) {
    const res = await limited.request('/demo/ok', {
      headers: { authorization: `Bearer ${service}` },
    });
    statuses.push(res.status);
    await res.body?.cancel();
  }
  assert.deepEqual(statuses, [200, 200, 429]);
});

Deno.test('rate limit: the identifier is the first forwarded hop, then the address, then a key hash', async () => {
  const app = limitedApp();
  const who = async (headers: Record<string, string>, env?: unknown) =>
    await (await app.request('/demo/who', { headers }, env as never)).json();
  assert.deepEqual(await who({ 'x-forwarded-for': '203.0.113.9, 10.0.0.1' }), {
    tier: 'anon',
    identifier: 'ip:203.0.113.9',
  });
  assert.deepEqual(await who({ 'cf-connecting-ip': '2001:DB8::1' }), {
    tier: 'anon',
    identifier: 'ip:2001:db8::1',
  });
  assert.deepEqual(await who({}, { remoteAddr: { hostname: '127.0.0.1' } }), {
    tier: 'anon',
    identifier: 'ip:127.0.0.1',
  });
  // Garbage in x-forwarded-for is not an address: the next source is used.
  assert.deepEqual(
    await who({ 'x-forwarded-for': '<script>' }, { remoteAddr: { hostname: '127.0.0.2' } }),
    { tier: 'anon', identifier: 'ip:127.0.0.2' },
  );
  const anonKey = await signLocalJwt({ role: 'anon' });
  const keyed = await who({ apikey: anonKey });
  assert.equal(keyed.tier, 'anon');
  assert.match(keyed.identifier, /^key:[0-9a-f]{24}$/);
  assert.ok(!keyed.identifier.includes(anonKey.slice(0, 10)), 'the key itself is never kept');
  assert.deepEqual(await who({}), { tier: 'anon', identifier: 'anonymous' });
});

Deno.test('rate limit: while anon floods, a signed-in user succeeds >= 95% (memory)', async () => {
  const app = limitedApp({ anonLimit: 20, userLimit: 100 });
  const flood = { 'x-forwarded-for': '203.0.113.66' };
  const user = {
    authorization: `Bearer ${await userToken('9c1b7d0e-0000-4000-8000-000000000001')}`,
  };
  const anonStatuses: number[] = [];
  const userStatuses: number[] = [];
  const floodOnce = async () => {
    const res = await app.request('/demo/ok', { headers: flood });
    anonStatuses.push(res.status);
    await res.body?.cancel();
  };
  await Promise.all(
    Array.from({ length: 60 }, async () => {
      // Interleave: ten anonymous requests around every request of the user.
      await Promise.all(Array.from({ length: 10 }, floodOnce));
      const res = await app.request('/demo/ok', { headers: user });
      userStatuses.push(res.status);
      await res.body?.cancel();
    }),
  );
  const ok = userStatuses.filter((s) => s === 200).length / userStatuses.length;
  assert.ok(ok >= 0.95, `user success ${ok}`);
  assert.equal(anonStatuses.filter((s) => s === 200).length, 20, 'the flood got its 20, no more');
  assert.ok(anonStatuses.every((s) => s === 200 || s === 429));
});

Deno.test('rate limit: the memory window slides', () => {
  let now = 1_000_000 * 60_000; // the start of a window
  const window = new MemorySlidingWindow({ windowMs: 60_000, now: () => now });
  for (let i = 0; i < 10; i++) assert.equal(window.limitSync('a', 10).success, true);
  assert.equal(window.limitSync('a', 10).success, false);
  // Half way into the next window, half of the previous count still weighs: 5 more pass.
  now += 90_000;
  const passed = Array.from({ length: 10 }, () => window.limitSync('a', 10).success);
  assert.equal(passed.filter(Boolean).length, 5);
  // Two windows later, everything is forgotten.
  now += 120_000;
  assert.equal(window.limitSync('a', 10).remaining, 9);
});

Deno.test('rate limit: the memory window forgets the least recent identifiers beyond its bound', () => {
  const window = new MemorySlidingWindow({ maxIdentifiers: 3 });
  for (const id of ['a', 'b', 'c', 'd']) window.limitSync(id, 1);
  assert.equal(window.size, 3);
  assert.equal(window.limitSync('a', 1).success, true, "'a' was forgotten");
  assert.equal(window.limitSync('d', 1).success, false, "'d' is still known");
});

Deno.test('rate limit: settings from QF_RATELIMIT_*, checked, options win', () => {
  const env = (values: Record<string, string>) => (name: string) => values[name];
  const defaults = rateLimitSettingsFromEnv(noEnv);
  assert.deepEqual(defaults, {
    enabled: true,
    anonLimit: 300,
    userLimit: 600,
    serviceLimit: 0,
    windowMs: 60_000,
    timeoutMs: 100,
    fallbackMs: 1_000,
    prefix: 'qf:ratelimit',
  });
  const set = rateLimitSettingsFromEnv(
    env({ QF_RATELIMIT_ANON_LIMIT: '5', QF_RATELIMIT_ENABLED: 'off' }),
    { userLimit: 7, anonLimit: undefined },
  );
  assert.equal(set.anonLimit, 5);
  assert.equal(set.userLimit, 7);
  assert.equal(set.enabled, false);
  assert.throws(
    () => rateLimitSettingsFromEnv(env({ QF_RATELIMIT_WINDOW_MS: 'soon' })),
    /QF_RATELIMIT_WINDOW_MS must be a finite number: received "soon"/,
  );
  assert.throws(
    () => rateLimitSettingsFromEnv(env({ QF_RATELIMIT_USER_LIMIT: '0' })),
    /'userLimit' \(QF_RATELIMIT_USER_LIMIT\)/,
  );
});

Deno.test('rate limit: disabled means no limit and no headers', async () => {
  const app = limitedApp({ enabled: false, anonLimit: 1 });
  for (let i = 0; i < 3; i++) {
    const res = await app.request('/demo/ok');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('ratelimit-limit'), null);
    await res.body?.cancel();
  }
});

Deno.test('rate limit: README or docs/configuration.md, and docs/security.md, document every QF_RATELIMIT_* variable', async () => {
  const readme = await Deno.readTextFile(new URL('../../README.md', import.meta.url)) +
    await Deno.readTextFile(new URL('../../docs/configuration.md', import.meta.url));
  const security = await Deno.readTextFile(new URL('../../docs/security.md', import.meta.url));
  for (const { env } of rateLimitEnvBindings) {
    assert.ok(readme.includes(`\`${env}\``), `${env} is not in README.md or docs/configuration.md`);
    assert.ok(security.includes(`\`${env}\``), `${env} is not in docs/security.md`);
  }
});

/** A TCP server that accepts and never answers: a paused Redis as the client sees it. */
function silentServer() {
  const listener = Deno.listen({ hostname: '127.0.0.1', port: 0 });
  const conns: Deno.Conn[] = [];
  (async () => {
    try {
      for await (const conn of listener) conns.push(conn);
    } catch { /* closed */ }
  })();
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    close() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* already closed */ }
      }
    },
  };
}

Deno.test('rate limit: Upstash that does not answer fails open within the timeout, counted', async () => {
  const server = silentServer();
  const metrics = new Metrics();
  const redis = new Redis({
    url: server.url,
    token: 't',
    enableTelemetry: false,
    retry: false,
    signal: () => AbortSignal.timeout(300),
  });
  const limiter = new UpstashCallerLimiter({ redis, timeoutMs: 50, fallbackMs: 60_000, metrics });
  try {
    const first = await limiter.limit('ip:203.0.113.1', 'anon', 2);
    assert.equal(first.success, true);
    assert.equal(first.reason, 'timeout');
    assert.equal(first.limit, 2);
    assert.equal(metrics.counter('ratelimit.fail_open'), 1);
    // Then the isolate's memory window decides without waiting on Redis again.
    const second = await limiter.limit('ip:203.0.113.1', 'anon', 2);
    assert.equal(second.reason, 'fallback');
    assert.equal(second.success, true);
    const third = await limiter.limit('ip:203.0.113.1', 'anon', 2);
    assert.deepEqual([third.reason, third.success], ['fallback', false]);
    assert.equal(metrics.counter('ratelimit.fail_open'), 1);
  } finally {
    // Let the aborted request settle before the server goes.
    await new Promise((resolve) => setTimeout(resolve, 350));
    server.close();
  }
});

Deno.test('rate limit: Upstash that refuses connections fails open with reason error', async () => {
  const listener = Deno.listen({ hostname: '127.0.0.1', port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close(); // nothing listens there now
  const metrics = new Metrics();
  const redis = new Redis({ url: `http://127.0.0.1:${port}`, token: 't', retry: false });
  const limiter = new UpstashCallerLimiter({ redis, timeoutMs: 1_000, fallbackMs: 0, metrics });
  const decision = await limiter.limit('user:u', 'user', 5);
  assert.deepEqual([decision.success, decision.reason], [true, 'error']);
  assert.equal(metrics.counter('ratelimit.fail_open'), 1);
  assert.equal(metrics.counter('ratelimit.fail_open.error'), 1);
});
