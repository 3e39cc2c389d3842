import assert from 'node:assert/strict';
import {
  LATENCY_BUCKETS_MS,
  Metrics,
  quantileFromBuckets,
  readSharedMetrics,
} from '../../shared/optimizer/metrics.ts';
import { MemoryStore } from '../../shared/store/memory.ts';
import type { KeyValueStore } from '../../shared/store/types.ts';
import { StoreUnavailableError } from '../../shared/store/types.ts';

Deno.test('metrics: counters, gauges and histograms accumulate', () => {
  const m = new Metrics();
  m.increment('cache.hit.memory');
  m.increment('cache.hit.memory', 2);
  m.gauge('pool.in_use', 3);
  for (const v of [1, 2, 3, 4, 100]) m.observe('origin.ms', v);
  const s = m.snapshot();
  assert.equal(s.counters['cache.hit.memory'], 3);
  assert.equal(s.gauges['pool.in_use'], 3);
  const h = s.histograms['origin.ms'];
  assert.equal(h.count, 5);
  assert.equal(h.sum, 110);
  assert.equal(h.min, 1);
  assert.equal(h.max, 100);
  assert.equal(h.mean, 22);
  assert.ok(h.p50 > 1 && h.p50 <= 5, `p50 ${h.p50}`);
  assert.ok(h.p99 > 50 && h.p99 <= 100, `p99 ${h.p99}`);
});

Deno.test('metrics: quantiles interpolate inside a bucket and clamp to min/max', () => {
  const buckets = new Array(LATENCY_BUCKETS_MS.length + 1).fill(0);
  const i = LATENCY_BUCKETS_MS.indexOf(25); // values in (10, 25]
  buckets[i] = 100;
  assert.equal(quantileFromBuckets(buckets, 0.5), 17.5);
  assert.equal(quantileFromBuckets(buckets, 0.5, 20, 22), 21);
  assert.equal(quantileFromBuckets(new Array(buckets.length).fill(0), 0.5), 0);
});

Deno.test('metrics: flushes from two isolates add up in the shared store', async () => {
  let now = 1_700_000_000_000;
  const store = new MemoryStore({ now: () => now });
  const a = new Metrics();
  const b = new Metrics();
  a.increment('requests', 3);
  b.increment('requests', 4);
  a.observe('origin.ms', 20);
  b.observe('origin.ms', 30);
  await a.flushTo(store, { now: () => now });
  await b.flushTo(store, { now: () => now });
  now += 60_000; // a later bucket
  a.increment('requests');
  await a.flushTo(store, { now: () => now });
  const shared = await readSharedMetrics(store, { now: () => now });
  assert.equal(shared.counters.requests, 8);
  assert.equal(shared.histograms['origin.ms'].count, 2);
  assert.equal(shared.histograms['origin.ms'].sum, 50);
  // Flushing again with nothing new writes nothing.
  assert.equal(a.hasPending, false);
});

Deno.test('metrics: a failed flush keeps the counts for the next one', async () => {
  const down: Pick<KeyValueStore, 'pipeline'> = {
    pipeline: () => Promise.reject(new StoreUnavailableError('down')),
  };
  const m = new Metrics();
  m.increment('requests', 2);
  m.observe('origin.ms', 5);
  await assert.rejects(m.flushTo(down as KeyValueStore), StoreUnavailableError);
  assert.equal(m.hasPending, true);
  m.increment('requests');
  const store = new MemoryStore();
  await m.flushTo(store);
  const shared = await readSharedMetrics(store);
  assert.equal(shared.counters.requests, 3);
  assert.equal(shared.histograms['origin.ms'].count, 1);
});

Deno.test('metrics: readSharedMetrics ignores buckets outside the window', async () => {
  let now = 1_700_000_000_000;
  const store = new MemoryStore({ now: () => now });
  const m = new Metrics();
  m.increment('old');
  await m.flushTo(store, { now: () => now });
  now += 2 * 3_600_000;
  m.increment('new');
  await m.flushTo(store, { now: () => now });
  const shared = await readSharedMetrics(store, { now: () => now, windowMs: 3_600_000 });
  assert.equal(shared.counters.old, undefined);
  assert.equal(shared.counters.new, 1);
});

