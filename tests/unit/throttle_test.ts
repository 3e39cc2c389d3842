/**
 * Over 400 lines on purpose: the adaptive throttle's rules (limits, fair shares, adaptation,
 * waits) on one fake clock, read best together.
 */
import assert from 'node:assert/strict';
import FakeTimers from '@sinonjs/fake-timers';
import { Metrics } from '../../shared/optimizer/metrics.ts';
import {
  AdaptiveThrottle,
  type Clock,
  MemoryRateWindow,
  ThrottledError,
  type ThrottlePermit,
  throttlingRate,
} from '../../shared/optimizer/resilience/mod.ts';
import {
  AppliedSettingsReader,
  emptySettings,
  SettingsStore,
} from '../../shared/optimizer/manager/settings.ts';
import { MemoryStore } from '../../shared/store/memory.ts';

function fakeClock() {
  const fake = FakeTimers.createClock(1_000_000); // a window boundary for 1000 ms windows
  const clock: Clock = {
    now: () => fake.now,
    setTimeout: (fn, ms) => fake.setTimeout(fn, ms),
    clearTimeout: (h) => fake.clearTimeout(h as number),
  };
  return { fake, clock };
}

Deno.test('memory window: sliding window semantics of @upstash/ratelimit', () => {
  const { fake, clock } = fakeClock();
  const w = new MemoryRateWindow(1000, clock);
  for (let i = 0; i < 5; i++) assert.equal(w.limit('k', 5).success, true);
  const denied = w.limit('k', 5);
  assert.equal(denied.success, false);
  assert.equal(denied.retryAfterMs, 1000); // the current window is full: wait for the next
  assert.equal(w.limit('other', 5).success, true); // keys are independent
  fake.tick(1500); // half of the next window: floor(5 * 0.5) = 2 of the previous still count
  assert.equal(w.limit('k', 5).success, true);
  assert.equal(w.limit('k', 5).success, true);
  assert.equal(w.limit('k', 5).success, true);
  const again = w.limit('k', 5);
  assert.equal(again.success, false);
  // current 3, previous 5: free once floor(5 * (1 - p)) < 2, i.e. p > 0.6 -> 100 ms from now.
  assert.equal(again.retryAfterMs, 100);
  fake.tick(101);
  assert.equal(w.limit('k', 5).success, true);
  fake.tick(5000); // long idle: nothing counts
  assert.equal(w.limit('k', 5).remaining, 4);
});

Deno.test('throttle: over the rate limit a request waits a bounded delay, then is rejected', async () => {
  const { fake, clock } = fakeClock();
  const metrics = new Metrics();
  const throttle = new AdaptiveThrottle({
    resilience: { throttleLimit: 2, throttleWindowMs: 1000, throttleMaxWaitMs: 100 },
  }, { clock, metrics });
  fake.tick(800); // 200 ms before the window ends
  await throttle.execute('api', () => Promise.resolve(1));
  await throttle.execute('api', () => Promise.resolve(2));
  // The slot frees in 200 ms, more than the 100 ms a request may wait: rejected at once.
  const outcome = await throttle.execute('api', () => Promise.resolve(3)).catch((e) => e);
  assert.ok(outcome instanceof ThrottledError);
  assert.equal(outcome.reason, 'rate-limit');
  assert.equal(outcome.retryAfterMs, 200);
  assert.equal(outcome.limit, 2);
  assert.equal(fake.now, 1_000_800);
  assert.equal(metrics.counter('throttle.rejected.rate-limit'), 1);

  // With room to wait, the request is delayed, not rejected.
  const { fake: f2, clock: c2 } = fakeClock();
  const m2 = new Metrics();
  const t2 = new AdaptiveThrottle({
    resilience: { throttleLimit: 2, throttleWindowMs: 1000, throttleMaxWaitMs: 300 },
  }, { clock: c2, metrics: m2 });
  await t2.execute('api', () => Promise.resolve(1));
  f2.tick(900);
  await t2.execute('api', () => Promise.resolve(2));
  const permit = t2.acquire('api');
  assert.ok(permit instanceof Promise);
  await f2.tickAsync(300);
  const granted = await permit;
  assert.equal(granted.admission, 'delayed');
  assert.ok(granted.waitedMs > 0 && granted.waitedMs <= 300);
  t2.release(granted, 1, false);
  assert.equal(m2.counter('throttle.delayed'), 1);
  assert.equal(throttlingRate(m2), 0);
});

