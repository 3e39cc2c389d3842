/**
 * Invalidation against loads in flight (issue 8, finding 10), own writes, invalidations the
 * store did not confirm (finding 2), and the store-request budget, on the memory store.
 *
 * Over 400 lines on purpose: every invalidation race (own writes, loads and reads in flight,
 * missed and retried invalidations) side by side, on one set of fixtures.
 */
import assert from 'node:assert/strict';
import { settleBackground } from '../../shared/runtime/background.ts';
import { Clock, instrumented, makeCache, memoryStore, origin } from './cache_support.ts';
import { memoryRecheckMs } from '../../shared/optimizer/cache/options.ts';

/** An origin the test finishes by hand: `release(value)` resolves the pending call. */
function gate<T>() {
  let release!: (value: T) => void;
  let started!: () => void;
  const running = new Promise<void>((resolve) => (started = resolve));
  const done = new Promise<T>((resolve) => (release = resolve));
  const fn = Object.assign(() => {
    fn.calls++;
    started();
    return done;
  }, { calls: 0 });
  return { fn, release, running };
}

const tags = { tags: ['t:robot'] };
const quiet = { cache: { popularityFlushMs: 60_000 } };

Deno.test('cache budget: 0 store requests on a memory hit, 1 on a Redis hit, 2 on a cold miss', async () => {
  const clock = new Clock();
  const store = instrumented(memoryStore(clock));
  const a = makeCache(store, clock, quiet, 'a');
  const b = makeCache(store, clock, quiet, 'b');

  let before = store.calls.length;
  await a.cache.execute('k', origin('v'), undefined, { tags: ['t1', 't2'] });
  await settleBackground();
  assert.deepEqual(store.calls.slice(before), ['runScript', 'runScript'], 'cold miss');
  assert.deepEqual(store.scripts.slice(-2), ['cache-read-entry', 'cache-write-back']);

  before = store.calls.length;
  const redisHit = await b.cache.execute('k', origin('x'), undefined, { tags: ['t1', 't2'] });
  await settleBackground();
  assert.equal(redisHit.tier, 'redis');
  assert.deepEqual(store.calls.slice(before), ['runScript'], 'Redis hit');

  before = store.calls.length;
  for (let i = 0; i < 50; i++) await b.cache.execute('k', origin('x'));
  await settleBackground();
  assert.deepEqual(store.calls.slice(before), [], 'memory hits');

  // The lease was released by the write-back script itself: a later cold miss elsewhere claims it.
  assert.equal(await store.get('qf:cache:lease:k'), null);
  await a.cache.close();
  await b.cache.close();
});

Deno.test('cache: a load that began before another isolate invalidated is not stored (finding 10)', async () => {
  const clock = new Clock();
  const store = memoryStore(clock);
  const reader = makeCache(store, clock, quiet, 'reader');
  const writer = makeCache(store, clock, quiet, 'writer');
  const third = makeCache(store, clock, quiet, 'third');

  const slow = gate<string>();
  const racing = reader.cache.execute('robot:1', slow.fn, undefined, tags);
  await slow.running; // the reader read the generations and called the origin
  assert.equal(await writer.cache.invalidateTag('t:robot'), true); // the write commits
  slow.release('old'); // the origin answers with the version it read before the write
  assert.equal((await racing).value, 'old'); // began before the write: it may see the old one
  await settleBackground();

  assert.equal(reader.metrics.counter('cache.writeback.refused'), 1);
  assert.equal(reader.metrics.counter('cache.writeback.stored'), 0);
  assert.equal(await store.get('qf:cache:v:robot:1'), null, 'not in the Redis tier');
  // Nobody serves the old version afterwards, not even the reader (its memory copy was dropped).
  for (const instance of [reader, third, writer]) {
    const r = await instance.cache.execute('robot:1', origin('new'), undefined, tags);
    assert.equal(r.value, 'new');
  }
  for (const c of [reader, writer, third]) await c.cache.close();
});

Deno.test('cache: without an invalidation the same racing load is stored (control)', async () => {
  const clock = new Clock();
  const store = memoryStore(clock);
  const reader = makeCache(store, clock, quiet, 'reader');
  const slow = gate<string>();
  const racing = reader.cache.execute('robot:1', slow.fn, undefined, tags);
  await slow.running;
  slow.release('v1');
  await racing;
  await settleBackground();
  assert.equal(reader.metrics.counter('cache.writeback.stored'), 1);
  assert.equal((await store.get<{ v: string }>('qf:cache:v:robot:1'))?.v, 'v1');
  assert.deepEqual(await store.smembers('qf:cache:tag:t:robot'), ['robot:1']);
  await reader.cache.close();
});

