import assert from 'node:assert/strict';
import { fakeClock } from '../support/fake_clock.ts';
import { Metrics } from '../../shared/optimizer/metrics.ts';
import { MemoryStore } from '../../shared/store/memory.ts';
import type { KeyValueStore } from '../../shared/store/types.ts';
import { settleBackground } from '../../shared/runtime/background.ts';
import {
  BulkheadRejectedError,
  CircuitBreakerRegistry,
  CircuitOpenError,
  readOpenBreakers,
} from '../../shared/optimizer/resilience/mod.ts';
import { DbUnavailableError } from '../../shared/db/errors.ts';

const resilience = {
  breakerMinimumCalls: 4,
  breakerFailureRateThreshold: 0.5,
  breakerSlowCallRateThreshold: 0.75,
  breakerSlowCallMs: 1000,
  breakerOpenMs: 10_000,
  breakerStateCacheMs: 500,
  breakerProbeLeaseMs: 3000,
  breakerWindowMs: 60_000,
};

const fail = () => Promise.reject(Object.assign(new Error('db down'), { code: 'ECONNREFUSED' }));
const ok = () => Promise.resolve('ok');

/** Counts writes (set/del/pipeline) going to the store. */
function countingStore(store: KeyValueStore) {
  const counts = { writes: 0, reads: 0 };
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (['set', 'del', 'pipeline', 'incrby'].includes(String(prop))) counts.writes++;
        if (['get', 'mget'].includes(String(prop))) counts.reads++;
        return value.apply(target, args);
      };
    },
  });
  return { store: proxy, counts };
}

async function failTimes(registry: CircuitBreakerRegistry, key: string, n: number) {
  for (let i = 0; i < n; i++) await registry.execute(key, fail).catch(() => {});
}

Deno.test('breaker: opens on the failure ratio only after the minimum calls', async () => {
  const { fake, clock } = fakeClock();
  const metrics = new Metrics();
  const breakers = new CircuitBreakerRegistry({ resilience }, { clock, metrics });
  await failTimes(breakers, 'db', 3);
  assert.equal(breakers.get('db').state, 'closed'); // 3 < minimum 4
  await breakers.execute('db', ok);
  assert.equal(breakers.get('db').state, 'open'); // 3/4 failed
  fake.tick(2500);
  await assert.rejects(breakers.execute('db', ok), (e) => {
    assert.ok(e instanceof CircuitOpenError);
    assert.equal(e.reason, 'open');
    assert.equal(e.retryAfterMs, 7500);
    return true;
  });
  assert.equal(await breakers.execute('db', ok, { fallback: () => 'stale' }), 'stale');
  assert.equal(metrics.counter('breaker.transition.open'), 1);
  assert.equal(metrics.counter('breaker.fallback'), 1);
  assert.equal(metrics.snapshot().gauges['breaker.open.db'], 1);
});

Deno.test('breaker: client errors do not count, slow calls do', async () => {
  const { fake, clock } = fakeClock();
  const breakers = new CircuitBreakerRegistry({ resilience }, { clock, metrics: new Metrics() });
  for (let i = 0; i < 10; i++) {
    await breakers.execute(
      'api',
      () => Promise.reject(Object.assign(new Error('nope'), { status: 404 })),
    )
      .catch(() => {});
  }
  assert.equal(breakers.get('api').state, 'closed');
  const slow = () =>
    new Promise<string>((resolve) => {
      fake.setTimeout(() => resolve('late'), 1500);
    });
  for (let i = 0; i < 4; i++) {
    assert.equal(breakers.get('slow').state, 'closed');
    const run = breakers.execute('slow', slow);
    await fake.tickAsync(1500);
    await run;
  }
  assert.equal(breakers.get('slow').state, 'open');
});

Deno.test('breaker: half-open admits one probe; success closes and records open time', async () => {
  const { fake, clock } = fakeClock();
  const metrics = new Metrics();
  const breakers = new CircuitBreakerRegistry({ resilience }, { clock, metrics });
  await failTimes(breakers, 'db', 4);
  fake.tick(10_000);
  let release!: (v: string) => void;
  const probe = breakers.execute('db', () => new Promise<string>((r) => release = r));
  await Promise.resolve();
  await Promise.resolve();
  assert.equal(breakers.get('db').state, 'half-open');
  await assert.rejects(
    breakers.execute('db', ok),
    (e) => e instanceof CircuitOpenError && e.reason === 'probe-in-flight',
  );
  fake.tick(200);
  release('fine');
  assert.equal(await probe, 'fine');
  assert.equal(breakers.get('db').state, 'closed');
  assert.equal(metrics.histogram('breaker.open.ms')!.max, 10_200);
  assert.equal(metrics.counter('breaker.transition.half_open'), 1);
  assert.equal(metrics.counter('breaker.transition.closed'), 1);
});

