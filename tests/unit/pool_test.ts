import assert from 'node:assert/strict';
import { fakeClock } from '../support/fake_clock.ts';
import { Metrics } from '../../shared/optimizer/metrics.ts';
import {
  Bulkhead,
  BulkheadRegistry,
  BulkheadRejectedError,
} from '../../shared/optimizer/resilience/mod.ts';

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
