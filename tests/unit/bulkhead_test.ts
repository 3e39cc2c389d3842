import assert from 'node:assert/strict';
import { fakeClock } from '../support/fake_clock.ts';
import { Metrics } from '../../shared/optimizer/metrics.ts';
import {
  Bulkhead,
  BulkheadRegistry,
  BulkheadRejectedError,
} from '../../shared/optimizer/resilience/mod.ts';
import {
  AppliedSettingsReader,
  emptySettings,
  SettingsStore,
} from '../../shared/optimizer/manager/settings.ts';
import { AdvancedBackendOptimizer } from '../../shared/optimizer/advanced.ts';
import { MemoryStore } from '../../shared/store/memory.ts';

const options = { resilience: { poolMaxConcurrent: 2, poolMaxQueue: 2, poolQueueTimeoutMs: 500 } };

Deno.test('bulkhead: bounded slots, bounded FIFO queue, utilization and wait metrics', async () => {
  const { fake, clock } = fakeClock();
  const metrics = new Metrics();
  const db = new Bulkhead('db', options, { clock, metrics });
  assert.equal(db.tryAcquire(), true);
  assert.equal(db.tryAcquire(), true);
  assert.equal(metrics.snapshot().gauges['pool.db.utilization'], 1);
  assert.equal(db.tryAcquire(), false);
  const order: string[] = [];
  const first = db.acquire().then(() => order.push('first'));
  const second = db.acquire().then(() => order.push('second'));
  await assert.rejects(
    db.acquire(),
    (e) => e instanceof BulkheadRejectedError && e.reason === 'queue-full',
  );
  assert.equal(db.queued, 2);
  await fake.tickAsync(100);
  db.release(); // the slot passes to the oldest waiter
  await first;
  assert.deepEqual(order, ['first']);
  assert.equal(db.inUse, 2);
  await fake.tickAsync(100);
  db.release();
  await second;
  assert.deepEqual(order, ['first', 'second']);
  const wait = metrics.histogram('pool.wait.ms')!;
  assert.equal(wait.count, 2);
  assert.equal(wait.max, 200);
  db.release();
  db.release();
  assert.equal(db.inUse, 0);
  assert.equal(metrics.snapshot().gauges['pool.db.in_use'], 0);
  assert.throws(() => db.release(), /released more than acquired/);
});

Deno.test('bulkhead: the queue wait times out; an abort leaves the queue', async () => {
  const { fake, clock } = fakeClock();
  const metrics = new Metrics();
  const db = new Bulkhead('db', options, { clock, metrics });
  const hold = [db.run(() => new Promise((r) => fake.setTimeout(r, 10_000))), db.tryAcquire()];
  const late = db.acquire().catch((e) => e);
  const controller = new AbortController();
  const aborted = db.acquire(controller.signal).catch((e) => e);
  controller.abort(new Error('client left'));
  assert.equal((await aborted).message, 'client left');
  assert.equal(db.queued, 1);
  await fake.tickAsync(500);
  const error = await late;
  assert.ok(error instanceof BulkheadRejectedError);
  assert.equal(error.reason, 'queue-timeout');
  assert.equal(db.queued, 0);
  assert.equal(metrics.counter('pool.rejected.queue-timeout'), 1);
  await fake.tickAsync(10_000);
  await hold[0];
  db.release();
  assert.equal(db.inUse, 0);
});

Deno.test('bulkhead: run releases on failure; the registry keeps one per resource', async () => {
  const pools = new BulkheadRegistry(options, { metrics: new Metrics() });
  await assert.rejects(pools.run('a', () => Promise.reject(new Error('x'))), /x/);
  assert.equal(pools.get('a').inUse, 0);
  assert.equal(pools.get('a'), pools.get('a'));
  let concurrent = 0;
  let peak = 0;
  await Promise.all(Array.from({ length: 4 }, () =>
    pools.run('b', async () => {
      peak = Math.max(peak, ++concurrent);
      await new Promise((r) => setTimeout(r, 1));
      concurrent--;
    })));
  assert.equal(peak, 2);
  assert.deepEqual(pools.utilization().b, { inUse: 0, queued: 0, maxConcurrent: 2 });
});