Deno.test('cache: a key invalidation also refuses a racing load of that key', async () => {
  const clock = new Clock();
  const store = memoryStore(clock);
  const reader = makeCache(store, clock, quiet, 'reader');
  const writer = makeCache(store, clock, quiet, 'writer');
  const slow = gate<string>();
  const racing = reader.cache.execute('k', slow.fn);
  await slow.running;
  assert.equal(await writer.cache.invalidate('k'), true);
  slow.release('old');
  await racing;
  await settleBackground();
  assert.equal(reader.metrics.counter('cache.writeback.refused'), 1);
  assert.equal((await writer.cache.execute('k', origin('new'))).value, 'new');
  await reader.cache.close();
  await writer.cache.close();
});

Deno.test('cache: an instance reads its own writes at once, even with a load in flight', async () => {
  const clock = new Clock();
  const store = memoryStore(clock);
  const { cache, metrics } = makeCache(store, clock, quiet, 'a');
  await cache.execute('robot:1', origin('v1'), undefined, tags);
  await settleBackground();

  // Memory copies go before any await: a read in the same tick as the invalidation misses.
  clock.advance(20_000); // expired: the next read loads
  const slow = gate<string>();
  const inFlight = cache.execute('robot:1', slow.fn, undefined, tags);
  await slow.running;
  const invalidated = cache.invalidateTag('t:robot');
  // A read after the invalidation does not join the load that began before it.
  const after = cache.execute('robot:1', origin('v2'), undefined, tags);
  slow.release('v1-late');
  assert.equal((await inFlight).value, 'v1-late');
  await invalidated;
  assert.equal((await after).value, 'v2');
  await settleBackground();
  assert.ok(metrics.counter('cache.load.discarded') >= 1);
  // It did not wait for the lease of its own superseded load.
  assert.equal(metrics.counter('cache.lease.superseded'), 1);
  assert.equal(metrics.counter('cache.lease.waited'), 0);
  // Neither memory nor the Redis tier holds the late old value.
  const again = await cache.execute('robot:1', origin('v3'), undefined, tags);
  assert.notEqual(again.value, 'v1-late');
  await cache.close();
});

Deno.test('cache: an invalidation the store missed stays pending, is retried, and then settles (finding 2)', async () => {
  const clock = new Clock();
  const inner = memoryStore(clock);
  const store = instrumented(inner);
  const writer = makeCache(store, clock, quiet, 'writer');
  const other = makeCache(inner, clock, quiet, 'other');
  await other.cache.execute('robot:1', origin('old'), undefined, tags);
  await settleBackground();

  store.mode = 'fail';
  let settled = 0;
  const ok = await writer.cache.invalidateTags(['t:robot'], { onInvalidated: () => settled++ });
  assert.equal(ok, false);
  assert.equal(writer.cache.pendingInvalidations, 1);
  assert.equal(writer.metrics.counter('cache.invalidate.pending'), 1);

  store.mode = 'ok'; // the store answers again
  // Own writes while pending: the writer ignores the old record still in the Redis tier.
  const own = await writer.cache.execute('robot:1', origin('new'), undefined, tags);
  assert.equal(own.value, 'new');
  assert.equal(own.tier, 'origin');

  assert.equal(await writer.cache.retryPendingInvalidations(), 0);
  await settleBackground();
  assert.equal(settled, 1);
  assert.equal(writer.cache.pendingInvalidations, 0);
  // The other isolate re-checks within memoryStalenessMs and stops serving the old version.
  clock.advance(1_001);
  assert.equal((await other.cache.execute('robot:1', origin('new'), undefined, tags)).value, 'new');
  await writer.cache.close();
  await other.cache.close();
});

Deno.test('cache: a copy re-checked just before the missed invalidation lands is served no longer than memoryStalenessMs after the store answers (finding 2 bound)', async () => {
  // Defaults: memoryStalenessMs 2000, invalidationRetryMs 250. The background retry loop runs on
  // real time, so the writer's store keeps failing until the test lands the retry by hand.
  const config = {
    cache: { popularityFlushMs: 60_000, memoryStalenessMs: 2_000, invalidationRetryMs: 250 },
  };
  const clock = new Clock();
  const inner = memoryStore(clock);
  const writerStore = instrumented(inner);
  const writer = makeCache(writerStore, clock, config, 'writer');
  const reader = makeCache(inner, clock, config, 'reader');
  try {
    assert.equal(
      (await reader.cache.execute('robot:1', origin('old'), undefined, tags)).value,
      'old',
    );
    await settleBackground();

    writerStore.mode = 'fail'; // the store is down during the write
    assert.equal(await writer.cache.invalidateTags(['t:robot']), false);

    clock.advance(2_000); // the store answers again at T
    const storeBack = clock.now();
    clock.advance(1);
    // The reader re-checks before the writer's retry got through: the old record is still there.
    const early = await reader.cache.execute('robot:1', origin('new'), undefined, tags);
    assert.equal(early.value, 'old');
    assert.equal(early.tier, 'redis');

    clock.advance(249); // T + invalidationRetryMs: the writer's retry lands
    writerStore.mode = 'ok';
    assert.equal(await writer.cache.retryPendingInvalidations(), 0);

    clock.advance(storeBack + 2_000 - clock.now()); // T + memoryStalenessMs
    const late = await reader.cache.execute('robot:1', origin('new'), undefined, tags);
    assert.equal(late.value, 'new', 'served the old version longer than memoryStalenessMs');
  } finally {
    await writer.cache.close();
    await reader.cache.close();
  }
});

