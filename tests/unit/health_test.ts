import assert from 'node:assert/strict';
import { createHealthApp, type Pingable } from '../../supabase/functions/health/app.ts';
import { MemoryStore } from '../../shared/store/memory.ts';
import { UpstashStore } from '../../shared/store/upstash.ts';
import { Metrics } from '../../shared/optimizer/metrics.ts';
import { settleBackground } from '../../shared/runtime/background.ts';
import { CircuitBreakerRegistry, readOpenBreakers } from '../../shared/optimizer/resilience/mod.ts';
import { fakeClock } from '../support/fake_clock.ts';

const fakeDb = (ping: () => Promise<unknown>): Pingable => ({ backend: 'postgres', ping });

Deno.test('health: 200 with both backends named and their latency', async () => {
  const app = createHealthApp({
    cache: () => new MemoryStore(),
    db: () => fakeDb(() => Promise.resolve(1)),
  });
  const res = await app.request('/health');
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  const body = await res.json();
  assert.equal(body.status, 'ok');
  assert.deepEqual(Object.keys(body.checks).sort(), ['cache', 'db']);
  assert.equal(body.checks.cache.backend, 'memory');
  assert.equal(body.checks.db.backend, 'postgres');
  assert.equal(typeof body.checks.db.latencyMs, 'number');
  assert.equal(typeof body.instance.id, 'string');
  assert.equal(typeof body.instance.uptimeMs, 'number');
  assert.equal(typeof body.instance.coldStart, 'boolean');
});

Deno.test('health: a database that fails gives 503 degraded with its error', async () => {
  const app = createHealthApp({
    cache: () => new MemoryStore(),
    db: () => fakeDb(() => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:1'))),
  });
  const res = await app.request('/health');
  assert.equal(res.status, 503);
  const body = await res.json();
  assert.equal(body.status, 'degraded');
  assert.equal(body.checks.cache.ok, true);
  assert.equal(body.checks.db.ok, false);
  assert.match(body.checks.db.error, /ECONNREFUSED/);
});

Deno.test('health: a hanging check is cut at its timeout', async () => {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const app = createHealthApp({
    cache: () => new MemoryStore(),
    db: () => fakeDb(() => new Promise((resolve) => timer = setTimeout(resolve, 5_000))),
    checkTimeoutMs: 50,
  });
  try {
    const res = await app.request('/health');
    assert.equal(res.status, 503);
    const body = await res.json();
    assert.match(body.checks.db.error, /no answer within 50ms/);
  } finally {
    clearTimeout(timer);
  }
});

Deno.test('health: Upstash unreachable is reported as a degraded cache, not a crash', async () => {
  // A closed port: the adapter fails within its own timeout.
  const listener = Deno.listen({ hostname: '127.0.0.1', port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const app = createHealthApp({
    cache: () => new UpstashStore({ url: `http://127.0.0.1:${port}`, token: 't', timeoutMs: 200 }),
    db: () => fakeDb(() => Promise.resolve(1)),
  });
  const res = await app.request('/health');
  assert.equal(res.status, 503);
  const body = await res.json();
  assert.equal(body.checks.cache.backend, 'upstash');
  assert.equal(body.checks.cache.ok, false);
  assert.match(body.checks.cache.error, /Upstash Redis/);
  assert.equal(body.checks.db.ok, true);
});

Deno.test('health: a dependency that cannot even be created is a failed check', async () => {
  const app = createHealthApp({
    cache: () => {
      throw new TypeError(
        'UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN must be set together',
      );
    },
    db: () => fakeDb(() => Promise.resolve(1)),
    names: { cache: 'upstash', db: 'postgres' },
  });
  const res = await app.request('/health');
  assert.equal(res.status, 503);
  const body = await res.json();
  assert.equal(body.checks.cache.backend, 'upstash');
  assert.match(body.checks.cache.error, /must be set together/);
});

// Issue #8 finding 11: /health answered 200 while a breaker was open.
Deno.test('health: an open breaker in any instance makes it 503 degraded, listing it', async () => {
  const { fake, clock } = fakeClock();
  const store = new MemoryStore({ now: () => fake.now });
  const breakers = new CircuitBreakerRegistry({
    resilience: { breakerConsecutiveFailures: 1, breakerOpenMs: 5000 },
  }, { clock, store, metrics: new Metrics() });
  const app = createHealthApp({
    cache: () => store,
    db: () => fakeDb(() => Promise.resolve(1)),
    breakers: () => readOpenBreakers(store, { now: fake.now }),
  });
  const healthy = await app.request('/health');
  assert.equal(healthy.status, 200);
  const before = await healthy.json();
  assert.equal(before.checks.breakers.ok, true);
  assert.deepEqual(before.checks.breakers.open, []);

  await breakers.execute(
    'robots_db',
    () => Promise.reject(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })),
  ).catch(() => {});
  await settleBackground();
  const res = await app.request('/health');
  assert.equal(res.status, 503);
  const body = await res.json();
  assert.equal(body.status, 'degraded');
  assert.equal(body.checks.db.ok, true);
  assert.equal(body.checks.breakers.ok, false);
  assert.deepEqual(body.checks.breakers.open.map((b: { resourceKey: string }) => b.resourceKey), [
    'robots_db',
  ]);
  assert.equal(body.checks.breakers.open[0].state, 'open');
});
