/**
 * Invalidation under store faults and races, on a real redis-server through the Upstash REST
 * bridge and a real PostgreSQL 15 (issue 8, findings 2 and 10).
 *
 * The fault tests start their own redis-server and bridge (they pause and kill it); the race test
 * shares the runner's. Readers are `PredictiveCache`s on a test clock sharing the store (other
 * isolates); the writer is an `AdvancedBackendOptimizer` (the facade the HTTP layer calls).
 * Nothing asserts durations: waits are for events (an outbox row deleted), bounded only to
 * fail instead of hanging.
 */
import assert from 'node:assert/strict';
import { startRedisBridge } from '../../scripts/redis-bridge.ts';
import { startRedisServer } from '../../scripts/services/redis.ts';
import { UpstashStore } from '../../shared/store/upstash.ts';
import { createPostgresDatabase } from '../../shared/db/postgres.ts';
import type { Database } from '../../shared/db/types.ts';
import { Metrics } from '../../shared/optimizer/metrics.ts';
import {
  type OptimizationConfigInput,
  parseOptimizationConfig,
} from '../../shared/optimizer/config.ts';
import { PredictiveCache } from '../../shared/optimizer/cache/mod.ts';
import { enqueueInvalidation } from '../../shared/optimizer/cache/outbox.ts';
import { AdvancedBackendOptimizer } from '../../shared/optimizer/advanced.ts';
import { settleBackground } from '../../shared/runtime/background.ts';
import { databaseUrl, upstashBridge } from '../support/services.ts';
import { Clock } from '../unit/cache_support.ts';

const STALENESS_MS = 1_000;

function cacheConfig(keyPrefix: string, extra: OptimizationConfigInput['cache'] = {}) {
  return {
    predictiveCacheTTL: 600_000, // entries would live for minutes: only invalidation removes them
    enableAdaptiveThrottling: false,
    cache: {
      keyPrefix,
      storeTimeoutMs: 400,
      storeRetryAfterMs: 100,
      popularityFlushMs: 60_000,
      memoryStalenessMs: STALENESS_MS,
      leasePollMs: 10,
      leaseWaitMs: 300,
      invalidationRetryMs: 50,
      ...extra,
    },
  } satisfies OptimizationConfigInput;
}

function reader(store: UpstashStore, clock: Clock, keyPrefix: string, id: string) {
  const metrics = new Metrics();
  const cache = new PredictiveCache({
    store,
    metrics,
    now: clock.now,
    instanceId: id,
    config: parseOptimizationConfig(cacheConfig(keyPrefix)),
  });
  return { cache, metrics };
}

function writer(store: UpstashStore, keyPrefix: string): AdvancedBackendOptimizer {
  return new AdvancedBackendOptimizer({
    store,
    metrics: new Metrics(),
    metricsFlushIntervalMs: 0,
    config: cacheConfig(keyPrefix),
  });
}

async function outboxRowExists(db: Database, id: string): Promise<boolean> {
  const rows = await db.query('select 1 from public.cache_invalidation_outbox where id = $1', [id]);
  return rows.length > 0;
}

