/**
 * The data layer end to end, on a real PostgreSQL 15 (TEST_DATABASE_URL, migrations applied by
 * the Supabase CLI) and on PGlite: RLS through the repository, keyset pagination, field
 * whitelist, search, batch upsert chunking. Each test uses its own fresh user ids, so files and
 * tests can run in parallel on one database.
 */
import assert from 'node:assert/strict';
import {
  createPostgresDatabase,
  type Database,
  DbValidationError,
  RobotsRepository,
  SERVICE_CALLER,
  StrategiesRepository,
  userCaller,
} from '../../shared/db/mod.ts';
import { createEmbeddedDatabase } from '../../scripts/pglite.ts';
import { databaseUrl } from '../support/services.ts';

type Backend = { name: 'postgres' | 'pglite'; open: () => Promise<Database> };

const backends: Backend[] = [
  { name: 'postgres', open: () => Promise.resolve(createPostgresDatabase(databaseUrl())) },
  { name: 'pglite', open: () => createEmbeddedDatabase({ seed: false }) },
];

/** Inserts `count` robots for `userId` through the service, with controlled created_at. */
async function seedRobots(
  db: Database,
  userId: string,
  count: number,
  options: { isPublic?: (i: number) => boolean; sameTimestamp?: boolean; prefix?: string } = {},
): Promise<string[]> {
  const rows = Array.from({ length: count }, (_, i) => ({
    id: crypto.randomUUID(),
    user_id: userId,
    name: `${options.prefix ?? 'Robot'} ${i}`,
    description: `test robot ${i}`,
    strategy_type: i % 2 === 0 ? 'breakout' : 'grid',
    is_public: options.isPublic?.(i) ?? false,
    // Ties on created_at exercise the id tie-breaker of the keyset.
    created_at: options.sameTimestamp
      ? '2026-01-01T00:00:00.123456Z'
      : new Date(Date.UTC(2026, 0, 1) + Math.floor(i / 3) * 1000).toISOString(),
  }));
  await db.query(
    `insert into public.robots (id, user_id, name, description, strategy_type, is_public, created_at)
     select x.id, x.user_id, x.name, x.description, x.strategy_type, x.is_public, x.created_at
     from jsonb_to_recordset($1::text::jsonb) as x(id uuid, user_id uuid, name text, description text,
       strategy_type text, is_public boolean, created_at timestamptz)`,
    [JSON.stringify(rows)],
  );
  return rows.map((row) => row.id);
}

