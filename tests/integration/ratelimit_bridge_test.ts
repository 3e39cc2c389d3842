import assert from 'node:assert/strict';
import { Ratelimit } from '@upstash/ratelimit';
import { Redis } from '@upstash/redis';
import { UpstashStore } from '../../shared/store/upstash.ts';
import { upstashBridge } from '../support/services.ts';

const run = crypto.randomUUID().slice(0, 8);

/** One isolate's client and limiter, created as a function would create them at start. */
function isolate(limiter: ConstructorParameters<typeof Ratelimit>[0]['limiter'], prefix: string) {
  const { url, token } = upstashBridge();
  const redis = new Redis({ url, token, enableTelemetry: false, retry: false });
  // No ephemeral cache: every decision must come from Redis, so isolates can only agree
  // through the shared window.
  const ratelimit = new Ratelimit({
    redis,
    limiter,
    prefix,
    analytics: false,
    ephemeralCache: false,
  });
  return { redis, ratelimit };
}

async function limit(ratelimit: Ratelimit, id: string) {
  const result = await ratelimit.limit(id);
  await result.pending;
  return result;
}

async function cleanup(redis: Redis, prefix: string) {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, { match: `${prefix}*`, count: 100 });
    cursor = String(next);
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}

const algorithms = {
  slidingWindow: () => Ratelimit.slidingWindow(3, '30 s'),
  fixedWindow: () => Ratelimit.fixedWindow(3, '30 s'),
  tokenBucket: () => Ratelimit.tokenBucket(1, '30 s', 3),
};

for (const [name, make] of Object.entries(algorithms)) {
  Deno.test(`ratelimit via the bridge: ${name} allows 3, denies the 4th`, async () => {
    const prefix = `qf-rl:${run}:${name}:one`;
    const { redis, ratelimit } = isolate(make(), prefix);
    try {
      const before = Date.now();
      const results = [];
      for (let i = 0; i < 4; i++) results.push(await limit(ratelimit, 'user-1'));
      assert.deepEqual(results.map((r) => r.success), [true, true, true, false]);
      assert.deepEqual(results.map((r) => r.limit), [3, 3, 3, 3]);
      assert.deepEqual(results.map((r) => r.remaining), [2, 1, 0, 0]);
      for (const r of results) {
        assert.ok(
          r.reset > before && r.reset <= before + 31_000,
          `reset ${r.reset} within the window`,
        );
      }
      // Another identifier has its own budget.
      assert.equal((await limit(ratelimit, 'user-2')).success, true);
      // getRemaining reads the same state.
      const remaining = await ratelimit.getRemaining('user-1');
      assert.equal(remaining.remaining, 0);
      // resetUsedTokens clears it.
      await ratelimit.resetUsedTokens('user-1');
      assert.equal((await limit(ratelimit, 'user-1')).success, true);
    } finally {
      await cleanup(redis, prefix);
    }
  });

  Deno.test(`ratelimit via the bridge: ${name} window is shared by two isolates`, async () => {
    const prefix = `qf-rl:${run}:${name}:two`;
    const a = isolate(make(), prefix);
    const b = isolate(make(), prefix);
    try {
      const order = [a, b, a, b];
      const results = [];
      for (const side of order) results.push(await limit(side.ratelimit, 'shared-user'));
      assert.deepEqual(results.map((r) => r.success), [true, true, true, false]);
      assert.deepEqual(results.map((r) => r.remaining), [2, 1, 0, 0]);
      // Concurrent calls from both isolates never exceed the limit together.
      const concurrent = await Promise.all(
        [a, b, a, b, a, b].map((side) => limit(side.ratelimit, 'burst-user')),
      );
      assert.equal(concurrent.filter((r) => r.success).length, 3);
    } finally {
      await cleanup(a.redis, prefix);
    }
  });
}

Deno.test('ratelimit via the bridge: shares UpstashStore.redis (no deserialization)', async () => {
  const prefix = `qf-rl:${run}:store-client`;
  const { url, token } = upstashBridge();
  const store = new UpstashStore({ url, token, timeoutMs: 5_000 });
  const ratelimit = new Ratelimit({
    redis: store.redis,
    limiter: Ratelimit.slidingWindow(2, '30 s'),
    prefix,
    analytics: false,
    ephemeralCache: false,
  });
  try {
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await limit(ratelimit, 'user'));
    assert.deepEqual(results.map((r) => [r.success, r.remaining]), [[true, 1], [true, 0], [
      false,
      0,
    ]]);
  } finally {
    await cleanup(store.redis, prefix);
  }
});
