import assert from 'node:assert/strict';
import { SingleFlight } from '../../shared/optimizer/singleflight.ts';

Deno.test('singleflight: concurrent calls with one key share one execution', async () => {
  const flights = new SingleFlight();
  let calls = 0;
  let joined = 0;
  let release!: (v: number) => void;
  const op = () => {
    calls++;
    return new Promise<number>((resolve) => release = resolve);
  };
  const all = Promise.all(Array.from({ length: 10 }, () => flights.run('k', op, () => joined++)));
  assert.equal(flights.has('k'), true);
  release(42);
  assert.deepEqual(await all, new Array(10).fill(42));
  assert.equal(calls, 1);
  assert.equal(joined, 9);
  assert.equal(flights.size, 0);
});

Deno.test('singleflight: different keys run separately; a failure reaches every joiner, then clears', async () => {
  const flights = new SingleFlight();
  let calls = 0;
  const results = await Promise.allSettled([
    flights.run('a', () => {
      calls++;
      return Promise.reject(new Error('origin down'));
    }),
    flights.run('a', () => Promise.resolve('never')),
    flights.run('b', () => {
      calls++;
      return Promise.resolve('b');
    }),
  ]);
  assert.equal(calls, 2);
  assert.equal(results[0].status, 'rejected');
  assert.equal(results[1].status, 'rejected');
  assert.deepEqual(results[2], { status: 'fulfilled', value: 'b' });
  // The failed flight is gone: the next call executes again.
  assert.equal(await flights.run('a', () => Promise.resolve('again')), 'again');
});