Deno.test('breaker: a failed probe opens again for another breakerOpenMs', async () => {
  const { fake, clock } = fakeClock();
  const breakers = new CircuitBreakerRegistry({ resilience }, { clock, metrics: new Metrics() });
  await failTimes(breakers, 'db', 4);
  fake.tick(10_000);
  await breakers.execute('db', fail).catch(() => {});
  assert.equal(breakers.get('db').state, 'open');
  await assert.rejects(
    breakers.execute('db', ok),
    (e) => (e as CircuitOpenError).retryAfterMs === 10_000,
  );
});

Deno.test('breaker: late results of an earlier period are ignored', async () => {
  const { fake, clock } = fakeClock();
  const metrics = new Metrics();
  const breakers = new CircuitBreakerRegistry(
    { resilience: { ...resilience, breakerHalfOpenProbes: 2 } },
    { clock, metrics },
  );
  // A call admitted while closed that finishes after the breaker opened.
  let finishOld!: (v: string) => void;
  const old = breakers.execute('db', () => new Promise<string>((r) => finishOld = r));
  await failTimes(breakers, 'db', 4);
  assert.equal(breakers.get('db').state, 'open');
  finishOld('from the closed period');
  await old;
  assert.equal(metrics.counter('breaker.late_result'), 1);

  // Half-open with two probes: the first fails (opens again), the second succeeds late.
  fake.tick(10_000);
  let failFirst!: (e: Error) => void;
  let passSecond!: (v: string) => void;
  const first = breakers.execute('db', () => new Promise<string>((_, r) => failFirst = r));
  await new Promise((r) => setTimeout(r, 0));
  const second = breakers.execute('db', () => new Promise<string>((r) => passSecond = r));
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(breakers.get('db').state, 'half-open');
  failFirst(Object.assign(new Error('still down'), { code: 'ECONNRESET' }));
  await first.catch(() => {});
  assert.equal(breakers.get('db').state, 'open');
  passSecond('late success');
  await second;
  assert.equal(breakers.get('db').state, 'open'); // the late success of the old period does not close it
  assert.equal(metrics.counter('breaker.late_result'), 2);
});

Deno.test('breaker: state changes are shared; the healthy path writes nothing', async () => {
  const { fake, clock } = fakeClock();
  const memory = new MemoryStore({ now: clock.now });
  const { store, counts } = countingStore(memory);
  const a = new CircuitBreakerRegistry({ resilience }, { clock, store, metrics: new Metrics() });
  const bMetrics = new Metrics();
  const b = new CircuitBreakerRegistry({ resilience }, { clock, store, metrics: bMetrics });

  for (let i = 0; i < 50; i++) {
    await a.execute('db', ok);
    fake.tick(20);
  }
  await settleBackground();
  assert.equal(counts.writes, 0);
  assert.ok(counts.reads <= 3, `reads ${counts.reads}`); // at most one per breakerStateCacheMs

  await b.execute('db', ok); // b has read the (empty) shared state
  await failTimes(a, 'db', 60); // 50 ok + 50 failed reaches the 0.5 ratio
  await settleBackground();
  assert.equal(counts.writes, 1); // one pipeline: the transition
  assert.equal(a.get('db').state, 'open');

  fake.tick(600); // b's cached view expires
  await b.execute('db', ok); // starts a background read; this call still passes
  await settleBackground();
  assert.equal(b.get('db').state, 'open');
  await assert.rejects(b.execute('db', ok), CircuitOpenError);
  assert.equal(bMetrics.counter('breaker.transition.remote'), 1);

  // After breakerOpenMs only one isolate wins the probe claim (SET NX).
  fake.tick(10_000);
  let finish!: (v: string) => void;
  const probeA = a.execute('db', () => new Promise<string>((r) => finish = r));
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(a.get('db').state, 'half-open');
  await assert.rejects(
    b.execute('db', ok),
    (e) => e instanceof CircuitOpenError && e.reason === 'probe-in-flight',
  );
  finish('recovered');
  await probeA;
  await settleBackground();
  assert.equal(a.get('db').state, 'closed');
  fake.tick(1000);
  await b.execute('db', ok).catch(() => {}); // triggers b's read of the shared state
  await settleBackground();
  await new Promise((r) => setTimeout(r, 0));
  const answer = await b.execute('db', ok);
  assert.equal(answer, 'ok');
  assert.equal(b.get('db').state, 'closed');
});

