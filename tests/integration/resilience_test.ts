/**
 * The resilience layer against real Redis through the Upstash REST bridge: breaker state and
 * rate windows shared by two instances (two isolates), and Redis killed mid-test.
 */
import assert from 'node:assert/strict';
import { upstashBridge } from '../support/services.ts';
import { UpstashStore } from '../../shared/store/upstash.ts';
import { Metrics } from '../../shared/optimizer/metrics.ts';
import { settleBackground } from '../../shared/runtime/background.ts';
import {
  AdaptiveThrottle,
  CircuitBreakerRegistry,
  CircuitOpenError,
  RetryPolicy,
  ThrottledError,
} from '../../shared/optimizer/resilience/mod.ts';
import { startRedisServer } from '../../scripts/services/redis.ts';
import { startRedisBridge } from '../../scripts/redis-bridge.ts';

const unique = () => `it-${crypto.randomUUID()}`;
const fail = () => Promise.reject(Object.assign(new Error('origin down'), { status: 503 }));
const ok = () => Promise.resolve('ok');
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

const resilience = {
  breakerMinimumCalls: 3,
  breakerFailureRateThreshold: 0.5,
  breakerOpenMs: 60_000,
  breakerStateCacheMs: 0, // read the shared state on every call (in the background)
};

Deno.test('breaker state opened by one instance is seen by a second one', async () => {
  const { url, token } = upstashBridge();
  const key = unique();
  const storeA = new UpstashStore({ url, token, timeoutMs: 2000 });
  const storeB = new UpstashStore({ url, token, timeoutMs: 2000 });
  const a = new CircuitBreakerRegistry({ resilience }, { store: storeA, metrics: new Metrics() });
  const bMetrics = new Metrics();
  const b = new CircuitBreakerRegistry({ resilience }, { store: storeB, metrics: bMetrics });
  try {
    await b.execute(key, ok); // b is healthy and closed
    for (let i = 0; i < 3; i++) await a.execute(key, fail).catch(() => {});
    await settleBackground(); // a's transition is published
    assert.equal(a.get(key).state, 'open');
    const shared = await storeA.get<{ state: string; until: number }>(`qf:breaker:${key}`);
    assert.equal(shared?.state, 'open');
    assert.ok(shared!.until > Date.now());

    await b.execute(key, ok); // passes, and reads the shared state in the background
    await settleBackground();
    assert.equal(b.get(key).state, 'open');
    await assert.rejects(b.execute(key, ok), CircuitOpenError);
    assert.equal(bMetrics.counter('breaker.transition.remote'), 1);

    // The probe claim is a conditional write: only one instance gets it.
    const claimA = await storeA.set(`qf:breaker:${key}:probe`, 'a', { nx: true, pxMs: 5000 });
    const claimB = await storeB.set(`qf:breaker:${key}:probe`, 'b', { nx: true, pxMs: 5000 });
    assert.deepEqual([claimA, claimB], [true, false]);
  } finally {
    await settleBackground();
    await storeA.del(`qf:breaker:${key}`, `qf:breaker:${key}:probe`);
  }
});

Deno.test('rate limits are held across two instances (@upstash/ratelimit)', async () => {
  const { url, token } = upstashBridge();
  const key = unique();
  const options = {
    resilience: {
      throttleLimit: 5,
      throttleWindowMs: 60_000,
      throttleMaxWaitMs: 0,
      throttleStoreTimeoutMs: 2000,
    },
  };
  const mA = new Metrics();
  const mB = new Metrics();
  const a = new AdaptiveThrottle(options, {
    store: new UpstashStore({ url, token, timeoutMs: 2000 }),
    metrics: mA,
  });
  const b = new AdaptiveThrottle(options, {
    store: new UpstashStore({ url, token, timeoutMs: 2000 }),
    metrics: mB,
  });
  const outcomes: string[] = [];
  // A round trip to Redis is not a delay: the first permit is 'allowed'.
  const first = await a.acquire(key);
  assert.equal(first.admission, 'allowed');
  a.release(first, 1, false);
  outcomes.push('ok');
  for (let i = 1; i < 10; i++) {
    const throttle = i % 2 === 0 ? a : b;
    try {
      await throttle.execute(key, ok);
      outcomes.push('ok');
    } catch (error) {
      assert.ok(error instanceof ThrottledError);
      assert.equal(error.reason, 'rate-limit');
      assert.ok(error.retryAfterMs > 0);
      outcomes.push('throttled');
    }
  }
  assert.equal(outcomes.filter((o) => o === 'ok').length, 5);
  assert.deepEqual(outcomes.slice(5), Array(5).fill('throttled'));
  assert.equal(mA.counter('throttle.fail_open') + mB.counter('throttle.fail_open'), 0);
  assert.ok(mA.counter('throttle.rejected') > 0 && mB.counter('throttle.rejected') > 0);
});

