/**
 * Over 400 lines on purpose: the predictive cache's behaviour on one fake clock and memory store,
 * one case per rule; the cases share the fixtures of cache_support.ts and read best together.
 */
import assert from 'node:assert/strict';
import { settleBackground } from '../../shared/runtime/background.ts';
import {
  executeWithPredictiveCaching,
  MemoryTier,
  popularityTtl,
  releaseLeaseScript,
} from '../../shared/optimizer/cache/mod.ts';
import { optimizationConfigFromEnv } from '../../shared/optimizer/config.ts';
import { Clock, instrumented, makeCache, memoryStore, origin } from './cache_support.ts';

Deno.test('cache: a miss loads from the origin, the next call is a memory hit', async () => {
  const clock = new Clock();
  const { cache, metrics } = makeCache(memoryStore(clock), clock);
  const op = origin({ id: 1 });
  const first = await cache.execute('k', op);
  assert.deepEqual(
    { status: first.status, tier: first.tier, reason: first.reason },
    { status: 'miss', tier: 'origin', reason: 'loaded' },
  );
  clock.advance(100);
  const second = await cache.execute('k', op);
  assert.deepEqual(second.value, { id: 1 });
  assert.equal(second.status, 'hit');
  assert.equal(second.tier, 'memory');
  assert.equal(second.ageMs, 100);
  assert.equal(op.calls, 1);
  assert.equal(metrics.counter('cache.hit.memory'), 1);
  assert.equal(metrics.counter('cache.origin.calls'), 1);
  assert.equal(await executeWithPredictiveCaching(cache, 'k', op), second.value);
  await cache.close();
});

Deno.test('cache: a memory-tier hit touches no store', async () => {
  const clock = new Clock();
  const store = instrumented(memoryStore(clock));
  const { cache } = makeCache(store, clock, { cache: { popularityFlushMs: 60_000 } });
  await cache.execute('k', origin(1));
  await settleBackground();
  const before = store.calls.length;
  for (let i = 0; i < 100; i++) await cache.execute('k', origin(1));
  assert.equal(store.calls.length, before);
  await cache.close();
});

Deno.test('cache: a second isolate reads the Redis tier in one round trip, then memory', async () => {
  const clock = new Clock();
  const store = instrumented(memoryStore(clock));
  const noFlush = { cache: { popularityFlushMs: 60_000 } };
  const a = makeCache(store, clock, noFlush, 'a');
  const b = makeCache(store, clock, noFlush, 'b');
  await a.cache.execute('k', origin('v'));
  await settleBackground();
  const before = store.calls.length;
  const op = origin('other');
  const fromRedis = await b.cache.execute('k', op);
  assert.equal(fromRedis.tier, 'redis');
  assert.equal(fromRedis.status, 'hit');
  assert.equal(fromRedis.value, 'v');
  // Value, popularity and generations: one round trip (one read script, no lease claimed).
  assert.deepEqual(store.calls.slice(before), ['runScript']);
  assert.equal(op.calls, 0);
  const fromMemory = await b.cache.execute('k', op);
  assert.equal(fromMemory.tier, 'memory');
  await a.cache.close();
  await b.cache.close();
});

Deno.test('cache: after an invalidation elsewhere, memory serves the old value at most memoryStalenessMs', async () => {
  const clock = new Clock();
  const store = memoryStore(clock);
  const a = makeCache(store, clock, { cache: { memoryStalenessMs: 1_000 } }, 'a');
  const b = makeCache(store, clock, { cache: { memoryStalenessMs: 1_000 } }, 'b');
  await a.cache.execute('k', origin('old'));
  await settleBackground();
  await b.cache.execute('k', origin('x')); // B caches 'old' from Redis
  assert.equal(await a.cache.invalidate('k'), true);
  // Re-checked invalidationRetryMs (250) before the bound, so that the bound also holds for an
  // invalidation the store missed (cache_invalidation_test.ts).
  clock.advance(749);
  const withinBound = await b.cache.execute('k', origin('new'));
  assert.equal(withinBound.value, 'old');
  assert.equal(withinBound.tier, 'memory');
  clock.advance(2);
  const after = await b.cache.execute('k', origin('new'));
  assert.equal(after.value, 'new');
  assert.equal(after.status, 'miss');
  await a.cache.close();
  await b.cache.close();
});