for (const backend of backends) {
  const test = (name: string, fn: (db: Database, robots: RobotsRepository) => Promise<void>) =>
    Deno.test(`db repository [${backend.name}]: ${name}`, async () => {
      const db = await backend.open();
      try {
        await fn(db, new RobotsRepository(db, { upsertChunkSize: 7 }));
      } finally {
        await db.close();
      }
    });

  test(
    "RLS: a user reads own and public robots, never another user's private ones",
    async (db, robots) => {
      const alice = crypto.randomUUID();
      const bob = crypto.randomUUID();
      const [alicePrivate] = await seedRobots(db, alice, 2, { isPublic: (i) => i === 1 });
      const [bobPrivate, bobPublic] = await seedRobots(db, bob, 2, { isPublic: (i) => i === 1 });
      const asAlice = userCaller({ sub: alice });

      assert.equal((await robots.getById(asAlice, alicePrivate))?.id, alicePrivate);
      assert.equal((await robots.getById(asAlice, bobPublic))?.id, bobPublic);
      assert.equal(await robots.getById(asAlice, bobPrivate), null);

      const bobsAsSeenByAlice = await robots.list(asAlice, {
        filters: { ownerId: bob },
        total: 'exact',
      });
      assert.deepEqual(bobsAsSeenByAlice.items.map((r) => r.id), [bobPublic]);
      assert.equal(bobsAsSeenByAlice.total, 1);

      const batch = await robots.getByIds(asAlice, [bobPrivate, alicePrivate, bobPublic], ['id']);
      assert.deepEqual(batch.map((r) => r?.id ?? null), [null, alicePrivate, bobPublic]);

      // Anonymous callers see only public rows.
      const anon = userCaller({ role: 'anon' });
      assert.equal(await robots.getById(anon, alicePrivate), null);
      assert.equal((await robots.getById(anon, bobPublic))?.id, bobPublic);
    },
  );

  test('RLS: a user changes only their own robots', async (db, robots) => {
    const alice = crypto.randomUUID();
    const bob = crypto.randomUUID();
    const asAlice = userCaller({ sub: alice });
    const [bobPrivate, bobPublic] = await seedRobots(db, bob, 2, { isPublic: (i) => i === 1 });

    const created = await robots.create(asAlice, { name: 'Alice EA', strategy_type: 'scalping' });
    assert.equal(created.user_id, alice, 'owner comes from the JWT');
    const updated = await robots.update(asAlice, created.id, {
      name: 'Alice EA v2',
      is_public: true,
    });
    assert.equal(updated?.name, 'Alice EA v2');
    assert.ok(updated && updated.updated_at >= created.updated_at);

    // Another user's rows: invisible to update/delete (private) or filtered by the USING clause.
    assert.equal(await robots.update(asAlice, bobPrivate, { name: 'hijack' }), null);
    assert.equal(await robots.update(asAlice, bobPublic, { name: 'hijack' }), null);
    assert.equal(await robots.delete(asAlice, bobPublic), false);
    assert.equal(await robots.delete(asAlice, bobPrivate), false);
    // Creating a robot for someone else is rejected by the insert policy.
    await assert.rejects(
      robots.create(asAlice, { name: 'Forged', strategy_type: 'grid', user_id: bob }),
      /row-level security/,
    );
    // Upserting over another user's row is rejected too (update policy).
    await assert.rejects(
      robots.upsertMany(asAlice, [{ id: bobPublic, name: 'hijack', strategy_type: 'grid' }]),
      /row-level security/,
    );
    const [check] = await db.query<{ name: string; n: number }>(
      `select (select name from public.robots where id = $1) as name,
         (select count(*)::int from public.robots where user_id = $2) as n`,
      [bobPublic, bob],
    );
    assert.equal(check.name, 'Robot 1');
    assert.equal(check.n, 2);

    assert.equal(await robots.delete(asAlice, created.id), true);
    assert.equal(await robots.getById(SERVICE_CALLER, created.id), null);
  });

  test('pagination walks every row exactly once, ties included', async (db, robots) => {
    const owner = crypto.randomUUID();
    const ids = [
      ...await seedRobots(db, owner, 23),
      ...await seedRobots(db, owner, 8, { sameTimestamp: true, prefix: 'Tied' }),
    ];
    const caller = userCaller({ sub: owner });
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Awaited<ReturnType<typeof robots.list>> = await robots.list(caller, {
        filters: { ownerId: owner },
        fields: ['id', 'created_at'],
        limit: 5,
        cursor,
        total: pages === 0 ? 'exact' : 'estimated',
      });
      // 'exact' counts; 'estimated' asks the planner, and the query-plan optimizer counts
      // exactly when the estimate is small (a selective filter: one owner's 31 robots).
      assert.equal(page.total, 31);
      assert.equal(page.totalExact, true);
      assert.equal(page.limit, 5);
      assert.ok(page.items.length <= 5);
      assert.equal(page.hasMore, page.nextCursor !== null);
      for (let i = 1; i < page.items.length; i++) {
        assert.ok(page.items[i - 1].created_at! >= page.items[i].created_at!, 'newest first');
      }
      seen.push(...page.items.map((r) => r.id!));
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    assert.equal(pages, 7);
    assert.equal(seen.length, ids.length);
    assert.deepEqual([...seen].sort(), [...ids].sort());
  });

  test('filters: public, strategy type and created range', async (db, robots) => {
    const owner = crypto.randomUUID();
    await seedRobots(db, owner, 12, { isPublic: (i) => i % 3 === 0 });
    const service = SERVICE_CALLER;
    const publicOnes = await robots.list(service, {
      filters: { ownerId: owner, isPublic: true },
      total: 'exact',
    });
    assert.equal(publicOnes.total, 4);
    assert.ok(publicOnes.items.every((r) => r.is_public === true && r.user_id === owner));
    const grids = await robots.list(service, {
      filters: { ownerId: owner, strategyType: 'grid' },
      fields: 'id,strategy_type',
    });
    assert.equal(grids.items.length, 6);
    assert.deepEqual(Object.keys(grids.items[0]).sort(), ['id', 'strategy_type']);
    assert.equal(grids.total, 6, 'a single page counts exactly');
    const ranged = await robots.list(service, {
      filters: {
        ownerId: owner,
        createdAfter: '2026-01-01T00:00:01Z',
        createdBefore: '2026-01-01T00:00:03Z',
      },
      total: 'exact',
    });
    assert.equal(ranged.total, 6); // i = 3..8 (three per second)
  });

  test(
    'field whitelist and filters reject unknown input with a typed error',
    async (_db, robots) => {
      const caller = userCaller({ sub: crypto.randomUUID() });
      await assert.rejects(
        () => robots.list(caller, { fields: ['id', 'password'] }),
        (error: unknown) =>
          error instanceof DbValidationError && error.field === 'fields' &&
          /password/.test(error.message),
      );
      await assert.rejects(
        () => robots.list(caller, { filters: { strategyType: 'lottery' } }),
        (error: unknown) =>
          error instanceof DbValidationError && error.field === 'filters.strategyType',
      );
      await assert.rejects(
        () => robots.list(caller, { limit: 101 }),
        (error: unknown) => error instanceof DbValidationError && error.field === 'limit',
      );
      await assert.rejects(
        () => robots.list(caller, { cursor: 'not-a-cursor' }),
        (error: unknown) => error instanceof DbValidationError && error.field === 'cursor',
      );
      await assert.rejects(
        () => robots.create(caller, { name: '', strategy_type: 'grid' }),
        (error: unknown) => error instanceof DbValidationError && error.field === 'robot.name',
      );
    },
  );

  test('batch upsert writes in bounded chunks and updates by id', async (db, robots) => {
    const owner = crypto.randomUUID();
    const caller = userCaller({ sub: owner });
    const inputs = Array.from({ length: 30 }, (_, i) => ({
      name: `Batch ${i}`,
      strategy_type: 'momentum' as const,
    }));
    const first = await robots.upsertMany(caller, inputs);
    assert.deepEqual({ count: first.count, chunks: first.chunks }, { count: 30, chunks: 5 });
    const second = await robots.upsertMany(
      caller,
      first.ids.slice(0, 10).map((id, i) => ({
        id,
        name: `Renamed ${i}`,
        strategy_type: 'hedging' as const,
      })),
    );
    assert.deepEqual({ count: second.count, chunks: second.chunks }, { count: 10, chunks: 2 });
    const [counts] = await db.query<{ total: number; renamed: number }>(
      `select count(*)::int as total, count(*) filter (where name like 'Renamed %')::int as renamed
       from public.robots where user_id = $1`,
      [owner],
    );
    assert.deepEqual(counts, { total: 30, renamed: 10 });
  });

  test('trigram search finds by substring and typo, scoped by RLS', async (db, robots) => {
    const owner = crypto.randomUUID();
    const other = crypto.randomUUID();
    const token = `zq${crypto.randomUUID().slice(0, 6)}`;
    await robots.upsertMany(SERVICE_CALLER, [
      { user_id: owner, name: `Falcon ${token} Scalper`, strategy_type: 'scalping' },
      {
        user_id: owner,
        name: 'Quiet grid',
        description: `uses the ${token} signal`,
        strategy_type: 'grid',
      },
      { user_id: other, name: `Hidden ${token}`, strategy_type: 'grid' },
    ]);
    const hits = await robots.search(userCaller({ sub: owner }), {
      query: token,
      fields: ['name'],
    });
    assert.deepEqual(hits.map((h) => h.name).sort(), [`Falcon ${token} Scalper`, 'Quiet grid']);
    assert.ok(hits.every((h) => h.score > 0 && h.score <= 1));
    assert.equal(hits[0].name, `Falcon ${token} Scalper`, 'name match ranks first');
    // Typos only match when fuzzy: 'Falcn' is not a substring of any name.
    const typo = `Falcn ${token}`;
    assert.deepEqual(await robots.search(userCaller({ sub: owner }), { query: typo }), []);
    const fuzzy = await robots.search(userCaller({ sub: owner }), { query: typo, fuzzy: true });
    assert.equal(fuzzy[0]?.name, `Falcon ${token} Scalper`);
    const fuzzyService = await robots.search(SERVICE_CALLER, { query: typo, fuzzy: true });
    assert.equal(fuzzyService[0]?.name, `Falcon ${token} Scalper`);
    const all = await robots.search(SERVICE_CALLER, { query: token, filters: { ownerId: other } });
    assert.equal(all.length, 1);
    void db;
  });

  test(
    'strategies: owner-scoped create and public listing; robots keep running when a strategy goes',
    async (db, robots) => {
      const strategies = new StrategiesRepository(db);
      const owner = crypto.randomUUID();
      const caller = userCaller({ sub: owner });
      const strategy = await strategies.create(caller, {
        name: 'Mine',
        strategy_type: 'breakout',
        is_public: true,
      });
      assert.equal(strategy.user_id, owner);
      const robot = await robots.create(caller, {
        name: 'Built on it',
        strategy_type: 'breakout',
        strategy_id: strategy.id,
      });
      const listed = await strategies.list(userCaller({ sub: crypto.randomUUID() }), {
        filters: { ownerId: owner },
      });
      assert.deepEqual(listed.items.map((s) => s.id), [strategy.id]);
      assert.equal(
        await strategies.delete(userCaller({ sub: crypto.randomUUID() }), strategy.id),
        false,
      );
      assert.equal(await strategies.delete(caller, strategy.id), true);
      assert.equal((await robots.getById(caller, robot.id))?.strategy_id, null);
    },
  );

  test('ping reports a live database', async (db) => {
    const ping = await db.ping();
    assert.equal(ping.ok, true);
    assert.equal(db.backend, backend.name);
  });
}