Deno.test('Redis killed mid-test: calls still succeed, failing open within bounded delays', async () => {
  const redis = await startRedisServer();
  const bridge = await startRedisBridge({
    redisUrl: redis.url,
    token: 'resilience-test-token',
    commandTimeoutMs: 200,
  });
  const store = new UpstashStore({ url: bridge.url, token: bridge.token, timeoutMs: 150 });
  const metrics = new Metrics();
  const config = {
    maxRetryAttempts: 3,
    retryBackoffBase: 10,
    resilience: {
      ...resilience,
      throttleLimit: 1000,
      throttleStoreTimeoutMs: 100,
      breakerOpenMs: 100,
    },
  };
  const throttle = new AdaptiveThrottle(config, { store, metrics });
  const breakers = new CircuitBreakerRegistry(config, { store, metrics });
  const retry = new RetryPolicy(config, { metrics });
  const key = unique();
  const call = (op: () => Promise<string>) =>
    throttle.execute(key, () => breakers.execute(key, () => retry.execute(op)));
  try {
    assert.equal(await call(ok), 'ok');
    await settleBackground();
    assert.equal(metrics.counter('throttle.fail_open'), 0);

    await redis.kill();
    const durations: number[] = [];
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      assert.equal(await call(ok), 'ok');
      durations.push(performance.now() - started);
    }
    await settleBackground();
    // Each call failed open on the rate window instead of failing.
    assert.ok(
      metrics.counter('throttle.fail_open') >= 5,
      `${metrics.counter('throttle.fail_open')}`,
    );
    assert.ok(metrics.counter('breaker.shared_read_failed') >= 1);
    console.log(`calls with Redis down (ms): ${durations.map((d) => d.toFixed(0)).join(', ')}`);

    // The breaker still works locally; its publish fails and is counted, not thrown.
    for (let i = 0; i < 8; i++) await call(fail).catch(() => {}); // 6 ok + 6 failed opens it
    assert.equal(breakers.get(key).state, 'open');
    await settleBackground();
    assert.equal(metrics.counter('breaker.publish_failed'), 1);
    await wait(150);
    // Half-open: the probe claim cannot reach the store, so this isolate probes (fail open).
    assert.equal(await call(ok), 'ok');
    assert.equal(breakers.get(key).state, 'closed');
    assert.equal(metrics.counter('breaker.store_fail_open'), 1);
  } finally {
    await settleBackground();
    await wait(300); // let the aborted store requests settle (op sanitizer)
    await bridge.close();
    await redis.stop();
  }
});

/** Hammers `throttle` until `until`, counting admissions; each loop yields to timers. */
async function hammer(throttle: AdaptiveThrottle, key: string, until: number, loops: number) {
  let admitted = 0;
  let attempts = 0;
  await Promise.all(Array.from({ length: loops }, async () => {
    while (Date.now() < until) {
      attempts++;
      try {
        const permit = await throttle.acquire(key);
        admitted++;
        throttle.release(permit, 1, false);
      } catch (error) {
        assert.ok(error instanceof ThrottledError, String(error));
      }
      await wait(2);
    }
  }));
  return { admitted, attempts };
}