Deno.test('throttle: concurrency limit queues up to the max wait, FIFO', async () => {
  const { fake, clock } = fakeClock();
  const metrics = new Metrics();
  const throttle = new AdaptiveThrottle({
    resilience: { throttleMaxConcurrent: 2, throttleMaxWaitMs: 100, throttleLimit: 1000 },
  }, { clock, metrics });
  const a = throttle.acquire('db');
  const b = throttle.acquire('db');
  assert.ok(!(a instanceof Promise) && !(b instanceof Promise));
  const c = throttle.acquire('db');
  assert.ok(c instanceof Promise);
  await fake.tickAsync(50);
  throttle.release(a, 5, false);
  const permitC = await c;
  assert.equal(permitC.admission, 'delayed');
  assert.equal(throttle.limits('db').inFlight, 2);
  const d = throttle.acquire('db') as Promise<unknown>;
  const rejected = d.catch((e) => e);
  await fake.tickAsync(100);
  const error = await rejected;
  assert.ok(error instanceof ThrottledError);
  assert.equal(error.reason, 'concurrency-limit');
  throttle.release(b, 5, false);
  throttle.release(permitC, 5, false);
  assert.equal(throttle.limits('db').inFlight, 0);
  assert.equal(throttlingRate(metrics), 1 / 4);
});

Deno.test('throttle: AIMD shrinks the limits on latency/errors and recovers', () => {
  const { fake, clock } = fakeClock();
  const metrics = new Metrics();
  const throttle = new AdaptiveThrottle({
    resilience: {
      throttleLimit: 100,
      throttleMaxConcurrent: 20,
      throttleLatencyTargetMs: 200,
      throttleErrorRateTarget: 0.1,
      throttleDecreaseFactor: 0.5,
      throttleIncreaseRatio: 0.1,
      throttleMinLimitRatio: 0.1,
      throttleAdjustIntervalMs: 1000,
    },
  }, { clock, metrics });
  const call = (ms: number, failed = false) => {
    const p = throttle.acquire('db');
    assert.ok(!(p instanceof Promise));
    throttle.release(p, ms, failed);
  };
  call(500); // slow, but the first adjustment waits for the interval
  assert.equal(throttle.limits('db').rateLimit, 100);
  fake.tick(1000);
  call(500);
  assert.deepEqual(
    [throttle.limits('db').rateLimit, throttle.limits('db').concurrencyLimit],
    [50, 10],
  );
  for (let i = 0; i < 5; i++) {
    fake.tick(1000);
    call(500);
  }
  // Never below 10% of the configured limits.
  assert.deepEqual(
    [throttle.limits('db').rateLimit, throttle.limits('db').concurrencyLimit],
    [10, 2],
  );
  assert.equal(metrics.snapshot().gauges['throttle.limit.db'], 10);
  // Errors shrink too, even when fast.
  const other = () => {
    const p = throttle.acquire('api') as { admission: string };
    throttle.release(p as never, 5, true);
  };
  other();
  fake.tick(1000);
  other();
  assert.equal(throttle.limits('api').rateLimit, 50);
  // Healthy again: fast calls (5 per second) bring the EWMA under target, then the limits
  // grow by 10% of the configured ones per interval.
  const seen: number[] = [];
  for (let i = 0; i < 60; i++) {
    fake.tick(200);
    call(10);
    if (i % 5 === 4) seen.push(throttle.limits('db').rateLimit);
  }
  assert.ok(seen.every((v, i) => i === 0 || v >= seen[i - 1]), `not monotonic: ${seen}`);
  assert.ok(seen.some((v, i) => i > 0 && v - seen[i - 1] === 10), `steps: ${seen}`);
  assert.equal(throttle.limits('db').rateLimit, 100);
  assert.equal(throttle.limits('db').concurrencyLimit, 20);
  assert.ok(metrics.counter('throttle.limit.decrease') >= 3);
  assert.ok(metrics.counter('throttle.limit.increase') >= 8);
});

Deno.test('throttle: the shrunken limit applies to the rate window', async () => {
  const { fake, clock } = fakeClock();
  const throttle = new AdaptiveThrottle({
    resilience: {
      throttleLimit: 10,
      throttleDecreaseFactor: 0.5,
      throttleAdjustIntervalMs: 1000,
      throttleMaxWaitMs: 0,
      throttleErrorRateTarget: 0.1,
    },
  }, { clock, metrics: new Metrics() });
  const p = throttle.acquire('db');
  fake.tick(1000);
  throttle.release(p as never, 1, true); // an error: limit 10 -> 5
  fake.tick(1); // the previous window's single call no longer weighs
  assert.equal(throttle.limits('db').rateLimit, 5);
  let passed = 0;
  for (let i = 0; i < 10; i++) {
    try {
      await throttle.execute('db', () => Promise.resolve());
      passed++;
    } catch (e) {
      assert.ok(e instanceof ThrottledError);
    }
  }
  assert.equal(passed, 5); // the adapted limit, not the configured 10
});

