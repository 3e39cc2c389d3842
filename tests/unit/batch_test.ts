import assert from 'node:assert/strict';
import { Metrics } from '../../shared/optimizer/metrics.ts';
import { BatchLoader, Deduplicator } from '../../shared/optimizer/resilience/mod.ts';

Deno.test('batch: loads of one tick become one call; duplicates loaded once', async () => {
  const metrics = new Metrics();
  const calls: number[][] = [];
  const loader = new BatchLoader<number, string>((ids) => {
    calls.push([...ids]);
    return Promise.resolve(ids.map((id) => `robot ${id}`));
  }, { metrics });
  const values = await Promise.all([
    loader.load(1),
    loader.load(2),
    loader.load(1),
    loader.load(3),
  ]);
  assert.deepEqual(values, ['robot 1', 'robot 2', 'robot 1', 'robot 3']);
  assert.deepEqual(calls, [[1, 2, 3]]);
  assert.equal(await loader.load(2), 'robot 2'); // memoized for the request
  assert.equal(calls.length, 1);
  assert.equal(metrics.counter('batch.calls'), 1);
  assert.equal(metrics.counter('batch.loads'), 5);
  assert.equal(metrics.counter('batch.deduplicated'), 2);
});

Deno.test('batch: bounded batch size; Map answers; missing ids and errors per id', async () => {
  const calls: number[][] = [];
  const loader = new BatchLoader<number, { id: number }>((ids) => {
    calls.push([...ids]);
    return Promise.resolve(new Map(ids.filter((id) => id !== 4).map((id) => [id, { id }])));
  }, { maxBatchSize: 2, metrics: new Metrics() });
  const results = await loader.loadMany([1, 2, 3, 4, 5]);
  assert.deepEqual(calls, [[1, 2], [3, 4], [5]]);
  assert.deepEqual(results[0], { id: 1 });
  assert.ok(results[3] instanceof Error && /no value for id 4/.test(results[3].message));

  const failing = new BatchLoader<number, number>(
    (ids) => Promise.resolve(ids.map((id) => (id === 2 ? new Error('bad id') : id * 10))),
    { metrics: new Metrics() },
  );
  assert.deepEqual(await failing.loadMany([1, 2]), [10, new Error('bad id')]);
  // A failed id is not memoized: asking again calls the batch function again.
  let again = 0;
  const flaky = new BatchLoader<number, number>((ids) => {
    again++;
    return again === 1 ? Promise.reject(new Error('down')) : Promise.resolve([...ids]);
  }, { metrics: new Metrics() });
  await assert.rejects(flaky.load(7), /down/);
  assert.equal(await flaky.load(7), 7);
});

Deno.test('batch: a wrong answer length is reported with what was received', async () => {
  const loader = new BatchLoader<number, number>(() => Promise.resolve([1]), {
    metrics: new Metrics(),
    name: 'robots',
  });
  await assert.rejects(
    Promise.all([loader.load(1), loader.load(2)]),
    /robots: the batch function must answer one value per id \(2\) or a Map: received 1 values/,
  );
});

Deno.test('batch: loaders are per request: two scopes never share values', async () => {
  const rows: Record<string, Record<number, string>> = {
    alice: { 1: 'alice-1' },
    bob: { 1: 'bob-1' },
  };
  const loaderFor = (user: string) =>
    new BatchLoader<number, string>(
      (ids) => Promise.resolve(ids.map((id) => rows[user][id])),
      { metrics: new Metrics() },
    );
  const [a, b] = await Promise.all([loaderFor('alice').load(1), loaderFor('bob').load(1)]);
  assert.deepEqual([a, b], ['alice-1', 'bob-1']);
});

Deno.test('dedup: identical in-flight calls share one execution and are counted', async () => {
  const metrics = new Metrics();
  const dedup = new Deduplicator({ metrics });
  let runs = 0;
  const op = () => new Promise<number>((r) => setTimeout(() => r(++runs), 1));
  const results = await Promise.all([dedup.run('k', op), dedup.run('k', op), dedup.run('j', op)]);
  assert.deepEqual(results.sort(), [1, 1, 2]);
  assert.equal(runs, 2);
  assert.equal(metrics.counter('dedup.calls'), 3);
  assert.equal(metrics.counter('dedup.joined'), 1);
  assert.equal(dedup.size, 0);
  await dedup.run('k', op); // not in flight any more: runs again
  assert.equal(runs, 3);
});