Deno.test('cache: a Redis read sent while an invalidation was pending and answered after its retry confirmed does not serve the old record (own write)', async () => {
  const clock = new Clock();
  const inner = memoryStore(clock);
  let held: { release: () => void } | undefined;
  let holdNextRead = false;
  // The writer's store: `holdNextRead` runs the next read script at once but delays its answer.
  const store = instrumented(
    new Proxy(inner, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (prop !== 'runScript' || typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          const result = await value.apply(target, args);
          if (holdNextRead && (args[0] as { name: string }).name === 'cache-read-entry') {
            holdNextRead = false;
            await new Promise<void>((resolve) => (held = { release: resolve }));
          }
          return result;
        };
      },
    }),
  );
  const writer = makeCache(store, clock, quiet, 'writer');
  const other = makeCache(inner, clock, quiet, 'other');
  try {
    await other.cache.execute('robot:1', origin('old'), undefined, tags);
    await settleBackground();

    store.mode = 'fail';
    assert.equal(await writer.cache.invalidateTags(['t:robot']), false); // pending
    store.mode = 'ok';
    clock.advance(1_001); // past the store-down back-off (storeRetryAfterMs)

    holdNextRead = true;
    const reading = writer.cache.execute('robot:1', origin('new'), undefined, tags);
    for (let i = 0; i < 1_000 && held === undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    assert.ok(held, 'the read reached the store');
    // The read ran before the invalidation reached the store; its retry is confirmed first.
    assert.equal(await writer.cache.retryPendingInvalidations(), 0);
    held.release();
    assert.equal((await reading).value, 'new', 'the writer served the version before its write');
    assert.equal(
      (await writer.cache.execute('robot:1', origin('x'), undefined, tags)).value,
      'new',
    );
  } finally {
    await writer.cache.close();
    await other.cache.close();
  }
});

Deno.test("cache: a read while this isolate's invalidation is in flight does not keep the old record in memory (own write)", async () => {
  const clock = new Clock();
  const inner = memoryStore(clock);
  let release: (() => void) | undefined;
  // The writer's store: the tag invalidation script waits for `release` before it runs.
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop !== 'runScript' || typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        if ((args[0] as { name: string }).name === 'cache-invalidate-tags') {
          await new Promise<void>((resolve) => (release = resolve));
        }
        return await value.apply(target, args);
      };
    },
  });
  const writer = makeCache(store, clock, quiet, 'writer');
  const other = makeCache(inner, clock, quiet, 'other');
  try {
    await other.cache.execute('robot:1', origin('old'), undefined, tags);
    await settleBackground();

    const invalidating = writer.cache.invalidateTags(['t:robot']);
    assert.ok(release, 'the invalidation is in flight');
    // Another request on the writer's isolate reads the key before the store applied it.
    const during = await writer.cache.execute('robot:1', origin('new'), undefined, tags);
    assert.equal(during.value, 'new');
    release();
    assert.equal(await invalidating, true);
    const after = await writer.cache.execute('robot:1', origin('x'), undefined, tags);
    assert.notEqual(after.value, 'old', 'the writer served the version before its write');
  } finally {
    await writer.cache.close();
    await other.cache.close();
  }
});

Deno.test('cache: the background loop retries a pending invalidation until the store answers', async () => {
  const clock = new Clock();
  const store = instrumented(memoryStore(clock));
  const { cache, metrics } = makeCache(store, clock, {
    cache: { popularityFlushMs: 60_000, invalidationRetryMs: 5 },
  });
  store.mode = 'fail';
  const settled = Promise.withResolvers<void>();
  assert.equal(
    await cache.invalidateTags(['t'], { onInvalidated: () => settled.resolve() }),
    false,
  );
  store.mode = 'ok';
  await settled.promise; // the loop (every invalidationRetryMs) got through
  assert.equal(cache.pendingInvalidations, 0);
  assert.equal(metrics.counter('cache.invalidate.retried'), 1);
  await cache.close();
});