Deno.test('cache: memoryStalenessMs 0 re-checks Redis on every read', async () => {
  const clock = new Clock();
  const store = memoryStore(clock);
  const a = makeCache(store, clock, { cache: { memoryStalenessMs: 0 } }, 'a');
  const b = makeCache(store, clock, { cache: { memoryStalenessMs: 0 } }, 'b');
  await a.cache.execute('k', origin('old'));
  await settleBackground();
  clock.advance(1);
  assert.equal((await b.cache.execute('k', origin('x'))).value, 'old');
  await a.cache.invalidate('k');
  clock.advance(1);
  assert.equal((await b.cache.execute('k', origin('new'))).value, 'new');
  await a.cache.close();
  await b.cache.close();
});

Deno.test('cache: memory tier is an LRU bounded by entries and by bytes', () => {
  const entry = (bytes: number) => ({
    value: 1,
    storedAt: 0,
    freshUntil: 1,
    staleUntil: 1,
    errorUntil: 1,
    version: 'v',
    checkedAt: 0,
    originMs: 0,
    prewarmed: false,
    bytes,
    hits: 0,
  });
  const byCount = new MemoryTier(2, 1_000_000);
  byCount.set('a', entry(10));
  byCount.set('b', entry(10));
  byCount.get('a'); // a is now most recent
  byCount.set('c', entry(10));
  assert.deepEqual([!!byCount.peek('a'), !!byCount.peek('b'), !!byCount.peek('c')], [
    true,
    false,
    true,
  ]);
  const byBytes = new MemoryTier(100, 250);
  byBytes.set('a', entry(100));
  byBytes.set('b', entry(100));
  byBytes.set('c', entry(100));
  assert.equal(byBytes.size, 2);
  assert.equal(byBytes.bytes, 200);
  assert.equal(byBytes.peek('a'), undefined);
  byBytes.set('huge', entry(1000)); // larger than the tier: not kept
  assert.equal(byBytes.peek('huge'), undefined);
});

Deno.test('cache: the memory byte bound holds through the cache', async () => {
  const clock = new Clock();
  const { cache } = makeCache(memoryStore(clock), clock, { cache: { memoryMaxBytes: 4096 } });
  for (let i = 0; i < 50; i++) await cache.execute(`k${i}`, origin('x'.repeat(200)));
  const stats = cache.stats();
  assert.ok(stats.memoryBytes <= 4096, `memoryBytes ${stats.memoryBytes}`);
  assert.ok(stats.memoryEntries < 50);
  await cache.close();
});

Deno.test('cache: TTL formula between floor and ceiling around predictiveCacheTTL', () => {
  assert.equal(popularityTtl(300_000, 0, 0.5, 4, 20), 150_000);
  assert.equal(popularityTtl(300_000, 20, 0.5, 4, 20), 675_000);
  assert.ok(popularityTtl(300_000, 1e9, 0.5, 4, 20) <= 1_200_000);
  assert.ok(popularityTtl(300_000, 1e9, 0.5, 4, 20) > 1_199_000);
});