// Issue #8 finding 11: Postgres stopped for 45 s at 5 requests/s never opened the breaker:
// each failure took longer than the window, and pool rejections did not count.
Deno.test('breaker: opens after consecutive failures even when each is slower than the window', async () => {
  const { fake, clock } = fakeClock();
  const metrics = new Metrics();
  const breakers = new CircuitBreakerRegistry({
    resilience: {
      ...resilience,
      breakerWindowMs: 1000, // shorter than one failure
      breakerMinimumCalls: 100, // the ratio can never apply
      breakerConsecutiveFailures: 3,
    },
  }, { clock, metrics });
  const slowFailure = () =>
    new Promise<never>((_, reject) =>
      clock.setTimeout(
        () => reject(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })),
        5000,
      )
    );
  for (let i = 0; i < 3; i++) {
    assert.equal(breakers.get('db').state, 'closed');
    const call = breakers.execute('db', slowFailure).catch((e) => e);
    await fake.tickAsync(5000);
    assert.equal((await call).code, 'ETIMEDOUT');
  }
  assert.equal(breakers.get('db').state, 'open');
  assert.equal(metrics.counter('breaker.open.consecutive'), 1);
  await assert.rejects(breakers.execute('db', ok), CircuitOpenError);
});

Deno.test('breaker: a success resets the consecutive count', async () => {
  const { clock } = fakeClock();
  const breakers = new CircuitBreakerRegistry({
    resilience: { ...resilience, breakerMinimumCalls: 100, breakerConsecutiveFailures: 3 },
  }, { clock, metrics: new Metrics() });
  for (let round = 0; round < 3; round++) {
    await failTimes(breakers, 'db', 2);
    await breakers.execute('db', ok);
  }
  assert.equal(breakers.get('db').state, 'closed');
});

Deno.test('breaker: pool queue timeouts (slots held by a dead origin) count, a full queue does not', async () => {
  const { clock } = fakeClock();
  const breakers = new CircuitBreakerRegistry({
    resilience: { ...resilience, breakerMinimumCalls: 100, breakerConsecutiveFailures: 3 },
  }, { clock, metrics: new Metrics() });
  const queueFull = () => Promise.reject(new BulkheadRejectedError('db', 'queue-full', 10));
  for (let i = 0; i < 5; i++) await breakers.execute('db', queueFull).catch(() => {});
  assert.equal(breakers.get('db').state, 'closed');
  const timedOut = () => Promise.reject(new BulkheadRejectedError('db', 'queue-timeout', 10));
  for (let i = 0; i < 3; i++) await breakers.execute('db', timedOut).catch(() => {});
  assert.equal(breakers.get('db').state, 'open');
});

Deno.test('breaker: an unavailable database counts as a failure', async () => {
  const { clock } = fakeClock();
  const breakers = new CircuitBreakerRegistry({
    resilience: { ...resilience, breakerConsecutiveFailures: 2 },
  }, { clock, metrics: new Metrics() });
  const down = () => Promise.reject(new DbUnavailableError('connect', 'ECONNREFUSED'));
  await breakers.execute('db', down).catch(() => {});
  await breakers.execute('db', down).catch(() => {});
  assert.equal(breakers.get('db').state, 'open');
});

Deno.test('breaker: rejectIfOpen refuses while open, claims no probe after', async () => {
  const { fake, clock } = fakeClock();
  const breakers = new CircuitBreakerRegistry({
    resilience: { ...resilience, breakerConsecutiveFailures: 1, breakerOpenMs: 1000 },
  }, { clock, metrics: new Metrics() });
  const breaker = breakers.get('db');
  breaker.rejectIfOpen(); // closed: nothing
  await breakers.execute('db', fail).catch(() => {});
  assert.throws(() => breaker.rejectIfOpen(), CircuitOpenError);
  fake.tick(1000);
  breaker.rejectIfOpen(); // the probe may go
  assert.equal(breaker.state, 'open');
  assert.equal(await breakers.execute('db', ok), 'ok'); // the probe closes it
  assert.equal(breaker.state, 'closed');
});

Deno.test('breaker: readOpenBreakers lists the open ones of every instance from the store', async () => {
  const { fake, clock } = fakeClock();
  const store = new MemoryStore({ now: () => fake.now });
  const options = {
    resilience: { ...resilience, breakerConsecutiveFailures: 1, breakerOpenMs: 1000 },
  };
  const a = new CircuitBreakerRegistry(options, { clock, store, metrics: new Metrics() });
  const b = new CircuitBreakerRegistry(options, { clock, store, metrics: new Metrics() });
  assert.deepEqual(await readOpenBreakers(store, { now: fake.now }), []);
  await a.execute('robots_db', fail).catch(() => {});
  await b.execute('quotes_api', fail).catch(() => {});
  await b.execute('healthy', ok);
  await settleBackground();
  const open = await readOpenBreakers(store, { now: fake.now });
  assert.deepEqual(open.map((o) => [o.resourceKey, o.state]), [
    ['quotes_api', 'open'],
    ['robots_db', 'open'],
  ]);
  fake.tick(1000);
  assert.deepEqual(
    (await readOpenBreakers(store, { now: fake.now })).map((o) => o.state),
    ['half-open', 'half-open'],
  );
  await a.execute('robots_db', ok); // probe succeeds: closed is published
  await settleBackground();
  assert.deepEqual(
    (await readOpenBreakers(store, { now: fake.now })).map((o) => o.resourceKey),
    ['quotes_api'],
  );
});