/** A store whose pipelines apply the first `applied` commands (all when undefined), then fail. */
function failingAfter(store: KeyValueStore, applied?: number): KeyValueStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop !== 'pipeline') return Reflect.get(target, prop, receiver);
      return async (commands: Parameters<KeyValueStore['pipeline']>[0]) => {
        await target.pipeline(commands.slice(0, applied ?? commands.length));
        throw new StoreUnavailableError('answer lost');
      };
    },
  });
}

Deno.test('metrics: N events across 3 instances read back as N, with failed and resent flushes', async () => {
  let now = 1_700_000_000_000;
  const store = new MemoryStore({ now: () => now });
  const instances = [new Metrics(), new Metrics(), new Metrics()];
  let expected = 0;
  let expectedMs = 0;
  const record = (round: number) => {
    instances.forEach((m, i) => {
      for (let n = 0; n < 10 + i + round; n++) {
        m.increment('optimizer.operations');
        // Fractional amounts: the old HINCRBY flush failed on these and was resent.
        m.increment('cache.origin.saved.ms', 1.25);
        m.observe('optimizer.origin.ms', 3.3);
        expected++;
        expectedMs += 1.25;
      }
    });
  };
  record(0);
  for (const m of instances) await m.flushTo(store, { now: () => now });
  record(1);
  // Instance 0: applied, answer lost. Instance 1: half applied. Instance 2: nothing applied.
  await assert.rejects(instances[0].flushTo(failingAfter(store), { now: () => now }));
  await assert.rejects(instances[1].flushTo(failingAfter(store, 1), { now: () => now }));
  await assert.rejects(instances[2].flushTo(failingAfter(store, 0), { now: () => now }));
  for (const m of instances) assert.equal(m.hasPending, true);
  now += 60_000; // retried in the next minute: the old bucket is rewritten, not added again
  record(2);
  for (const m of instances) await m.flushTo(store, { now: () => now });
  for (const m of instances) await m.flushTo(store, { now: () => now }); // nothing new
  const shared = await readSharedMetrics(store, { now: () => now });
  assert.equal(shared.counters['optimizer.operations'], expected);
  assert.equal(shared.counters['cache.origin.saved.ms'], expectedMs);
  assert.equal(shared.histograms['optimizer.origin.ms'].count, expected);
  assert.equal(shared.histograms['optimizer.origin.ms'].min, 3.3);
  assert.equal(shared.histograms['optimizer.origin.ms'].max, 3.3);
  for (const m of instances) assert.equal(m.hasPending, false);
});

Deno.test('metrics: a flush sends one pipeline of idempotent commands, no HINCRBY', async () => {
  const store = new MemoryStore();
  const sent: unknown[][] = [];
  const spy = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop !== 'pipeline') return Reflect.get(target, prop, receiver);
      return (commands: Parameters<KeyValueStore['pipeline']>[0]) => {
        sent.push(commands);
        return target.pipeline(commands);
      };
    },
  });
  const m = new Metrics();
  m.increment('cache.origin.saved.ms', 0.5);
  m.observe('x.ms', 1);
  await m.flushTo(spy);
  assert.equal(sent.length, 1);
  const ops = (sent[0] as { op: string }[]).map((c) => c.op);
  assert.deepEqual(ops, ['set', 'sadd', 'pexpire']);
});

Deno.test('metrics: concurrent flushes of one instance never lose a write', async () => {
  const store = new MemoryStore();
  const m = new Metrics();
  const flushes: Promise<void>[] = [];
  for (let i = 0; i < 20; i++) {
    m.increment('n');
    flushes.push(m.flushTo(store));
  }
  await Promise.all(flushes);
  assert.equal((await readSharedMetrics(store)).counters.n, 20);
});