Deno.test('cache: popular keys get a longer TTL; counts are shared through the store', async () => {
  const clock = new Clock();
  const store = instrumented(memoryStore(clock));
  const a = makeCache(store, clock, { cache: { popularityFlushMs: 1_000 } }, 'a');
  const cold = await a.cache.execute('cold', origin(1));
  // The read itself counts (p = 1): 5 s floor + 35 s x 1/21.
  assert.equal(cold.ttlMs, popularityTtl(10_000, 1, 0.5, 4, 20));
  assert.equal(cold.ttlMs, 6_667);
  // 40 reads of 'hot' in A, aggregated: not one store write per hit.
  for (let i = 0; i < 40; i++) {
    await a.cache.execute('hot', origin(1), undefined, { ttlMs: 10_000 });
  }
  await settleBackground();
  const incrs = store.commands.filter((c) => c.op === 'incrby');
  assert.ok(incrs.length <= 2, `incrby commands: ${incrs.length}`);
  clock.advance(1_000);
  await a.cache.execute('x', origin(1)); // triggers the background flush
  await settleBackground();
  // B, another isolate, sees the shared popularity when it loads 'hot'.
  const b = makeCache(store, clock, {}, 'b');
  await a.cache.invalidate('hot');
  const hot = await b.cache.execute('hot', origin(2));
  assert.equal(hot.status, 'miss');
  assert.ok(hot.ttlMs > 15_000, `popular ttl ${hot.ttlMs}`);
  assert.ok(hot.ttlMs <= 40_000);
  await a.cache.close();
  await b.cache.close();
});

Deno.test('cache: popularity decays with its half-life', async () => {
  const clock = new Clock();
  const store = memoryStore(clock);
  const config = { cache: { popularityHalfLifeMs: 60_000 } };
  const a = makeCache(store, clock, config, 'a');
  for (let i = 0; i < 20; i++) await a.cache.execute('hot', origin(1));
  await a.cache.close();
  const b = makeCache(store, clock, config, 'b');
  await b.cache.invalidate('hot');
  const fresh = (await b.cache.execute('hot', origin(1))).ttlMs;
  await b.cache.invalidate('hot');
  clock.advance(600_000); // ten half-lives later
  const decayed = (await b.cache.execute('hot', origin(1))).ttlMs;
  assert.ok(decayed < fresh, `${decayed} < ${fresh}`);
  assert.ok(decayed <= popularityTtl(10_000, 1.05, 0.5, 4, 20), `decayed ${decayed}`);
  await b.cache.close();
});

Deno.test('cache: stale-while-revalidate serves stale and runs one revalidation', async () => {
  const clock = new Clock();
  const { cache, metrics } = makeCache(memoryStore(clock), clock);
  const first = await cache.execute('k', origin('v1'));
  clock.advance(first.ttlMs + 1); // past the fresh window, inside the 5 s stale window
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  let calls = 0;
  const slow = async () => {
    calls++;
    await gate;
    return 'v2';
  };
  const results = await Promise.all(Array.from({ length: 10 }, () => cache.execute('k', slow)));
  for (const r of results) {
    assert.equal(r.status, 'stale');
    assert.equal(r.reason, 'stale-while-revalidate');
    assert.equal(r.value, 'v1');
  }
  release();
  await settleBackground();
  assert.equal(calls, 1);
  const after = await cache.execute('k', slow);
  assert.equal(after.value, 'v2');
  assert.equal(after.status, 'hit');
  assert.equal(metrics.counter('cache.stale.served'), 10);
  await cache.close();
});

Deno.test('cache: stale-if-error serves the stale entry when the origin fails, within the window', async () => {
  const clock = new Clock();
  const { cache, metrics } = makeCache(memoryStore(clock), clock);
  const first = await cache.execute('k', origin('v1'));
  const failing = () => Promise.reject(new Error('origin down'));
  clock.advance(first.ttlMs + 5_001); // past fresh and stale-while-revalidate, within stale-if-error
  const r = await cache.execute('k', failing);
  assert.equal(r.status, 'stale');
  assert.equal(r.reason, 'stale-if-error');
  assert.equal(r.value, 'v1');
  assert.equal(metrics.counter('cache.stale_if_error.served'), 1);
  clock.advance(20_000); // beyond stale-if-error
  await assert.rejects(cache.execute('k', failing), /origin down/);
  await cache.close();
});

Deno.test('cache: 1,000 concurrent misses of one key make one origin call', async () => {
  const clock = new Clock();
  const { cache, metrics } = makeCache(memoryStore(clock), clock);
  let calls = 0;
  const op = async () => {
    calls++;
    await new Promise((r) => setTimeout(r, 5));
    return 'v';
  };
  const results = await Promise.all(Array.from({ length: 1000 }, () => cache.execute('cold', op)));
  assert.equal(calls, 1);
  assert.ok(results.every((r) => r.value === 'v'));
  assert.equal(metrics.counter('cache.singleflight.joined'), 999);
  await cache.close();
});

