/**
 * A read that re-checks the Redis tier while this isolate's own write-back of the entry is still
 * on its way (the race behind `strategies_listing_test.ts`'s "pre-warmed entries included"): the
 * record is absent only because the write-back has not landed, so the memory copy stands, unless
 * a generation its load read has moved since (an invalidation elsewhere).
 *
 * The write-back is held by the store until the test lets it go: no timing, the order is forced.
 */
import assert from 'node:assert/strict';
import { settleBackground } from '../../shared/runtime/background.ts';
import type { KeyValueStore, StoreScript } from '../../shared/store/types.ts';
import { Clock, makeCache, memoryStore, origin } from './cache_support.ts';

/** `inner`, with every `cache-write-back` script held until `release()`. */
function holdingWriteBacks(inner: KeyValueStore) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let held = 0;
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      if (prop !== 'runScript') return value.bind(target);
      return async (script: StoreScript<unknown>, keys: string[], args: unknown[]) => {
        if (script.name === 'cache-write-back') {
          held++;
          await released;
        }
        return await value.call(target, script, keys, args);
      };
    },
  });
  return { store, release, held: () => held };
}

const everyRead = { cache: { memoryStalenessMs: 0, popularityFlushMs: 60_000 } };

Deno.test('cache write-back: a pre-warmed entry is served while its own write-back is on its way', async () => {
  const clock = new Clock();
  const { store, release, held } = holdingWriteBacks(memoryStore(clock));
  const { cache, metrics } = makeCache(store, clock, everyRead, 'b');
  let loads = 0;
  cache.registerLoader('s:*', () => Promise.resolve(`loaded ${++loads}`));
  assert.deepEqual((await cache.prewarm(['s:1'])).warmed, ['s:1']);
  assert.equal(held(), 1, 'the write-back is held');
  clock.advance(1); // past the re-check interval (0): this read asks the Redis tier
  const op = origin('from the request');
  const read = await cache.execute('s:1', op);
  assert.deepEqual(
    { status: read.status, tier: read.tier, value: read.value },
    { status: 'prewarmed', tier: 'memory', value: 'loaded 1' },
  );
  assert.equal(op.calls, 0, 'no second origin call');
  assert.equal(metrics.counter('cache.origin.calls'), 1);
  release();
  await settleBackground();
  assert.equal(metrics.counter('cache.writeback.stored'), 1);
  clock.advance(1);
  assert.equal((await cache.execute('s:1', op)).value, 'loaded 1');
  await cache.close();
});

Deno.test('cache write-back: a miss is not loaded twice while its write-back is on its way', async () => {
  const clock = new Clock();
  const { store, release } = holdingWriteBacks(memoryStore(clock));
  const { cache } = makeCache(store, clock, everyRead, 'a');
  const op = origin('v');
  const tagged = { tags: ['t:robot'] };
  assert.equal((await cache.execute('k', op, undefined, tagged)).status, 'miss');
  clock.advance(1);
  const again = await cache.execute('k', op, undefined, tagged);
  assert.deepEqual({ status: again.status, tier: again.tier }, { status: 'hit', tier: 'memory' });
  assert.equal(op.calls, 1);
  release();
  await settleBackground();
  await cache.close();
});

Deno.test('cache write-back: an invalidation elsewhere during the write-back still drops the copy', async () => {
  const clock = new Clock();
  const { store, release } = holdingWriteBacks(memoryStore(clock));
  const a = makeCache(store, clock, everyRead, 'a');
  const b = makeCache(store, clock, everyRead, 'b');
  const tagged = { tags: ['t:robot'] };
  await a.cache.execute('k', origin('old'), undefined, tagged);
  // B invalidates the key, then the tag, while A's write-back waits: A's memory copy may predate
  // either, so A's next read goes to the origin.
  assert.equal(await b.cache.invalidate('k'), true);
  clock.advance(1);
  const byKey = await a.cache.execute('k', origin('new'), undefined, tagged);
  assert.deepEqual({ status: byKey.status, value: byKey.value }, { status: 'miss', value: 'new' });
  clock.advance(1);
  assert.equal(await b.cache.invalidateTag('t:robot'), true);
  clock.advance(1);
  const byTag = await a.cache.execute('k', origin('newer'), undefined, tagged);
  assert.deepEqual({ status: byTag.status, value: byTag.value }, {
    status: 'miss',
    value: 'newer',
  });
  release();
  await settleBackground();
  await a.cache.close();
  await b.cache.close();
});
