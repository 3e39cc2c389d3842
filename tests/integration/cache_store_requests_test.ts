/**
 * The store-request budget of the cache inside `executeOptimizedOperation` (issue 11, target 3),
 * counted at the Upstash REST endpoint (a counting proxy in front of the runner's bridge): memory
 * hit 0, Redis-tier hit 1, cold miss 2 (the read claiming the lease carries the throttle's rate
 * token and the breaker's state; the write-back), one staleness re-check per key at a time.
 */
import assert from 'node:assert/strict';
import { AdvancedBackendOptimizer, Metrics, ThrottledError } from '../../shared/optimizer/mod.ts';
import { PredictiveCache } from '../../shared/optimizer/cache/mod.ts';
import { defaultPredictiveCacheConfig } from '../../shared/optimizer/cache/options.ts';
import { UpstashStore } from '../../shared/store/upstash.ts';
import { settleBackground } from '../../shared/runtime/background.ts';
import { upstashBridge } from '../support/services.ts';
import { type CountingBridge, startCountingBridge } from '../support/counting_bridge.ts';

type Config = NonNullable<ConstructorParameters<typeof AdvancedBackendOptimizer>[0]>;

function optimizer(counter: CountingBridge, config: Config['config'] = {}) {
  return new AdvancedBackendOptimizer({
    store: new UpstashStore({ url: counter.url, token: counter.token, timeoutMs: 2000 }),
    metrics: new Metrics(),
    metricsFlushIntervalMs: 0,
    config: {
      ...config,
      cache: { popularityFlushMs: 3_600_000, storeTimeoutMs: 2000 },
    } as Config['config'],
  });
}

/** A cache on the counting proxy with the clock `now` (2 s staleness bound). */
function cacheOn(counter: CountingBridge, now: () => number): PredictiveCache {
  const base = defaultPredictiveCacheConfig();
  return new PredictiveCache({
    store: new UpstashStore({ url: counter.url, token: counter.token, timeoutMs: 2000 }),
    metrics: new Metrics(),
    now,
    config: {
      ...base,
      cache: { ...base.cache, memoryStalenessMs: 2_000, popularityFlushMs: 3_600_000 },
    },
  });
}

/** Requests the proxy saw during `fn`, background work (write-back) included. */
async function requestsOf(counter: CountingBridge, fn: () => Promise<unknown>) {
  await settleBackground();
  counter.reset();
  await fn();
  await settleBackground();
  return { requests: counter.counts.requests, names: [...counter.counts.names] };
}

const op = () => Promise.resolve({ data: [{ id: 1 }], error: null });

Deno.test('store requests: memory hit 0, Redis-tier hit 1, cold miss 2 (throttle and breaker on)', async () => {
  const counter = startCountingBridge(upstashBridge());
  const run = crypto.randomUUID();
  const resourceKey = `store_requests_${run}`;
  const a = optimizer(counter);
  const b = optimizer(counter);
  const call = (o: AdvancedBackendOptimizer, cacheKey: string, tags?: string[]) =>
    o.executeOptimizedOperation(null, op, { cacheKey, resourceKey, table: 'robots', tags });
  try {
    // Scripts loaded into Redis first (a fresh Redis answers NOSCRIPT once per script).
    await call(a, `pub:sr:${run}:warm`);
    const cold = await requestsOf(counter, () => call(a, `pub:sr:${run}:list`));
    assert.equal(cold.requests, 2, `cold miss: ${cold.names.join(', ')}`);
    const tagged = await requestsOf(
      counter,
      () => call(a, `pub:sr:${run}:robot`, [`pub:sr:${run}:robot`, `pub:sr:${run}:robots`]),
    );
    assert.equal(tagged.requests, 2, `cold miss with 2 tags: ${tagged.names.join(', ')}`);
    assert.equal((await requestsOf(counter, () => call(a, `pub:sr:${run}:list`))).requests, 0);
    assert.equal((await requestsOf(counter, () => call(b, `pub:sr:${run}:list`))).requests, 1);
    // The origin calls' rate tokens were counted in the shared window all the same.
    const store = new UpstashStore(upstashBridge());
    const window = Math.floor(Date.now() / 1000);
    const counted = Number(await store.get(`qf:throttle:${resourceKey}:${window}`) ?? 0) +
      Number(await store.get(`qf:throttle:${resourceKey}:${window - 1}`) ?? 0);
    assert.equal(counted, 3);
  } finally {
    await a.close();
    await b.close();
    await counter.close();
  }
});

Deno.test('store requests: the shared rate window still refuses when its token rides in the read', async () => {
  const counter = startCountingBridge(upstashBridge());
  const run = crypto.randomUUID();
  const a = optimizer(counter, {
    resilience: { throttleLimit: 1, throttleWindowMs: 60_000, throttleMaxWaitMs: 10 },
    enableIntelligentRetries: false,
  });
  const options = { resourceKey: `store_limit_${run}`, table: 'robots' };
  let origin = 0;
  const counted = () => {
    origin++;
    return op();
  };
  try {
    await a.executeOptimizedOperation(null, counted, { ...options, cacheKey: `pub:sl:${run}:1` });
    await assert.rejects(
      a.executeOptimizedOperation(null, counted, { ...options, cacheKey: `pub:sl:${run}:2` }),
      (error) => error instanceof ThrottledError && error.reason === 'rate-limit',
    );
    assert.equal(origin, 1);
  } finally {
    await a.close();
    await counter.close();
  }
});

Deno.test('store requests: 50 concurrent reads past the staleness bound make one re-check', async () => {
  const counter = startCountingBridge(upstashBridge());
  const run = crypto.randomUUID();
  let now = Date.now();
  const cache = cacheOn(counter, () => now);
  const key = `pub:rc:${run}`;
  let origin = 0;
  const load = () => Promise.resolve({ n: ++origin });
  try {
    await cache.execute(key, load);
    await settleBackground();
    now += 2_001; // past the staleness bound, still fresh
    counter.reset();
    const results = await Promise.all(Array.from({ length: 50 }, () => cache.execute(key, load)));
    await settleBackground();
    assert.equal(counter.counts.requests, 1, counter.counts.names.join(', '));
    assert.equal(origin, 1);
    for (const result of results) assert.deepEqual(result.value, { n: 1 });
    // Checked: the next window starts from the re-check, no second one before it.
    counter.reset();
    now += 1_000;
    await Promise.all(Array.from({ length: 50 }, () => cache.execute(key, load)));
    assert.equal(counter.counts.requests, 0);
  } finally {
    await cache.close();
    await counter.close();
  }
});

Deno.test('store requests: reads joining a re-check never get a copy another isolate invalidated', async () => {
  const counter = startCountingBridge(upstashBridge());
  const run = crypto.randomUUID();
  let now = Date.now();
  const a = cacheOn(counter, () => now);
  const b = cacheOn(counter, () => now);
  const key = `pub:ri:${run}`;
  let origin = 0;
  const load = () => Promise.resolve({ n: ++origin });
  try {
    await a.execute(key, load);
    await settleBackground();
    assert.equal(await b.invalidate(key), true);
    now += 2_001;
    const results = await Promise.all(Array.from({ length: 50 }, () => a.execute(key, load)));
    for (const result of results) assert.deepEqual(result.value, { n: 2 });
    assert.equal(origin, 2);
  } finally {
    await a.close();
    await b.close();
    await counter.close();
  }
});