Deno.test('throttle: an unreachable window fails open and says so', async () => {
  const throttle = new AdaptiveThrottle({}, {
    metrics: new Metrics(),
    rateWindow: {
      limit: () =>
        Promise.resolve({
          success: true,
          remaining: 0,
          retryAfterMs: 0,
          failOpen: 'timeout' as const,
        }),
    },
  });
  const permit = await throttle.acquire('db');
  assert.equal(permit.admission, 'fail-open');
  throttle.release(permit, 1, false);
});

// Issue #8 finding 11: an instance whose adaptive limit fell answered 429 to all of its calls
// because other instances' healthy traffic filled the shared window it was checked against.
Deno.test('throttle: a lowered adaptive limit is checked against the instance own count, not the shared one', async () => {
  const { fake, clock } = fakeClock();
  const shared = new MemoryRateWindow(1000, clock); // the window both instances count in
  const resilience = {
    throttleLimit: 10,
    throttleMinLimitRatio: 0.3,
    throttleDecreaseFactor: 0.3,
    throttleAdjustIntervalMs: 1000,
    throttleMaxWaitMs: 0,
  };
  const a = new AdaptiveThrottle({ resilience }, {
    clock,
    metrics: new Metrics(),
    rateWindow: shared,
  });
  const b = new AdaptiveThrottle({ resilience }, {
    clock,
    metrics: new Metrics(),
    rateWindow: shared,
  });
  // A sees an error burst: its limit falls to 3.
  const p = a.acquire('db');
  fake.tick(1000);
  a.release(p as never, 1, true);
  assert.equal(a.limits('db').rateLimit, 3);
  fake.tick(1000); // a new window; the previous one's call no longer weighs
  // B's healthy traffic: 6 calls, more than A's limit, within the shared 10.
  for (let i = 0; i < 6; i++) await b.execute('db', () => Promise.resolve());
  const outcomes: string[] = [];
  for (let i = 0; i < 5; i++) {
    await a.execute('db', () => Promise.resolve()).then(
      () => outcomes.push('ok'),
      (e) => outcomes.push(e instanceof ThrottledError ? `429 ${e.reason}` : 'error'),
    );
  }
  // A keeps its own share (3), the fourth and fifth exceed its own limit.
  assert.deepEqual(outcomes, ['ok', 'ok', 'ok', '429 rate-limit', '429 rate-limit']);
  // The shared window still bounds the sum: B fills the last slot, then is refused.
  await b.execute('db', () => Promise.resolve());
  await assert.rejects(b.execute('db', () => Promise.resolve()), ThrottledError);
});

Deno.test('throttle: a call refused by the shared window does not count against the own one', async () => {
  const { clock } = fakeClock();
  const shared = new MemoryRateWindow(1000, clock);
  const resilience = { throttleLimit: 4, throttleMaxWaitMs: 0 };
  const a = new AdaptiveThrottle({ resilience }, {
    clock,
    metrics: new Metrics(),
    rateWindow: shared,
  });
  for (let i = 0; i < 4; i++) shared.limit('db', 4); // another instance filled the window
  for (let i = 0; i < 10; i++) {
    await assert.rejects(a.execute('db', () => Promise.resolve()), ThrottledError);
  }
  // Its own window was refunded each time: with a window of its own it passes at once.
  const own = new AdaptiveThrottle({ resilience }, { clock, metrics: new Metrics() });
  await own.execute('db', () => Promise.resolve());
});

Deno.test('throttle: a call refused for concurrency takes no rate token', async () => {
  const { fake, clock } = fakeClock();
  const shared = new MemoryRateWindow(1000, clock);
  const a = new AdaptiveThrottle({
    resilience: { throttleLimit: 3, throttleMaxConcurrent: 1, throttleMaxWaitMs: 50 },
  }, { clock, metrics: new Metrics(), rateWindow: shared });
  const held = a.acquire('db');
  assert.ok(!(held instanceof Promise));
  const waiting = a.acquire('db') as Promise<unknown>;
  const refused = waiting.catch((e) => e);
  await fake.tickAsync(50);
  assert.ok((await refused) instanceof ThrottledError);
  a.release(held, 1, false);
  // One token used (the held call): two remain in the shared window.
  assert.equal(shared.limit('db', 3).success, true);
  assert.equal(shared.limit('db', 3).success, true);
  assert.equal(shared.limit('db', 3).success, false);
});

