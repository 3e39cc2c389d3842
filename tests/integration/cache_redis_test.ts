/**
 * The predictive cache against a real redis-server through the Upstash REST bridge: two
 * `PredictiveCache` instances sharing one `UpstashStore` stand for two isolates.
 */
import assert from 'node:assert/strict';
import { UpstashStore } from '../../shared/store/upstash.ts';
import { Metrics } from '../../shared/optimizer/metrics.ts';
import {
  type OptimizationConfigInput,
  parseOptimizationConfig,
} from '../../shared/optimizer/config.ts';
import { PredictiveCache, releaseLeaseScript } from '../../shared/optimizer/cache/mod.ts';
import { settleBackground } from '../../shared/runtime/background.ts';
import { upstashBridge } from '../support/services.ts';
import { Clock } from '../unit/cache_support.ts';

function setup(clock: Clock, config: OptimizationConfigInput = {}) {
  const { url, token } = upstashBridge();
  const store = new UpstashStore({ url, token, timeoutMs: 2_000 });
  const keyPrefix = `qf:test:${crypto.randomUUID()}:`;
  const make = (instanceId: string) => {
    const metrics = new Metrics();
    const cache = new PredictiveCache({
      store,
      metrics,
      now: clock.now,
      instanceId,
      config: parseOptimizationConfig({
        predictiveCacheTTL: 10_000,
        ...config,
        cache: {
          keyPrefix,
          storeTimeoutMs: 2_000,
          popularityFlushMs: 0,
          leasePollMs: 10,
          leaseWaitMs: 3_000,
          memoryStalenessMs: 1_000,
          ...config.cache,
        },
      }),
    });
    return { cache, metrics };
  };
  return { store, keyPrefix, a: make('a'), b: make('b') };
}

async function closeAll(...caches: PredictiveCache[]) {
  await settleBackground();
  for (const cache of caches) await cache.close();
}

Deno.test('cache on Redis: a second isolate hits the Redis tier, then its memory tier', async () => {
  const clock = new Clock();
  const { a, b } = setup(clock);
  await a.cache.execute('robots:list', () => Promise.resolve([{ id: 1 }]));
  await settleBackground();
  const fromRedis = await b.cache.execute('robots:list', () => Promise.resolve('wrong'));
  assert.deepEqual(fromRedis.value, [{ id: 1 }]);
  assert.equal(fromRedis.tier, 'redis');
  assert.equal((await b.cache.execute('robots:list', () => Promise.resolve('x'))).tier, 'memory');
  assert.equal(b.metrics.counter('cache.hit.redis'), 1);
  await closeAll(a.cache, b.cache);
});

Deno.test('cache on Redis: an invalidation in one isolate reaches the other within memoryStalenessMs', async () => {
  const clock = new Clock();
  const { a, b } = setup(clock);
  await a.cache.execute('k', () => Promise.resolve('old'));
  await settleBackground();
  await b.cache.execute('k', () => Promise.resolve('x'));
  assert.equal(await a.cache.invalidate('k'), true);
  clock.advance(500);
  assert.equal((await b.cache.execute('k', () => Promise.resolve('new'))).value, 'old');
  clock.advance(501);
  assert.equal((await b.cache.execute('k', () => Promise.resolve('new'))).value, 'new');
  await closeAll(a.cache, b.cache);
});

Deno.test('cache on Redis: concurrent misses in two isolates make one origin call', async () => {
  const clock = new Clock();
  const { a, b } = setup(clock);
  let calls = 0;
  const op = async () => {
    calls++;
    await new Promise((r) => setTimeout(r, 150));
    return 'loaded';
  };
  const results = await Promise.all([
    ...Array.from({ length: 20 }, () => a.cache.execute('cold', op)),
    ...Array.from({ length: 20 }, () => b.cache.execute('cold', op)),
  ]);
  assert.equal(calls, 1);
  assert.ok(results.every((r) => r.value === 'loaded'));
  await closeAll(a.cache, b.cache);
});

