/**
 * The key-value store contract: one suite of `Deno.test`s that every {@link KeyValueStore}
 * adapter must pass, so the memory store and Upstash (through the bridge, on a real
 * redis-server) behave the same.
 *
 * Every test uses keys under a fresh random prefix and deletes them at its end, so the suite can
 * share a Redis with other test files running in parallel.
 *
 * @module
 */
import assert from 'node:assert/strict';
import type { KeyValueStore, StoreCommand, StoreScript } from '../../shared/store/types.ts';
import { StoreUnavailableError } from '../../shared/store/types.ts';

/** What {@link storeContract} needs per test: a store, and how to release it. */
export interface ContractStore {
  store: KeyValueStore;
  cleanup(): Promise<void>;
}

/** Compare-and-delete: releases a lease only when the caller still owns it. */
export const releaseLease: StoreScript<number> = {
  name: 'contract-release-lease',
  lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`,
  local(data, keys, args) {
    return data.get(keys[0]) === args[0] ? data.del(keys[0]) : 0;
  },
};

/** A fixed-window counter: increments and sets the window's expiry on the first hit. */
export const countInWindow: StoreScript<number> = {
  name: 'contract-count-in-window',
  lua: `local n = redis.call('INCRBY', KEYS[1], ARGV[1])
if n == tonumber(ARGV[1]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return n`,
  local(data, keys, args) {
    const n = data.incrby(keys[0], Number(args[0]));
    if (n === Number(args[0])) data.pexpire(keys[0], Number(args[1]));
    return n;
  },
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Registers the contract's tests for one adapter. `makeStore` runs once per test.
 *
 * @example
 * ```ts
 * storeContract('MemoryStore', () =>
 *   Promise.resolve({ store: new MemoryStore(), cleanup: () => Promise.resolve() }));
 * ```
 */
export function storeContract(name: string, makeStore: () => Promise<ContractStore>): void {
  const run = crypto.randomUUID().slice(0, 8);

  const test = (
    title: string,
    fn: (store: KeyValueStore, key: (suffix: string) => string) => Promise<void>,
  ) =>
    Deno.test(`${name} contract: ${title}`, async () => {
      const { store, cleanup } = await makeStore();
      const prefix = `qf-contract:${run}:${crypto.randomUUID().slice(0, 8)}:`;
      const used = new Set<string>();
      const key = (suffix: string) => {
        used.add(prefix + suffix);
        return prefix + suffix;
      };
      try {
        await fn(store, key);
      } finally {
        try {
          if (used.size > 0) await store.del(...used);
        } finally {
          await cleanup();
        }
      }
    });

  test('get of an absent key is null', async (store, key) => {
    assert.equal(await store.get(key('absent')), null);
  });

  test('set/get round-trips JSON and keeps types', async (store, key) => {
    const cases: [string, unknown][] = [
      ['string-digits', '123'],
      ['number', 123],
      ['float', 1.5],
      ['empty-string', ''],
      ['boolean', false],
      ['array', [1, 'two', { three: 3 }]],
      ['object', { id: 'r1', tags: ['a', 'b'], nested: { ok: true, n: 0 } }],
    ];
    for (const [suffix, value] of cases) {
      assert.equal(await store.set(key(suffix), value), true);
    }
    for (const [suffix, value] of cases) {
      assert.deepEqual(await store.get(key(suffix)), value, suffix);
    }
    assert.equal(typeof await store.get(key('string-digits')), 'string');
  });

  test('non-ASCII values and keys survive (UTF-8, emoji)', async (store, key) => {
    const value = { name: 'Stratégie Ω 日本語', emoji: '🚀📈', mixed: 'a\u0000b\nc"d\\' };
    await store.set(key('ünïcødé-🔑'), value);
    assert.deepEqual(await store.get(key('ünïcødé-🔑')), value);
    await store.set(key('plain-emoji'), '😀');
    assert.equal(await store.get(key('plain-emoji')), '😀');
  });

  test('set overwrites, and an overwrite without pxMs clears the expiry', async (store, key) => {
    await store.set(key('k'), 'first', { pxMs: 60_000 });
    await store.set(key('k'), 'second');
    assert.equal(await store.get(key('k')), 'second');
    assert.equal(await store.pttl(key('k')), -1);
  });

  test('set with nx writes only when absent', async (store, key) => {
    assert.equal(await store.set(key('lease'), 'owner-a', { nx: true }), true);
    assert.equal(await store.set(key('lease'), 'owner-b', { nx: true }), false);
    assert.equal(await store.get(key('lease')), 'owner-a');
  });

  test('set with nx and pxMs sets the expiry only when it writes', async (store, key) => {
    assert.equal(await store.set(key('lease'), 'a', { nx: true, pxMs: 30_000 }), true);
    assert.equal(await store.set(key('lease'), 'b', { nx: true, pxMs: 90_000 }), false);
    const ttl = await store.pttl(key('lease'));
    assert.ok(ttl > 0 && ttl <= 30_000, `pttl ${ttl} should be in (0, 30000]`);
  });

  test('pxMs expires the key (real short TTL)', async (store, key) => {
    await store.set(key('short'), { v: 1 }, { pxMs: 50 });
    await store.set(key('long'), { v: 2 }, { pxMs: 60_000 });
    const ttl = await store.pttl(key('short'));
    assert.ok(ttl > 0 && ttl <= 50, `pttl ${ttl} should be in (0, 50]`);
    await sleep(120);
    assert.equal(await store.get(key('short')), null);
    assert.equal(await store.pttl(key('short')), -2);
    assert.deepEqual(await store.get(key('long')), { v: 2 });
    // An expired key is absent for nx too.
    assert.equal(await store.set(key('short'), 'again', { nx: true }), true);
  });

  test('pttl is -1 without expiry and -2 when absent', async (store, key) => {
    await store.set(key('k'), 1);
    assert.equal(await store.pttl(key('k')), -1);
    assert.equal(await store.pttl(key('absent')), -2);
  });

  test('pexpire sets an expiry on existing keys only', async (store, key) => {
    await store.set(key('k'), 1);
    assert.equal(await store.pexpire(key('k'), 10_000), true);
    const ttl = await store.pttl(key('k'));
    assert.ok(ttl > 0 && ttl <= 10_000, `pttl ${ttl} should be in (0, 10000]`);
    assert.equal(await store.pexpire(key('absent'), 10_000), false);
    await store.pexpire(key('k'), 40);
    await sleep(100);
    assert.equal(await store.get(key('k')), null);
  });

  test('mget returns values in order with null for absent keys', async (store, key) => {
    await store.set(key('a'), 'A');
    await store.set(key('c'), { c: 3 });
    assert.deepEqual(await store.mget([key('a'), key('b'), key('c')]), ['A', null, { c: 3 }]);
    assert.deepEqual(await store.mget([]), []);
  });

  test('del counts only the keys that existed', async (store, key) => {
    await store.set(key('a'), 1);
    await store.set(key('b'), 2);
    assert.equal(await store.del(key('a'), key('b'), key('absent')), 2);
    assert.equal(await store.get(key('a')), null);
    assert.equal(await store.del(key('a')), 0);
    assert.equal(await store.del(), 0);
  });

  test('incrby counts from zero, by 1 by default, and accepts negatives', async (store, key) => {
    assert.equal(await store.incrby(key('n')), 1);
    assert.equal(await store.incrby(key('n'), 5), 6);
    assert.equal(await store.incrby(key('n'), -10), -4);
    // A counter reads back as a JSON number.
    assert.equal(await store.get(key('n')), -4);
    // A JSON integer written by set can be incremented.
    await store.set(key('m'), 41);
    assert.equal(await store.incrby(key('m')), 42);
  });

  test('incrby keeps an existing expiry', async (store, key) => {
    await store.set(key('n'), 1, { pxMs: 30_000 });
    await store.incrby(key('n'));
    const ttl = await store.pttl(key('n'));
    assert.ok(ttl > 0 && ttl <= 30_000, `pttl ${ttl} should be in (0, 30000]`);
  });

  test('incrby on a non-integer rejects with Redis error text', async (store, key) => {
    await store.set(key('s'), 'not a number');
    await assert.rejects(store.incrby(key('s')), (error: Error) => {
      assert.ok(!(error instanceof StoreUnavailableError), 'an answer, not unavailability');
      assert.match(error.message, /not an integer/);
      return true;
    });
  });

  test('hincrby and hgetall', async (store, key) => {
    assert.deepEqual(await store.hgetall(key('h')), {});
    assert.equal(await store.hincrby(key('h'), 'hits', 1), 1);
    assert.equal(await store.hincrby(key('h'), 'hits', 2), 3);
    assert.equal(await store.hincrby(key('h'), 'misses', -1), -1);
    assert.equal(await store.hincrby(key('h'), 'ünï 😀', 7), 7);
    assert.deepEqual(await store.hgetall(key('h')), { hits: '3', misses: '-1', 'ünï 😀': '7' });
  });

  test('zincrby and zrange with rev and negative indexes', async (store, key) => {
    assert.deepEqual(await store.zrange(key('z'), 0, -1), []);
    assert.equal(await store.zincrby(key('z'), 3, 'c'), 3);
    assert.equal(await store.zincrby(key('z'), 1, 'a'), 1);
    assert.equal(await store.zincrby(key('z'), 2, 'b'), 2);
    assert.equal(await store.zincrby(key('z'), 0.5, 'a'), 1.5);
    assert.equal(await store.zincrby(key('z'), 10, 'd'), 10);
    const all = [
      { member: 'a', score: 1.5 },
      { member: 'b', score: 2 },
      { member: 'c', score: 3 },
      { member: 'd', score: 10 },
    ];
    assert.deepEqual(await store.zrange(key('z'), 0, -1), all);
    assert.deepEqual(await store.zrange(key('z'), 0, -1, { rev: true }), [...all].reverse());
    assert.deepEqual(await store.zrange(key('z'), 0, 1, { rev: true }), [all[3], all[2]]);
    assert.deepEqual(await store.zrange(key('z'), -2, -1), [all[2], all[3]]);
    assert.deepEqual(await store.zrange(key('z'), 1, -2), [all[1], all[2]]);
    assert.deepEqual(await store.zrange(key('z'), -100, 0), [all[0]]);
    assert.deepEqual(await store.zrange(key('z'), 2, 100), [all[2], all[3]]);
    assert.deepEqual(await store.zrange(key('z'), 3, 1), []);
    assert.deepEqual(await store.zrange(key('z'), 10, 20), []);
  });

  test('zrange orders equal scores by member', async (store, key) => {
    await store.zincrby(key('z'), 1, 'b');
    await store.zincrby(key('z'), 1, 'a');
    await store.zincrby(key('z'), 1, 'c');
    assert.deepEqual((await store.zrange(key('z'), 0, -1)).map((m) => m.member), ['a', 'b', 'c']);
    assert.deepEqual(
      (await store.zrange(key('z'), 0, -1, { rev: true })).map((m) => m.member),
      ['c', 'b', 'a'],
    );
  });

  test('sadd counts new members and smembers lists them', async (store, key) => {
    assert.deepEqual(await store.smembers(key('s')), []);
    assert.equal(await store.sadd(key('s'), 'a', 'b', 'a'), 2);
    assert.equal(await store.sadd(key('s'), 'b', 'c', '日本'), 2);
    assert.equal(await store.sadd(key('s')), 0);
    assert.deepEqual((await store.smembers(key('s'))).sort(), ['a', 'b', 'c', '日本'].sort());
  });

  test('pipeline runs in order and returns each result as the single command', async (
    store,
    key,
  ) => {
    const commands: StoreCommand[] = [
      { op: 'set', key: key('p'), value: { v: '123' }, options: { pxMs: 60_000 } },
      { op: 'get', key: key('p') },
      { op: 'set', key: key('p'), value: 'x', options: { nx: true } },
      { op: 'incrby', key: key('n'), by: 2 },
      { op: 'incrby', key: key('n'), by: 3 },
      { op: 'hincrby', key: key('h'), field: 'f', by: 4 },
      { op: 'hgetall', key: key('h') },
      { op: 'zincrby', key: key('z'), by: 2, member: 'm' },
      { op: 'zrange', key: key('z'), start: 0, stop: -1, options: { rev: true } },
      { op: 'sadd', key: key('s'), members: ['a', 'b'] },
      { op: 'smembers', key: key('s') },
      { op: 'pexpire', key: key('n'), ms: 60_000 },
      { op: 'pttl', key: key('absent') },
      { op: 'get', key: key('absent') },
      { op: 'del', keys: [key('n'), key('absent')] },
    ];
    const results = await store.pipeline(commands);
    assert.equal(results.length, commands.length);
    assert.deepEqual(results.slice(0, 8), [true, { v: '123' }, false, 2, 5, 4, { f: '4' }, 2]);
    assert.deepEqual(results[8], [{ member: 'm', score: 2 }]);
    assert.equal(results[9], 2);
    assert.deepEqual((results[10] as string[]).sort(), ['a', 'b']);
    assert.deepEqual(results.slice(11), [true, -2, null, 1]);
    assert.deepEqual(await store.pipeline([]), []);
  });

  test('a failing pipeline command rejects and the others still run', async (store, key) => {
    await store.sadd(key('set'), 'member');
    await assert.rejects(
      store.pipeline([
        { op: 'incrby', key: key('before'), by: 1 },
        { op: 'incrby', key: key('set'), by: 1 },
        { op: 'set', key: key('after'), value: 'written' },
      ]),
      (error: Error) => {
        assert.ok(!(error instanceof StoreUnavailableError), 'an answer, not unavailability');
        assert.match(error.message, /WRONGTYPE/);
        return true;
      },
    );
    assert.equal(await store.get(key('before')), 1);
    assert.equal(await store.get(key('after')), 'written');
  });

  test("runScript: compare-and-delete releases only the owner's lease", async (store, key) => {
    await store.set(key('lease'), 'owner-a', { pxMs: 30_000 });
    const owner = (id: string) => JSON.stringify(id);
    assert.equal(await store.runScript(releaseLease, [key('lease')], [owner('owner-b')]), 0);
    assert.equal(await store.get(key('lease')), 'owner-a');
    assert.equal(await store.runScript(releaseLease, [key('lease')], [owner('owner-a')]), 1);
    assert.equal(await store.get(key('lease')), null);
    // Runs again (EVALSHA path on Redis) on an absent key.
    assert.equal(await store.runScript(releaseLease, [key('lease')], [owner('owner-a')]), 0);
  });

  test('runScript: a window counter sets its expiry on the first hit only', async (store, key) => {
    assert.equal(await store.runScript(countInWindow, [key('w')], [1, 30_000]), 1);
    const first = await store.pttl(key('w'));
    assert.ok(first > 0 && first <= 30_000, `pttl ${first} should be in (0, 30000]`);
    await store.pexpire(key('w'), 60_000);
    assert.equal(await store.runScript(countInWindow, [key('w')], [2, 30_000]), 3);
    const later = await store.pttl(key('w'));
    assert.ok(later > 30_000, `pttl ${later} should stay above 30000 (not reset)`);
  });

  test('WRONGTYPE: commands against a key of another type reject', async (store, key) => {
    await store.set(key('str'), 'v');
    await store.hincrby(key('hash'), 'f', 1);
    const wrongType = (error: Error) => {
      assert.ok(!(error instanceof StoreUnavailableError), 'an answer, not unavailability');
      assert.match(error.message, /WRONGTYPE/);
      return true;
    };
    await assert.rejects(store.sadd(key('str'), 'm'), wrongType);
    await assert.rejects(store.hgetall(key('str')), wrongType);
    await assert.rejects(store.zincrby(key('str'), 1, 'm'), wrongType);
    await assert.rejects(store.smembers(key('hash')), wrongType);
    await assert.rejects(store.get(key('hash')), wrongType);
    await assert.rejects(store.incrby(key('hash')), wrongType);
    // The keys are untouched.
    assert.equal(await store.get(key('str')), 'v');
    assert.deepEqual(await store.hgetall(key('hash')), { f: '1' });
  });

  test('ping answers with a latency in ms', async (store) => {
    const latency = await store.ping();
    assert.equal(typeof latency, 'number');
    assert.ok(Number.isFinite(latency) && latency >= 0);
  });
}