Deno.test('throttle: limits recover per interval elapsed after a quiet spell', () => {
  const { fake, clock } = fakeClock();
  const throttle = new AdaptiveThrottle({
    resilience: {
      throttleLimit: 100,
      throttleDecreaseFactor: 0.1,
      throttleIncreaseRatio: 0.1,
      throttleAdjustIntervalMs: 1000,
    },
  }, { clock, metrics: new Metrics() });
  const call = (failed: boolean) => {
    const p = throttle.acquire('db');
    assert.ok(!(p instanceof Promise));
    throttle.release(p, 1, failed);
  };
  call(true);
  fake.tick(1000);
  call(true);
  assert.equal(throttle.limits('db').rateLimit, 10);
  // Nothing for 5 s (an open breaker sends nothing), then a healthy call: the stale error
  // signal is dropped and the limit grows by one step per interval elapsed.
  fake.tick(5000);
  call(false);
  assert.equal(throttle.limits('db').rateLimit, 60); // 10 + 5 intervals x 10
});

Deno.test('throttle: a stored limit change takes effect within the refresh bound, clamped to the bounds', async () => {
  const { fake, clock } = fakeClock();
  const store = new MemoryStore();
  const settings = new SettingsStore(store);
  const reader = new AppliedSettingsReader(store, { refreshMs: 5000, now: () => fake.now });
  // Bounds: throttleLimit x [throttleMinLimitRatio, 4] = [5, 80].
  const throttle = new AdaptiveThrottle({
    resilience: {
      throttleLimit: 20,
      throttleMinLimitRatio: 0.25,
      throttleWindowMs: 1000,
      throttleMaxWaitMs: 0,
    },
  }, { clock, metrics: new Metrics(), settings: () => reader });
  const admitted = async (resource: string) => {
    let n = 0;
    for (; n < 200; n++) {
      const outcome = await throttle.execute(resource, () => Promise.resolve(n)).catch((e) => e);
      if (outcome instanceof ThrottledError) {
        assert.equal(outcome.reason, 'rate-limit');
        return { n, limit: outcome.limit };
      }
    }
    return { n, limit: Infinity };
  };
  await reader.settle();
  assert.deepEqual(await admitted('api'), { n: 20, limit: 20 }, 'the configured limit');

  await settings.write({ ...emptySettings(), throttleLimits: { api: 30 } });
  fake.tick(2000); // a fresh window, within the refresh bound: still the old limit
  assert.deepEqual(await admitted('api'), { n: 20, limit: 20 });
  fake.tick(3000); // 5 s since the last read: this admission starts a refresh
  throttle.limits('api');
  await reader.settle();
  assert.equal(throttle.configuredLimit('api'), 30);
  assert.equal(throttle.limits('api').rateLimit, 30);
  fake.tick(2000);
  assert.deepEqual(await admitted('api'), { n: 30, limit: 30 }, 'the applied limit');
  // Another resource keeps the configured one.
  assert.deepEqual(await admitted('other'), { n: 20, limit: 20 });

  // Out of bounds both ways: clamped to [5, 80].
  await settings.write({ ...emptySettings(), throttleLimits: { api: 1_000_000, other: 2 } });
  await reader.refresh();
  assert.equal(throttle.configuredLimit('api'), 80);
  assert.equal(throttle.configuredLimit('other'), 5);
  fake.tick(2000);
  assert.deepEqual(await admitted('api'), { n: 80, limit: 80 });
  assert.deepEqual(await admitted('other'), { n: 5, limit: 5 });

  // Removed: back to the configured limit.
  await settings.clear();
  await reader.refresh();
  fake.tick(2000);
  assert.deepEqual(await admitted('api'), { n: 20, limit: 20 });
});

Deno.test('throttle: an applied limit keeps the adaptive share (a degraded resource stays degraded)', () => {
  const { fake, clock } = fakeClock();
  const applied: { limit?: number } = {};
  const throttle = new AdaptiveThrottle({
    resilience: { throttleLimit: 100, throttleDecreaseFactor: 0.5, throttleAdjustIntervalMs: 1000 },
  }, {
    clock,
    metrics: new Metrics(),
    settings: () => ({ throttleLimitFor: () => applied.limit }),
  });
  const permit = throttle.acquire('db') as ThrottlePermit;
  fake.tick(1000);
  throttle.release(permit, 5000, false); // slow: halves the limit
  assert.equal(throttle.limits('db').rateLimit, 50);
  applied.limit = 200;
  assert.equal(throttle.limits('db').rateLimit, 100, 'half of the applied limit');
  // Recovery grows toward the applied limit, by its increase ratio.
  for (let i = 0; i < 10; i++) {
    const p = throttle.acquire('db') as ThrottlePermit;
    fake.tick(3000); // a quiet spell: the EWMAs start again from this healthy sample
    throttle.release(p, 1, false);
  }
  assert.equal(throttle.limits('db').rateLimit, 200);
});
