/**
 * The throttle's shared rate window on real Redis through the Upstash REST bridge, counted at the
 * bridge (tests/support/counting_bridge.ts): admissions are reserved several at a time, so a
 * burst of origin calls costs a few store requests instead of one each (issue 11: with caching
 * off every database call paid one), while the isolates together never pass the limit.
 */
import assert from 'node:assert/strict';
import { upstashBridge } from '../support/services.ts';
import { startCountingBridge } from '../support/counting_bridge.ts';
import { UpstashStore } from '../../shared/store/upstash.ts';
import { Metrics } from '../../shared/optimizer/metrics.ts';
import {
  AdaptiveThrottle,
  ThrottledError,
  UpstashRateWindow,
} from '../../shared/optimizer/resilience/mod.ts';

const unique = () => `it-${crypto.randomUUID()}`;

/** `n` concurrent admissions through `throttle`; how many were admitted. */
async function burst(throttle: AdaptiveThrottle, key: string, n: number): Promise<number> {
  const outcomes = await Promise.all(Array.from({ length: n }, async () => {
    try {
      const permit = await throttle.acquire(key);
      throttle.release(permit, 1, false);
      return 1;
    } catch (error) {
      assert.ok(error instanceof ThrottledError, String(error));
      return 0;
    }
  }));
  return outcomes.reduce<number>((a, b) => a + b, 0);
}

Deno.test('throttle window on Redis: 500 admissions cost a few store requests, not 500', async () => {
  const counter = startCountingBridge(upstashBridge());
  try {
    const metrics = new Metrics();
    const throttle = new AdaptiveThrottle({
      resilience: {
        throttleLimit: 100_000,
        throttleMaxConcurrent: 1_000,
        throttleMaxWaitMs: 0,
        throttleStoreTimeoutMs: 2_000,
      },
    }, { store: new UpstashStore({ url: counter.url, token: counter.token }), metrics });
    const key = unique();
    let admitted = 0;
    for (let i = 0; i < 5; i++) admitted += await burst(throttle, key, 100);
    assert.equal(admitted, 500);
    assert.equal(metrics.counter('throttle.fail_open'), 0);
    // Before: one EVALSHA per admission (500).
    assert.ok(counter.counts.requests <= 25, `${counter.counts.requests} store requests`);
    // One request per reservation (plus an EVAL the first time Redis does not know the script).
    const reservations = metrics.counter('throttle.window.reservations');
    assert.ok(
      counter.counts.requests - reservations <= 1,
      `${counter.counts.requests} requests, ${reservations} reservations: ${counter.counts.names}`,
    );
    assert.ok(metrics.counter('throttle.window.reserved') >= admitted);
  } finally {
    await counter.close();
  }
});

Deno.test('throttle window on Redis: two isolates reserving together never pass the limit', async () => {
  const { url, token } = upstashBridge();
  const options = {
    resilience: {
      throttleLimit: 30,
      throttleWindowMs: 60_000,
      throttleMaxWaitMs: 0,
      throttleMaxConcurrent: 1_000,
      throttleStoreTimeoutMs: 2_000, // a call past it fails open: admitted, uncounted
    },
  };
  const a = new AdaptiveThrottle(options, {
    store: new UpstashStore({ url, token }),
    metrics: new Metrics(),
  });
  const b = new AdaptiveThrottle(options, {
    store: new UpstashStore({ url, token }),
    metrics: new Metrics(),
  });
  const key = unique();
  const [fromA, fromB] = await Promise.all([burst(a, key, 100), burst(b, key, 100)]);
  assert.equal(fromA + fromB, 30);
  const store = new UpstashStore({ url, token });
  const window = Math.floor(Date.now() / 60_000);
  const counted = await store.redis.get<number>(`qf:throttle:${key}:${window}`);
  assert.equal(Number(counted), 30, 'every admission counted in the shared window, no more');
});

Deno.test('throttle window on Redis: tokens left at a window end are never used in the next', async () => {
  const counter = startCountingBridge(upstashBridge());
  try {
    const store = new UpstashStore({ url: counter.url, token: counter.token });
    let now = Math.ceil(Date.now() / 1_000) * 1_000 + 1_000_000; // a window's start
    const metrics = new Metrics();
    const window = new UpstashRateWindow({
      redis: store.redis,
      windowMs: 1_000,
      timeoutMs: 2_000,
      metrics,
      now: () => now,
    });
    await window.limit(unique(), 2_000); // Redis loads the script (EVALSHA, then EVAL once)
    counter.reset();
    const key = unique();
    // 200 at once: 1 reserved, then the 199 that waited.
    const first = await Promise.all(
      Array.from({ length: 200 }, () => Promise.resolve(window.limit(key, 2_000))),
    );
    assert.ok(first.every((d) => d.success));
    assert.equal(counter.counts.requests, 2);
    // A tenth of the isolate's rate (200 this window) is reserved: 1 used, 19 left.
    assert.equal((await window.limit(key, 2_000)).success, true);
    assert.equal(counter.counts.requests, 3);
    for (let i = 0; i < 19; i++) {
      const decision = window.limit(key, 2_000);
      assert.ok(!(decision instanceof Promise), 'a reserved admission needs no store request');
      assert.equal(decision.success, true);
    }
    assert.equal(counter.counts.requests, 3);
    assert.equal((await window.limit(key, 2_000)).success, true); // reserves again
    assert.equal(counter.counts.requests, 4);
    const reservedInFirst = metrics.counter('throttle.window.reserved') - 1; // less the warm-up
    now += 1_000; // the next window: what is left is dropped
    assert.equal((await window.limit(key, 2_000)).success, true);
    assert.equal(counter.counts.requests, 5, 'the next window starts with a store request');
    const w = Math.floor(now / 1_000);
    const previous = Number(await store.redis.get(`qf:throttle:${key}:${w - 1}`));
    const current = Number(await store.redis.get(`qf:throttle:${key}:${w}`));
    assert.equal(previous, reservedInFirst, 'the first window counts what was reserved in it');
    assert.equal(current, metrics.counter('throttle.window.reserved') - reservedInFirst - 1);
    assert.ok(current >= 1);
  } finally {
    await counter.close();
  }
});