Deno.test('cache: no write-back when the generations could not be read before the load', async () => {
  const clock = new Clock();
  const store = instrumented(memoryStore(clock));
  const { cache } = makeCache(store, clock, quiet);
  store.mode = 'fail';
  await cache.execute('k', origin('v'), undefined, tags);
  store.mode = 'ok';
  await settleBackground();
  assert.equal(store.scripts.includes('cache-write-back'), false);
  assert.equal(await store.get('qf:cache:v:k'), null);
  await cache.close();
});

Deno.test('cache: a Redis read in flight during its own invalidation is not kept in memory', async () => {
  const clock = new Clock();
  const store = memoryStore(clock);
  const a = makeCache(store, clock, quiet, 'a');
  const b = makeCache(store, clock, quiet, 'b');
  await b.cache.execute('robot:1', origin('old'), undefined, tags);
  await settleBackground();
  // a's read reaches the store before its own invalidation does...
  const racing = a.cache.execute('robot:1', origin('x'), undefined, tags);
  const invalidated = a.cache.invalidateTag('t:robot');
  // It began before the write: it may see the old one (or, answered while the invalidation is
  // in flight, load the origin's current value).
  assert.ok(['old', 'x'].includes((await racing).value));
  assert.equal(await invalidated, true);
  // ...but the record it read does not stay in a's memory tier.
  assert.notEqual((await a.cache.execute('robot:1', origin('new'), undefined, tags)).value, 'old');
  await a.cache.close();
  await b.cache.close();
});

Deno.test('cache: a pre-warm keeps the tags the entry had, so tag invalidation still reaches it', async () => {
  const clock = new Clock();
  const store = memoryStore(clock);
  const { cache } = makeCache(store, clock, quiet);
  cache.registerLoader('robot:*', () => Promise.resolve('reloaded'));
  await cache.execute('robot:1', origin('v1'), undefined, tags);
  await settleBackground();
  clock.advance(30_000); // past every window: the pre-warm loads
  assert.deepEqual((await cache.prewarm(['robot:1'])).warmed, ['robot:1']);
  await settleBackground();
  assert.deepEqual(await store.smembers('qf:cache:tag:t:robot'), ['robot:1']);
  assert.equal(await cache.invalidateTag('t:robot'), true);
  assert.equal((await cache.execute('robot:1', origin('v2'), undefined, tags)).value, 'v2');
  await cache.close();
});

Deno.test("cache lease: a read that raced this isolate's own finished load uses its entry, not a second origin call", async () => {
  const clock = new Clock();
  const inner = memoryStore(clock);
  // Holds calls of the named scripts until released, to order the race deterministically.
  const held = new Map<string, { waiting: (() => void)[]; on: boolean }>();
  const hold = (name: string) => held.set(name, { waiting: [], on: true });
  const release = (name: string) => {
    const h = held.get(name)!;
    h.on = false;
    for (const go of h.waiting.splice(0)) go();
  };
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop !== 'runScript') return typeof value === 'function' ? value.bind(target) : value;
      return async (...args: unknown[]) => {
        const h = held.get((args[0] as { name: string }).name);
        if (h?.on) await new Promise<void>((resolve) => h.waiting.push(resolve));
        return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
      };
    },
  });
  const { cache, metrics } = makeCache(store, clock, quiet, 'a');
  const first = gate<string>();
  const p1 = cache.execute('k', first.fn, undefined, tags);
  await first.running; // the first load holds the lease
  hold('cache-read-entry');
  hold('cache-write-back');
  const second = origin('second');
  const p2 = cache.execute('k', second, undefined, tags); // misses memory; its read is held
  first.release('first');
  assert.equal((await p1).value, 'first');
  // The first load is done (entry in memory) but its write-back, which releases the lease, is
  // not: the second request's read now finds no record and the lease held by this isolate.
  release('cache-read-entry');
  const r2 = await p2;
  assert.equal(second.calls, 0, 'no second origin call for one key in one isolate');
  assert.equal(r2.value, 'first');
  assert.equal(metrics.counter('cache.lease.own_load_finished'), 1);
  release('cache-write-back');
  await settleBackground();
  await cache.close();
});

Deno.test('memoryRecheckMs: re-checks invalidationRetryMs sooner than memoryStalenessMs, keeping at least half of it', () => {
  assert.equal(memoryRecheckMs({ memoryStalenessMs: 2_000, invalidationRetryMs: 250 }), 1_750);
  assert.equal(memoryRecheckMs({ memoryStalenessMs: 1_000, invalidationRetryMs: 50 }), 950);
  assert.equal(memoryRecheckMs({ memoryStalenessMs: 1_000, invalidationRetryMs: 900 }), 500);
  assert.equal(memoryRecheckMs({ memoryStalenessMs: 0, invalidationRetryMs: 250 }), 0);
});