Deno.test('bulkhead: a stored pool size takes effect (grow admits waiters, shrink drains), clamped', async () => {
  let now = 1_000_000;
  const store = new MemoryStore();
  const settings = new SettingsStore(store);
  const reader = new AppliedSettingsReader(store, { refreshMs: 5000, now: () => now });
  // poolMaxConcurrent 2: bounds [1, 8].
  const pools = new BulkheadRegistry(options, { metrics: new Metrics(), settings: () => reader });
  const db = pools.get('db');
  assert.equal(db.maxConcurrent, 2);
  await reader.settle();
  assert.ok(db.tryAcquire() && db.tryAcquire());
  const waiting = db.acquire();
  assert.equal(db.queued, 1);

  await settings.write({ ...emptySettings(), poolSizes: { db: 3 } });
  now += 4999;
  assert.equal(db.maxConcurrent, 2, 'within the refresh bound: the old size');
  now += 1;
  db.maxConcurrent; // starts the refresh
  await reader.settle();
  assert.equal(db.maxConcurrent, 3);
  await waiting; // the larger pool admitted the waiter at once
  assert.equal(db.inUse, 3);
  assert.equal(db.queued, 0);
  assert.equal(pools.utilization().db.maxConcurrent, 3);
  assert.equal(pools.get('other').maxConcurrent, 2, 'other resources keep the configured size');

  // Shrink to 1: calls in flight finish, nobody is admitted until they fit.
  await settings.write({ ...emptySettings(), poolSizes: { db: 1 } });
  await reader.refresh();
  const next = db.acquire().then(() => 'admitted');
  assert.equal(db.queued, 1);
  db.release();
  db.release();
  assert.equal(db.inUse, 1);
  assert.equal(db.queued, 1, 'still one in flight: the waiter waits');
  db.release(); // the last one hands its slot over
  assert.equal(await next, 'admitted');
  assert.equal(db.inUse, 1);
  db.release();

  // Out of bounds both ways: [1, 8].
  await settings.write({ ...emptySettings(), poolSizes: { db: 10_000, other: 0.4 } });
  await reader.refresh();
  assert.equal(db.maxConcurrent, 8);
  assert.equal(pools.get('other').maxConcurrent, 1);
  for (let i = 0; i < 8; i++) assert.ok(db.tryAcquire());
  assert.equal(db.tryAcquire(), false);
  for (let i = 0; i < 8; i++) db.release();
});

Deno.test('optimizer: useSettings reaches the throttle and the pools', async () => {
  const store = new MemoryStore();
  const optimizer = new AdvancedBackendOptimizer({
    store,
    metrics: new Metrics(),
    metricsFlushIntervalMs: 0,
    config: { resilience: { throttleLimit: 100, poolMaxConcurrent: 10 } },
  });
  try {
    const reader = new AppliedSettingsReader(store);
    optimizer.useSettings(reader);
    await new SettingsStore(store).write({
      ...emptySettings(),
      throttleLimits: { robots_db: 150, strategies_db: 9_999 },
      poolSizes: { robots_db: 15, strategies_db: 9_999 },
    });
    await reader.refresh();
    assert.equal(optimizer.throttle.limits('robots_db').rateLimit, 150);
    assert.equal(optimizer.throttle.limits('strategies_db').rateLimit, 400, 'clamped to 4x');
    assert.equal(optimizer.pools.get('robots_db').maxConcurrent, 15);
    assert.equal(optimizer.pools.get('strategies_db').maxConcurrent, 40, 'clamped to 4x');
    // An operation runs through both with the applied values in force.
    const value = await optimizer.executeOptimizedOperation(null, () => Promise.resolve(7), {
      resourceKey: 'robots_db',
    });
    assert.equal(value, 7);
    optimizer.useSettings(undefined);
    assert.equal(optimizer.throttle.limits('robots_db').rateLimit, 100);
    assert.equal(optimizer.pools.get('robots_db').maxConcurrent, 10);
  } finally {
    await optimizer.close();
  }
});

Deno.test('bulkhead: one timer serves the queue; each waiter still times out at its own deadline', async () => {
  const { fake, clock } = fakeClock();
  let timers = 0;
  const counting = {
    ...clock,
    setTimeout: (fn: () => void, ms: number) => {
      timers++;
      return clock.setTimeout(fn, ms);
    },
  };
  const metrics = new Metrics();
  const db = new Bulkhead('db', {
    resilience: { poolMaxConcurrent: 1, poolMaxQueue: 100, poolQueueTimeoutMs: 500 },
  }, { clock: counting, metrics });
  assert.equal(db.tryAcquire(), true);
  const outcome = (p: Promise<void>) => p.then(() => 'granted', (e) => e.reason as string);
  const early = Array.from({ length: 50 }, () => outcome(db.acquire()));
  assert.equal(timers, 1, 'one timer for 50 waiters (before: one each)');
  await fake.tickAsync(300);
  const later = outcome(db.acquire());
  db.release(); // the oldest waiter takes the slot
  assert.equal(await early[0], 'granted');
  await fake.tickAsync(200); // t=500: the other early waiters expire, the later one does not
  assert.deepEqual(new Set(await Promise.all(early.slice(1))), new Set(['queue-timeout']));
  assert.equal(db.queued, 1);
  await fake.tickAsync(299);
  assert.equal(db.queued, 1, 'not before its own deadline (t=800)');
  await fake.tickAsync(1);
  assert.equal(await later, 'queue-timeout');
  assert.equal(db.queued, 0);
  assert.equal(metrics.counter('pool.rejected.queue-timeout'), 50);
  db.release();
  assert.equal(db.inUse, 0);
});