/** Waits for an event, polling; fails (never hangs) after `limitMs`. Not a timing assert. */
async function eventually(what: string, check: () => Promise<boolean>, limitMs = 20_000) {
  const deadline = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new assert.AssertionError({ message: `never: ${what}` });
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The write of the tests: enqueue in the transaction, invalidate after commit. */
async function write(db: Database, optimizer: AdvancedBackendOptimizer, tags: string[]) {
  const outboxId = await db.transaction((tx) => enqueueInvalidation(tx, tags));
  const ok = await optimizer.invalidateTags(tags, { outboxId, db });
  return { outboxId, ok };
}

async function withFaultyRedis(
  fn: (ctx: {
    store: UpstashStore;
    redis: { pid: number; port: number; kill(): Promise<void> };
    restart(): Promise<void>;
    db: Database;
    keyPrefix: string;
  }) => Promise<void>,
) {
  let redis = await startRedisServer();
  const bridge = await startRedisBridge({ redisUrl: redis.url, token: 'outbox-token' });
  const db = createPostgresDatabase(databaseUrl(), { maxConnections: 2 });
  const store = new UpstashStore({ url: bridge.url, token: bridge.token, timeoutMs: 400 });
  try {
    await fn({
      store,
      get redis() {
        return redis;
      },
      async restart() {
        redis = await startRedisServer({ port: redis.port });
      },
      db,
      keyPrefix: `qf:outbox:${crypto.randomUUID()}:`,
    });
  } finally {
    await settleBackground();
    await bridge.close();
    await redis.stop();
    await db.close();
  }
}

const TAG = 'pub:robot:a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11';
const KEY = 'pub:robots:a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11';
const tagged = { tags: [TAG] };

Deno.test('invalidation with the store PAUSED during the write: other isolates serve the new version within memoryStalenessMs once it answers', async () => {
  await withFaultyRedis(async ({ store, redis, db, keyPrefix }) => {
    const clock = new Clock();
    let version = 'old';
    const load = () => Promise.resolve(version);
    const b = reader(store, clock, keyPrefix, 'b');
    const c = reader(store, clock, keyPrefix, 'c');
    const a = writer(store, keyPrefix);
    try {
      assert.equal((await b.cache.execute(KEY, load, undefined, tagged)).value, 'old');
      await settleBackground(); // stored in the Redis tier (minutes to live)

      Deno.kill(redis.pid, 'SIGSTOP');
      let outcome;
      try {
        version = 'new'; // the change commits with its outbox row...
        outcome = await write(db, a, [TAG]); // ...and the store does not answer the invalidation
      } finally {
        Deno.kill(redis.pid, 'SIGCONT');
      }
      assert.equal(outcome.ok, false);
      assert.equal(a.cache.pendingInvalidations, 1);
      assert.equal(await outboxRowExists(db, outcome.outboxId), true, 'durable until confirmed');
      // The writer reads its own write although the Redis tier still holds the old version.
      assert.equal(await a.executeWithPredictiveCaching(KEY, load, undefined, tagged), 'new');

      // The writer's background retry gets through and then deletes the row.
      await eventually(
        'outbox row deleted',
        async () => !(await outboxRowExists(db, outcome.outboxId)),
      );
      assert.equal(a.cache.pendingInvalidations, 0);
      // Within the staleness bound every isolate serves the new version: b re-checks its memory
      // copy, c (which never saw the key) misses the Redis tier.
      clock.advance(STALENESS_MS + 1);
      assert.equal((await b.cache.execute(KEY, load, undefined, tagged)).value, 'new');
      assert.equal((await c.cache.execute(KEY, load, undefined, tagged)).value, 'new');
    } finally {
      await a.close();
      await b.cache.close();
      await c.cache.close();
    }
  });
});

Deno.test('invalidation with the store KILLED and restarted empty during the write, with a load racing it', async () => {
  await withFaultyRedis(async ({ store, redis, restart, db, keyPrefix }) => {
    const clock = new Clock();
    let version = 'old';
    const b = reader(store, clock, keyPrefix, 'b');
    const r = reader(store, clock, keyPrefix, 'racer');
    const a = writer(store, keyPrefix);
    try {
      assert.equal(
        (await b.cache.execute(KEY, () => Promise.resolve(version), undefined, tagged)).value,
        'old',
      );
      await settleBackground();
      // Another isolate's read misses (another key spelling of the same tag) and reads the old
      // row before the write; its origin answers after Redis comes back.
      let finishRace!: () => void;
      const raceStarted = Promise.withResolvers<void>();
      const racing = r.cache.execute(
        `${KEY}:detail`,
        () => {
          const before = version;
          raceStarted.resolve();
          return new Promise<string>((resolve) => (finishRace = () => resolve(before)));
        },
        undefined,
        tagged,
      );
      await raceStarted.promise;

      await redis.kill();
      version = 'new';
      const outcome = await write(db, a, [TAG]);
      assert.equal(outcome.ok, false);
      await restart(); // empty: no generation, no tag set, no value
      finishRace(); // the racer stores the old version now: its generations read '' and still do
      assert.equal((await racing).value, 'old');

      await eventually(
        'outbox row deleted',
        async () => !(await outboxRowExists(db, outcome.outboxId)),
      );
      await settleBackground();
      clock.advance(STALENESS_MS + 1);
      const load = () => Promise.resolve(version);
      assert.equal((await b.cache.execute(KEY, load, undefined, tagged)).value, 'new');
      assert.equal((await r.cache.execute(`${KEY}:detail`, load, undefined, tagged)).value, 'new');
      const fresh = reader(store, clock, keyPrefix, 'fresh');
      assert.equal(
        (await fresh.cache.execute(`${KEY}:detail`, load, undefined, tagged)).value,
        'new',
      );
      await fresh.cache.close();
    } finally {
      await a.close();
      await b.cache.close();
      await r.cache.close();
    }
  });
});

Deno.test('invalidation whose writer isolate died: the next drainInvalidations repairs it', async () => {
  await withFaultyRedis(async ({ store, redis, db, keyPrefix }) => {
    const clock = new Clock();
    let version = 'old';
    const load = () => Promise.resolve(version);
    const b = reader(store, clock, keyPrefix, 'b');
    const a = writer(store, keyPrefix);
    let outcome;
    try {
      await b.cache.execute(KEY, load, undefined, tagged);
      await settleBackground();
      Deno.kill(redis.pid, 'SIGSTOP');
      try {
        version = 'new';
        outcome = await write(db, a, [TAG]);
        assert.equal(outcome.ok, false);
        await a.close(); // the isolate dies with its pending retry
      } finally {
        Deno.kill(redis.pid, 'SIGCONT');
      }
      // Nobody retries: the Redis tier keeps the old version (minutes to live)...
      clock.advance(STALENESS_MS + 1);
      assert.equal((await b.cache.execute(KEY, load, undefined, tagged)).value, 'old');
      assert.equal(await outboxRowExists(db, outcome.outboxId), true);

      // ...until the next cold start, warming or optimizer run drains the outbox.
      const next = writer(store, keyPrefix);
      try {
        const report = await next.drainInvalidations(db);
        assert.ok(report.drained >= 1, JSON.stringify(report));
        assert.equal(await outboxRowExists(db, outcome.outboxId), false);
      } finally {
        await next.close();
      }
      clock.advance(STALENESS_MS + 1);
      assert.equal((await b.cache.execute(KEY, load, undefined, tagged)).value, 'new');
    } finally {
      await b.cache.close();
    }
  });
});

Deno.test('outbox: enqueue validates, runs as any role inside the write, rows are service-only; prune', async () => {
  const db = createPostgresDatabase(databaseUrl(), { maxConnections: 2 });
  try {
    const claims = { sub: crypto.randomUUID(), role: 'authenticated' };
    const id = await db.asUser(
      claims,
      (tx) => enqueueInvalidation(tx, ['pub:robots', 'u=x:robots']),
    );
    assert.match(id, /^\d+$/);
    const [row] = await db.query<{ tags: string[] }>(
      'select tags from public.cache_invalidation_outbox where id = $1',
      [id],
    );
    assert.deepEqual(row.tags, ['pub:robots', 'u=x:robots']);
    // A user can neither read nor delete outbox rows.
    for (const role of ['authenticated', 'anon']) {
      await assert.rejects(
        db.asUser(
          { ...claims, role },
          (tx) => tx.query('select * from public.cache_invalidation_outbox'),
        ),
        /permission denied/,
      );
    }
    // The SQL function refuses bad input with class 22 (a 400, not a 500).
    for (const bad of ['{}', `{${'x'.repeat(513)}}`, `{${Array(65).fill('t').join(',')}}`]) {
      await assert.rejects(
        db.query('select public.enqueue_cache_invalidation($1::text[])', [bad]),
        (error: { code?: string }) => error.code === '22023',
      );
    }
    await assert.rejects(
      db.asUser(
        claims,
        (tx) =>
          tx.query('select public.prune_cache_invalidation_outbox($1::interval)', ['0 seconds']),
      ),
      /permission denied/,
    );
    // The TypeScript side checks too, before any round trip.
    await assert.rejects(
      db.transaction((tx) => enqueueInvalidation(tx, [])),
      /1 to 64 tags: received 0/,
    );
    // Rolled back with the write: no row.
    const before = await db.query<{ n: number }>(
      'select count(*)::int as n from public.cache_invalidation_outbox',
    );
    await assert.rejects(db.transaction(async (tx) => {
      await enqueueInvalidation(tx, ['pub:rolled-back']);
      throw new Error('write failed');
    }));
    const after = await db.query<{ n: number }>(
      'select count(*)::int as n from public.cache_invalidation_outbox where $1 = any(tags)',
      ['pub:rolled-back'],
    );
    assert.equal(after[0].n, 0);
    assert.ok(before[0].n >= 1);
    await db.query('delete from public.cache_invalidation_outbox where id = $1', [id]);
  } finally {
    await db.close();
  }
});

Deno.test('three isolates on one Redis: readers racing a writer never keep the old version (finding 10)', async () => {
  const { url, token } = upstashBridge();
  const store = new UpstashStore({ url, token, timeoutMs: 2_000 });
  const keyPrefix = `qf:race:${crypto.randomUUID()}:`;
  const clock = new Clock();
  const config = parseOptimizationConfig(cacheConfig(keyPrefix, { storeTimeoutMs: 2_000 }));
  const make = (id: string) => {
    const metrics = new Metrics();
    return {
      cache: new PredictiveCache({ store, metrics, now: clock.now, instanceId: id, config }),
      metrics,
    };
  };
  const [a, b, c] = [make('a'), make('b'), make('c')];
  const keys = Array.from({ length: 12 }, (_, i) => `pub:robots:page:${i}`);
  const tag = 'pub:robots';
  let version = 'v1';
  try {
    // Readers on b and c miss every key while a's write is in flight: their origin reads v1
    // and answers after the write committed and a invalidated.
    const releases: (() => void)[] = [];
    const started: Promise<void>[] = [];
    const racing = keys.flatMap((key, i) => {
      const instance = i % 2 === 0 ? b : c;
      const begun = Promise.withResolvers<void>();
      started.push(begun.promise);
      const first = instance.cache.execute(
        key,
        () => {
          const seen = version;
          begun.resolve();
          return new Promise<string>((resolve) => releases.push(() => resolve(seen)));
        },
        undefined,
        { tags: [tag] },
      );
      return [first];
    });
    await Promise.all(started);
    version = 'v2';
    assert.equal(await a.cache.invalidateTag(tag), true);
    for (const release of releases) release();
    await Promise.all(racing);
    await settleBackground();

    const refused = b.metrics.counter('cache.writeback.refused') +
      c.metrics.counter('cache.writeback.refused');
    assert.equal(refused, keys.length, 'every racing write-back refused');
    // Afterwards no isolate serves v1, from any tier, now or after the staleness bound.
    for (const step of [0, STALENESS_MS + 1]) {
      clock.advance(step);
      for (const instance of [a, b, c]) {
        for (const key of keys) {
          const r = await instance.cache.execute(key, () => Promise.resolve(version), undefined, {
            tags: [tag],
          });
          assert.equal(r.value, 'v2', `${key} on an isolate after ${step} ms`);
        }
      }
    }
  } finally {
    await settleBackground();
    for (const instance of [a, b, c]) await instance.cache.close();
  }
});