Deno.test('cache on Redis: invalidation by tag clears both tiers in every isolate', async () => {
  const clock = new Clock();
  const { a, b, store, keyPrefix } = setup(clock, { cache: { memoryStalenessMs: 0 } });
  const tags = { tags: ['u=1:robots'] };
  await a.cache.execute('u=1:robots:list:1', () => Promise.resolve('p1'), undefined, tags);
  await a.cache.execute('u=1:robots:list:2', () => Promise.resolve('p2'), undefined, tags);
  await settleBackground();
  clock.advance(1);
  assert.equal(
    (await b.cache.execute('u=1:robots:list:1', () => Promise.resolve('x'))).value,
    'p1',
  );
  assert.equal(await a.cache.invalidateTag('u=1:robots'), true);
  assert.equal(await store.get(`${keyPrefix}v:u=1:robots:list:2`), null);
  assert.equal(await store.get(`${keyPrefix}tag:u=1:robots`), null);
  clock.advance(1);
  const after = await b.cache.execute('u=1:robots:list:1', () => Promise.resolve('fresh'));
  assert.equal(after.value, 'fresh');
  await closeAll(a.cache, b.cache);
});

Deno.test("cache on Redis: access counts are flushed to Redis and raise another isolate's TTL", async () => {
  const clock = new Clock();
  const { a, b } = setup(clock);
  for (let i = 0; i < 40; i++) await a.cache.execute('hot', () => Promise.resolve(1));
  await settleBackground();
  await a.cache.invalidate('hot');
  const r = await b.cache.execute('hot', () => Promise.resolve(2));
  assert.equal(r.status, 'miss');
  assert.ok(r.ttlMs > 20_000, `ttl ${r.ttlMs}`); // floor 5 s; ~41 accesses -> ~28 s
  await closeAll(a.cache, b.cache);
});

Deno.test('cache on Redis: stale-while-revalidate and stale-if-error', async () => {
  const clock = new Clock();
  const { a } = setup(clock, {
    cache: { staleWhileRevalidateMs: 5_000, staleIfErrorMs: 20_000 },
  });
  const first = await a.cache.execute('k', () => Promise.resolve('v1'));
  await settleBackground();
  clock.advance(first.ttlMs + 1);
  const stale = await a.cache.execute('k', () => Promise.resolve('v2'));
  assert.equal(stale.status, 'stale');
  assert.equal(stale.value, 'v1');
  await settleBackground();
  const refreshed = await a.cache.execute('k', () => Promise.resolve('v3'));
  assert.equal(refreshed.value, 'v2');
  clock.advance(refreshed.ttlMs + 6_000);
  const onError = await a.cache.execute('k', () => Promise.reject(new Error('origin down')));
  assert.equal(onError.reason, 'stale-if-error');
  assert.equal(onError.value, 'v2');
  await closeAll(a.cache);
});

Deno.test('cache on Redis: the lease release script only deletes its own lease', async () => {
  const { url, token } = upstashBridge();
  const store = new UpstashStore({ url, token, timeoutMs: 2_000 });
  const key = `qf:test:${crypto.randomUUID()}:lease`;
  await store.set(key, 'owner-1', { pxMs: 10_000 });
  assert.equal(await store.runScript(releaseLeaseScript, [key], [JSON.stringify('other')]), 0);
  assert.equal(await store.get(key), 'owner-1');
  assert.equal(await store.runScript(releaseLeaseScript, [key], [JSON.stringify('owner-1')]), 1);
  assert.equal(await store.get(key), null);
});

Deno.test('cache on Redis: Redis down -> bounded wait, origin serves, nothing throws', async () => {
  // A closed port: connection refused, or a timeout, either way StoreUnavailableError.
  const listener = Deno.listen({ hostname: '127.0.0.1', port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const store = new UpstashStore({ url: `http://127.0.0.1:${port}`, token: 't', timeoutMs: 100 });
  const metrics = new Metrics();
  const cache = new PredictiveCache({
    store,
    metrics,
    config: parseOptimizationConfig({ cache: { storeTimeoutMs: 100 } }),
  });
  let calls = 0;
  const op = () => Promise.resolve(++calls);
  const first = await cache.execute('k', op, ['dep']);
  assert.equal(first.value, 1);
  assert.equal(first.reason, 'store-unavailable');
  const second = await cache.execute('k', op);
  assert.equal(second.value, 1);
  assert.equal(second.tier, 'memory');
  assert.equal(await cache.invalidate('k'), false);
  assert.ok(
    metrics.counter('cache.store.error') + metrics.counter('cache.store.timeout') >= 1,
  );
  await settleBackground();
  await cache.close();
});