Deno.test('cache: across isolates the lease lets one load while the other waits on the cache', async () => {
  const clock = new Clock();
  const store = memoryStore(clock);
  const a = makeCache(store, clock, { cache: { leaseWaitMs: 2_000 } }, 'a');
  const b = makeCache(store, clock, { cache: { leaseWaitMs: 2_000 } }, 'b');
  let calls = 0;
  const op = async () => {
    calls++;
    await new Promise((r) => setTimeout(r, 30));
    return 'v';
  };
  const [ra, rb] = await Promise.all([a.cache.execute('k', op), b.cache.execute('k', op)]);
  assert.equal(calls, 1);
  assert.equal(ra.value, 'v');
  assert.equal(rb.value, 'v');
  const statuses = [ra, rb].map((r) => `${r.status}/${r.tier}/${r.reason}`).sort();
  assert.deepEqual(statuses, ['hit/redis/lease-wait', 'miss/origin/loaded']);
  await settleBackground();
  assert.equal(await store.get('qf:cache:lease:k'), null); // released
  await a.cache.close();
  await b.cache.close();
});

Deno.test('cache: a lease loser loads itself after the bounded wait', async () => {
  const clock = new Clock();
  const store = memoryStore(clock);
  await store.set('qf:cache:lease:k', 'someone-else', { pxMs: 60_000 });
  const { cache, metrics } = makeCache(store, clock, {
    cache: { leaseWaitMs: 20, leasePollMs: 5 },
  });
  const op = origin('mine');
  const r = await cache.execute('k', op);
  assert.equal(r.value, 'mine');
  assert.equal(op.calls, 1);
  assert.equal(metrics.counter('cache.lease.wait_expired'), 1);
  await cache.close();
});

Deno.test('cache: lease release is a compare-and-delete', async () => {
  const clock = new Clock();
  const store = memoryStore(clock);
  await store.set('lease', 'owner-1');
  assert.equal(await store.runScript(releaseLeaseScript, ['lease'], [JSON.stringify('other')]), 0);
  assert.equal(await store.get('lease'), 'owner-1');
  assert.equal(
    await store.runScript(releaseLeaseScript, ['lease'], [JSON.stringify('owner-1')]),
    1,
  );
  assert.equal(await store.get('lease'), null);
});

Deno.test('cache: declared dependencies with a loader are pre-warmed; without one they are not', async () => {
  const clock = new Clock();
  const { cache, metrics } = makeCache(memoryStore(clock), clock);
  const loaded: string[] = [];
  cache.registerLoader('strategies:*', (key) => {
    loaded.push(key);
    return Promise.resolve({ key });
  });
  await cache.execute('robots:list', origin([1]), ['strategies:list', 'unknown:dep']);
  await settleBackground();
  assert.deepEqual(loaded, ['strategies:list']);
  const dep = await cache.execute('strategies:list', origin('never'));
  assert.equal(dep.status, 'prewarmed');
  assert.deepEqual(dep.value, { key: 'strategies:list' });
  assert.equal(metrics.counter('cache.prewarm'), 1);
  assert.equal(metrics.counter('cache.prewarm.read'), 1);
  const unknown = await cache.execute('unknown:dep', origin('origin'));
  assert.equal(unknown.status, 'miss');
  // A warm dependency is not pre-warmed again.
  await cache.execute('robots:list', origin([1]), ['strategies:list']);
  await settleBackground();
  assert.equal(loaded.length, 1);
  await cache.close();
});

