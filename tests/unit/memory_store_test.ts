import assert from 'node:assert/strict';
import { MemoryStore } from '../../shared/store/memory.ts';
import { countInWindow, storeContract } from '../support/store_contract.ts';

storeContract(
  'MemoryStore',
  () => Promise.resolve({ store: new MemoryStore(), cleanup: () => Promise.resolve() }),
);

/** A clock the test moves by hand. */
function manualClock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

Deno.test('MemoryStore: maxEntries evicts the least recently used key', async () => {
  const store = new MemoryStore({ maxEntries: 3 });
  await store.set('a', 1);
  await store.set('b', 2);
  await store.set('c', 3);
  // Reading 'a' makes 'b' the least recently used.
  assert.equal(await store.get('a'), 1);
  await store.set('d', 4);
  assert.equal(store.size, 3);
  assert.equal(await store.get('b'), null);
  assert.deepEqual(await store.mget(['a', 'c', 'd']), [1, 3, 4]);
  // Every kind of key counts toward the bound.
  await store.hincrby('h', 'f', 1);
  assert.equal(store.size, 3);
  assert.equal(await store.get('a'), null);
});

Deno.test('MemoryStore: rejects a maxEntries that is not an integer >= 1', () => {
  assert.throws(() => new MemoryStore({ maxEntries: 0 }), /'maxEntries' must be .*received 0/);
  assert.throws(() => new MemoryStore({ maxEntries: 1.5 }), /received 1.5/);
});

Deno.test('MemoryStore: TTLs follow the injected clock', async () => {
  const clock = manualClock();
  const store = new MemoryStore({ now: clock.now });
  await store.set('k', 'v', { pxMs: 1_000 });
  clock.advance(999);
  assert.equal(await store.get('k'), 'v');
  assert.equal(await store.pttl('k'), 1);
  clock.advance(1);
  assert.equal(await store.get('k'), null);
  assert.equal(await store.pttl('k'), -2);
  assert.equal(store.size, 0);
});

Deno.test('MemoryStore: pexpire and nx honour the injected clock', async () => {
  const clock = manualClock();
  const store = new MemoryStore({ now: clock.now });
  assert.equal(await store.set('lease', 'a', { nx: true, pxMs: 500 }), true);
  clock.advance(400);
  assert.equal(await store.set('lease', 'b', { nx: true, pxMs: 500 }), false);
  clock.advance(100);
  assert.equal(await store.set('lease', 'b', { nx: true, pxMs: 500 }), true);
  assert.equal(await store.pexpire('lease', 2_000), true);
  clock.advance(1_999);
  assert.equal(await store.get('lease'), 'b');
  assert.equal(await store.pexpire('lease', 0), true);
  assert.equal(await store.get('lease'), null);
});

Deno.test('MemoryStore: scripts see the injected clock', async () => {
  const clock = manualClock();
  const store = new MemoryStore({ now: clock.now });
  assert.equal(await store.runScript(countInWindow, ['w'], [1, 1_000]), 1);
  assert.equal(await store.runScript(countInWindow, ['w'], [1, 1_000]), 2);
  clock.advance(1_000);
  // The window expired: the counter starts again and gets a fresh expiry.
  assert.equal(await store.runScript(countInWindow, ['w'], [1, 1_000]), 1);
  assert.equal(await store.pttl('w'), 1_000);
});

Deno.test('MemoryStore: values read back are copies', async () => {
  const store = new MemoryStore();
  const value = { list: [1] };
  await store.set('k', value);
  value.list.push(2);
  const read = await store.get<{ list: number[] }>('k');
  assert.deepEqual(read, { list: [1] });
  read!.list.push(3);
  assert.deepEqual(await store.get('k'), { list: [1] });
});

Deno.test('MemoryStore: sadd with no members creates no key', async () => {
  const store = new MemoryStore();
  assert.equal(await store.sadd('s'), 0);
  assert.equal(store.size, 0);
  assert.equal(await store.pttl('s'), -2);
});

Deno.test('MemoryStore: flush removes every key', async () => {
  const store = new MemoryStore();
  await store.set('a', 1);
  await store.sadd('s', 'm');
  store.flush();
  assert.equal(store.size, 0);
  assert.deepEqual(await store.smembers('s'), []);
});