// Issue #8 finding 11: under sustained overload the shared window admitted 57-86/s of its
// 100/s (@upstash/ratelimit's ephemeral cache blocked a refused identifier to the window's end).
Deno.test('two instances sharing one window on Redis admit its limit under sustained overload', async () => {
  const { url, token } = upstashBridge();
  const key = unique();
  const limit = 20;
  const windowMs = 500;
  const options = {
    resilience: {
      throttleLimit: limit,
      throttleWindowMs: windowMs,
      throttleMaxWaitMs: 0,
      throttleStoreTimeoutMs: 2000,
      throttleMaxConcurrent: 1000,
    },
  };
  const a = new AdaptiveThrottle(options, {
    store: new UpstashStore({ url, token, timeoutMs: 2000 }),
    metrics: new Metrics(),
  });
  const b = new AdaptiveThrottle(options, {
    store: new UpstashStore({ url, token, timeoutMs: 2000 }),
    metrics: new Metrics(),
  });
  // Start on a window boundary, run whole windows.
  await wait(windowMs - (Date.now() % windowMs));
  const started = Date.now();
  const windows = 6;
  const until = started + windows * windowMs;
  const [ra, rb] = await Promise.all([
    hammer(a, key, until, 6),
    hammer(b, key, until, 6),
  ]);
  const admitted = ra.admitted + rb.admitted;
  const attempts = ra.attempts + rb.attempts;
  console.log(
    `saturated window: ${admitted} admitted of ${attempts} attempts over ${windows} windows of ` +
      `${limit} (${((admitted / (limit * windows)) * 100).toFixed(0)}% of the limit)`,
  );
  assert.ok(attempts > 3 * limit * windows, `not overloaded: ${attempts} attempts`);
  // The sliding window admits its limit per window (the first window has no predecessor); the
  // old block-to-the-window's-end admitted about half of it here.
  assert.ok(admitted >= 0.8 * limit * windows, `admitted ${admitted} < 80% of ${limit * windows}`);
  assert.ok(admitted <= limit * (windows + 1), `admitted ${admitted} > ${limit * (windows + 1)}`);
  assert.ok(ra.admitted > 0 && rb.admitted > 0);
});

// Issue #8 finding 11: an instance whose adaptive limit fell was judged against the others'
// healthy traffic in the shared window and refused every call.
Deno.test('two instances on Redis: a lowered adaptive limit keeps its own share of the shared window', async () => {
  const { url, token } = upstashBridge();
  const key = unique();
  const options = {
    resilience: {
      throttleLimit: 20,
      throttleWindowMs: 60_000,
      throttleMaxWaitMs: 0,
      throttleStoreTimeoutMs: 2000,
      throttleMinLimitRatio: 0.25,
      throttleDecreaseFactor: 0.25,
      throttleAdjustIntervalMs: 200,
    },
  };
  const a = new AdaptiveThrottle(options, {
    store: new UpstashStore({ url, token, timeoutMs: 2000 }),
    metrics: new Metrics(),
  });
  const b = new AdaptiveThrottle(options, {
    store: new UpstashStore({ url, token, timeoutMs: 2000 }),
    metrics: new Metrics(),
  });
  // A sees an error once an adjustment is due: its limit falls to 5 (25% of 20).
  assert.equal(a.limits(key).rateLimit, 20); // tracked from now
  await wait(250);
  await a.execute(key, fail).catch(() => {});
  assert.equal(a.limits(key).rateLimit, 5);
  // B's healthy traffic: 10 calls, more than A's limit, within the shared 20.
  for (let i = 0; i < 10; i++) await b.execute(key, ok);
  let passed = 0;
  for (let i = 0; i < 10; i++) {
    await a.execute(key, ok).then(() => passed++, (e) => assert.ok(e instanceof ThrottledError));
  }
  // The error signal keeps A's limit at 5 meanwhile (EWMA above target).
  assert.equal(a.limits(key).rateLimit, 5);
  // A gets what is left of its own limit, 4 (checked against the shared count of 11, it got 0).
  assert.equal(passed, 4);
});