Deno.test('cache: a learned successor is pre-warmed once its probability passes the threshold', async () => {
  const clock = new Clock();
  const { cache } = makeCache(memoryStore(clock), clock, {
    cache: { predictionMinSamples: 3, predictionThreshold: 0.6, predictionWindowMs: 500 },
  });
  let detailLoads = 0;
  cache.registerLoader(/^robot:\d+$/, () => {
    detailLoads++;
    return Promise.resolve('detail');
  });
  for (let i = 0; i < 3; i++) {
    await cache.execute('robots:list', origin('list'));
    clock.advance(100);
    await cache.execute('robot:7', origin('detail'));
    clock.advance(1_000); // past the window: no robot:7 -> robots:list transition
    cache.clearMemory();
  }
  assert.ok(cache.successorProbability('robots:list', 'robot:7') >= 0.99);
  await cache.invalidate('robot:7'); // not in the Redis tier either: the loader must run
  cache.clearMemory();
  await cache.execute('robots:list', origin('list'));
  await settleBackground();
  assert.equal(detailLoads, 1);
  const detail = await cache.execute('robot:7', origin('never'));
  assert.equal(detail.status, 'prewarmed');
  await cache.close();
});

Deno.test('cache: a popular entry near expiry is refreshed ahead in the background', async () => {
  const clock = new Clock();
  const { cache, metrics } = makeCache(memoryStore(clock), clock, {
    cache: { refreshAheadRatio: 0.2, refreshAheadMinPopularity: 3, memoryStalenessMs: 60_000 },
  });
  let n = 0;
  const op = () => Promise.resolve(++n);
  const first = await cache.execute('k', op);
  for (let i = 0; i < 5; i++) await cache.execute('k', op);
  clock.advance(first.ttlMs - 100); // inside the last 20 % of the fresh window
  const near = await cache.execute('k', op);
  assert.equal(near.value, 1);
  await settleBackground();
  assert.equal(metrics.counter('cache.refresh_ahead'), 1);
  const refreshed = await cache.execute('k', op);
  assert.equal(refreshed.value, 2);
  assert.equal(refreshed.status, 'hit');
  await cache.close();
});

Deno.test('cache: invalidation by key and by tag reaches both tiers and other isolates', async () => {
  const clock = new Clock();
  const store = memoryStore(clock);
  const a = makeCache(store, clock, {}, 'a');
  const b = makeCache(store, clock, {}, 'b');
  const tags = { tags: ['u=1:robots'] };
  await a.cache.execute('u=1:robots:list:1', origin('p1'), undefined, tags);
  await a.cache.execute('u=1:robots:list:2', origin('p2'), undefined, tags);
  await a.cache.execute('u=1:robot:9', origin('r9'));
  await settleBackground();
  assert.equal(await a.cache.invalidateTag('u=1:robots'), true);
  assert.equal(await a.cache.invalidate('u=1:robot:9'), true);
  for (const key of ['u=1:robots:list:1', 'u=1:robots:list:2', 'u=1:robot:9']) {
    assert.equal((await a.cache.execute(key, origin('new'), undefined, tags)).status, 'miss', key);
    assert.equal(await store.get(`qf:cache:v:${key}`) === null, false); // rewritten just now
  }
  await a.cache.invalidateTag('u=1:robots');
  const onB = await b.cache.execute('u=1:robots:list:1', origin('fromB'));
  assert.equal(onB.value, 'fromB');
  await a.cache.close();
  await b.cache.close();
});

Deno.test('cache: a load that started before an invalidation does not repopulate the cache', async () => {
  const clock = new Clock();
  const { cache } = makeCache(memoryStore(clock), clock);
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const pending = cache.execute('k', async () => {
    await gate;
    return 'old';
  });
  await new Promise((r) => setTimeout(r, 1));
  await cache.invalidate('k');
  release();
  assert.equal((await pending).value, 'old');
  await settleBackground();
  assert.equal((await cache.execute('k', origin('new'))).value, 'new');
  await cache.close();
});

Deno.test('cache: a failing store degrades to memory and origin without throwing', async () => {
  const clock = new Clock();
  const store = instrumented(memoryStore(clock));
  const { cache, metrics } = makeCache(store, clock, { cache: { storeRetryAfterMs: 1_000 } });
  store.mode = 'fail';
  const op = origin('v');
  const first = await cache.execute('k', op);
  assert.equal(first.value, 'v');
  assert.equal(first.reason, 'store-unavailable');
  const second = await cache.execute('k', op);
  assert.equal(second.tier, 'memory');
  assert.equal(op.calls, 1);
  assert.ok(metrics.counter('cache.store.error') >= 1);
  // During storeRetryAfterMs the store is not even tried.
  const calls = store.calls.length;
  await cache.execute('other', origin('o'));
  assert.equal(store.calls.length, calls);
  assert.ok(metrics.counter('cache.store.bypassed') >= 1);
  await settleBackground();
  await cache.close();
});

Deno.test('cache: a hanging store costs at most storeTimeoutMs, then memory tier and origin serve', async () => {
  const clock = new Clock();
  const store = instrumented(memoryStore(clock));
  const { cache, metrics } = makeCache(store, clock, {
    cache: { storeTimeoutMs: 20, memoryStalenessMs: 0, storeRetryAfterMs: 0 },
  });
  await cache.execute('k', origin('v'));
  await settleBackground();
  store.mode = 'hang';
  clock.advance(10);
  const r = await cache.execute('k', origin('x')); // must re-check Redis: it hangs
  assert.equal(r.value, 'v');
  assert.equal(r.reason, 'store-unavailable');
  assert.equal(r.tier, 'memory');
  const miss = await cache.execute('new', origin('n'));
  assert.equal(miss.value, 'n');
  assert.ok(metrics.counter('cache.store.timeout') >= 1);
  await settleBackground();
  await cache.close();
});

Deno.test('cache: disabled by enablePredictiveCaching=false passes through', async () => {
  const clock = new Clock();
  const { cache } = makeCache(memoryStore(clock), clock, { enablePredictiveCaching: false });
  const op = origin(1);
  await cache.execute('k', op);
  const r = await cache.execute('k', op);
  assert.equal(op.calls, 2);
  assert.equal(r.reason, 'disabled');
  await cache.close();
});

Deno.test('cache: prewarm() loads keys with loaders and reports the others', async () => {
  const clock = new Clock();
  const store = memoryStore(clock);
  const a = makeCache(store, clock, {}, 'a');
  a.cache.registerLoader('s:*', (key) => Promise.resolve(key.toUpperCase()));
  const report = await a.cache.prewarm(['s:1', 'nope']);
  assert.deepEqual(report.warmed, ['s:1']);
  assert.deepEqual(report.skipped, [{ key: 'nope', reason: 'no-loader' }]);
  await settleBackground();
  // A fresh isolate pre-warms from the Redis tier without calling the origin.
  const b = makeCache(store, clock, {}, 'b');
  let calls = 0;
  b.cache.registerLoader('s:*', () => Promise.resolve(String(++calls)));
  assert.deepEqual((await b.cache.prewarm(['s:1'])).warmed, ['s:1']);
  assert.equal(calls, 0);
  const r = await b.cache.execute('s:1', origin('x'));
  assert.equal(r.status, 'prewarmed');
  assert.equal(r.value, 'S:1');
  await a.cache.close();
  await b.cache.close();
});

Deno.test('cache: options come from QF_CACHE_* variables', () => {
  const env: Record<string, string> = {
    QF_CACHE_MEMORY_MAX_BYTES: '65536',
    QF_CACHE_MEMORY_STALENESS_MS: '500',
    QF_CACHE_STALE_WHILE_REVALIDATE_MS: '1000',
    QF_CACHE_KEY_PREFIX: 'x:',
  };
  const config = optimizationConfigFromEnv((name) => env[name]);
  assert.equal(config.cache.memoryMaxBytes, 65536);
  assert.equal(config.cache.memoryStalenessMs, 500);
  assert.equal(config.cache.staleWhileRevalidateMs, 1000);
  assert.equal(config.cache.keyPrefix, 'x:');
  assert.equal(config.cache.staleIfErrorMs, 300_000);
});
