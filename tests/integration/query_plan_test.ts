/**
 * The query-plan optimizer against a real PostgreSQL 15 (its own database on the test server,
 * migrations applied by the Supabase CLI, 200,000 generated robots) and against PGlite.
 *
 * Run alone: TEST_DATABASE_URL=postgres://... deno test -A tests/integration/query_plan_test.ts
 */
import assert from 'node:assert/strict';
import postgres from 'postgres';
import { PGlite } from '@electric-sql/pglite';
import { databaseUrl } from '../support/services.ts';
import { applyMigrations } from '../../scripts/services/postgres.ts';
import { createPostgresDatabase } from '../../shared/db/postgres.ts';
import { SERVICE_CALLER, userCaller } from '../../shared/db/caller.ts';
import { RobotsRepository } from '../../shared/db/robots/repository.ts';
import type { Database, JwtClaims, SqlExecutor } from '../../shared/db/types.ts';
import { Metrics } from '../../shared/optimizer/metrics.ts';
import {
  type QueryFn,
  QueryPlanOptimizer,
  summarizePlan,
} from '../../shared/optimizer/query-plan/mod.ts';

const ROBOTS = 200_000;
const USERS = 1000;

interface Logged {
  text: string;
  params: readonly unknown[];
  claims?: JwtClaims;
}

/** Wraps a Database so that every statement the repository sends is recorded with its caller. */
function recording(db: Database, log: Logged[]): Database {
  const wrap = (tx: SqlExecutor, claims?: JwtClaims): SqlExecutor => ({
    query(text, params = []) {
      log.push({ text, params, claims });
      return tx.query(text, params);
    },
  });
  return {
    backend: db.backend,
    query: (text, params) => wrap(db).query(text, params),
    asUser: (claims, fn) => db.asUser(claims, (tx) => fn(wrap(tx, claims))),
    transaction: (fn) => db.transaction((tx) => fn(wrap(tx))),
    ping: (timeoutMs) => db.ping(timeoutMs),
    close: () => db.close(),
  };
}

/** A query function that runs as the given caller, as the repository did. */
function queryAs(db: Database, claims?: JwtClaims): QueryFn {
  return claims
    ? (text, params = []) => db.asUser(claims, (tx) => tx.query(text, params))
    : (text, params = []) => db.query(text, params);
}

Deno.test({
  name: 'query plans on PostgreSQL 15 with 200,000 robots',
  sanitizeResources: true,
  sanitizeOps: true,
}, async (t) => {
  const serverUrl = databaseUrl();
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  const name = `qf_query_plan_${crypto.randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  await admin.unsafe(`create database ${name}`);
  const sql = postgres(url.toString(), { max: 2, onnotice: () => {} });
  const db = createPostgresDatabase(url.toString(), { maxConnections: 3 });
  try {
    await applyMigrations(url.toString());
    // One INSERT ... SELECT generate_series (the migrations' generator), then statistics and
    // the visibility map, as autovacuum would leave them.
    await sql.unsafe(`select public.generate_demo_robots(${ROBOTS}, ${USERS})`);
    await sql.unsafe('vacuum analyze public.robots');
    await sql.unsafe('create extension if not exists pg_stat_statements');

    await t.step('every query the robots repository issues uses an index', async () => {
      const log: Logged[] = [];
      const robots = new RobotsRepository(recording(db, log));
      const [{ owner }] = await sql.unsafe('select public.demo_user_id(7)::text as owner');
      const [{ strategy }] = await sql.unsafe(
        "insert into public.strategies (user_id, name, strategy_type) values ($1, 'Plan test', 'grid') returning id::text as strategy",
        [owner],
      );
      const user = userCaller({ sub: owner, role: 'authenticated' });
      const anon = userCaller({ role: 'anon' });

      // Listings: every filter the API offers, first and next pages, estimated and exact totals.
      const first = await robots.list(user, { limit: 20 });
      await robots.list(user, { limit: 20, cursor: first.nextCursor });
      const mine = await robots.list(user, { filters: { ownerId: owner }, limit: 20 });
      await robots.list(user, {
        filters: { ownerId: owner },
        cursor: mine.nextCursor,
        total: 'exact',
      });
      const pub = await robots.list(anon, { filters: { isPublic: true }, limit: 50 });
      await robots.list(anon, { filters: { isPublic: true }, cursor: pub.nextCursor });
      await robots.list(user, { filters: { strategyType: 'scalping' }, limit: 20 });
      await robots.list(SERVICE_CALLER, {
        filters: { strategyType: 'grid', createdAfter: new Date(Date.now() - 3_600_000) },
      });
      await robots.list(SERVICE_CALLER, {
        filters: { createdBefore: new Date(Date.now() - 86_400_000) },
        limit: 100,
      });
      if (strategy) {
        await robots.list(SERVICE_CALLER, { filters: { strategyId: strategy }, total: 'exact' });
      }
      // Search (trigram), lookups, writes by id.
      await robots.search(user, { query: 'falcon' });
      await robots.search(anon, { query: 'quantum xauusd' });
      await robots.search(user, { query: 'hunter 4242', fuzzy: true });
      await robots.search(SERVICE_CALLER, { query: 'falcon' });
      await robots.search(SERVICE_CALLER, { query: 'falcn', fuzzy: true });
      await robots.search(SERVICE_CALLER, { query: 'Breaker 1234' });
      const ids = first.items.map((robot) => String(robot.id));
      await robots.getById(user, ids[0]);
      await robots.getByIds(user, ids);
      const created = await robots.create(user, {
        name: 'Plan test robot',
        strategy_type: 'breakout',
      });
      await robots.update(user, String(created.id), { description: 'updated' });
      await robots.delete(user, String(created.id));

      // What ran (EXPLAINs the repository itself issues for estimated totals never execute).
      const statements = log.filter((s) =>
        /\bpublic\.robots\b/.test(s.text) && !/^\s*explain\b/i.test(s.text)
      );
      assert.ok(
        statements.length >= 15,
        `expected the repository's statements: ${statements.length}`,
      );
      const failures: string[] = [];
      for (const statement of statements) {
        const optimizer = new QueryPlanOptimizer({
          query: queryAs(db, statement.claims),
          metrics: new Metrics(),
        });
        const analysis = await optimizer.analyze(statement.text, statement.params);
        const robotScans = analysis.plan.scans.filter((s) => s.relation === 'robots');
        if (analysis.plan.seqScanRelations.includes('public.robots')) {
          failures.push(
            `${analysis.plan.nodeTypes.join(' > ')}\n  ${statement.text.replace(/\s+/g, ' ')}`,
          );
        } else if (!/^\s*insert/i.test(statement.text)) {
          assert.ok(
            robotScans.some((s) => s.kind !== 'seq'),
            `no scan of robots in ${statement.text}`,
          );
        }
      }
      assert.deepEqual(failures, [], `sequential scans on robots:\n${failures.join('\n')}`);
    });

    await t.step('search_robots runs its statement through the trigram indexes', async () => {
      // The user search's real query is dynamic SQL inside public.search_robots, invisible to
      // EXPLAIN of the call: auto_explain (nested statements, as NOTICEs) shows its plans.
      const notices: string[] = [];
      const traced = createPostgresDatabase(url.toString(), {
        maxConnections: 1,
        onNotice: (notice) => notices.push(notice.message ?? ''),
      });
      try {
        for (
          const statement of [
            "load 'auto_explain'",
            'set auto_explain.log_min_duration = 0',
            'set auto_explain.log_nested_statements = on',
            "set auto_explain.log_format = 'json'",
            "set auto_explain.log_level = 'notice'",
          ]
        ) await traced.query(statement);
        const robots = new RobotsRepository(traced);
        const [{ owner }] = await sql.unsafe('select public.demo_user_id(11)::text as owner');
        const user = userCaller({ sub: owner, role: 'authenticated' });
        const searches = [
          { query: 'falcon' },
          { query: 'hunter 4242' },
          { query: 'hunter 4242', fuzzy: true },
          { query: 'scalper', filters: { ownerId: owner } },
          { query: 'gold', filters: { isPublic: true, strategyType: 'grid' } },
        ];
        const seqScans: string[] = [];
        for (const search of searches) {
          notices.length = 0;
          await robots.search(user, search);
          const inner = notices
            .map((message) => JSON.parse(message.slice(message.indexOf('{'))))
            .filter((plan) => /from public\.robots r/.test(String(plan['Query Text'])));
          assert.equal(inner.length, 1, `one search statement for ${JSON.stringify(search)}`);
          const plan = summarizePlan(inner[0]);
          if (plan.seqScanRelations.includes('public.robots')) {
            seqScans.push(`${JSON.stringify(search)}: ${plan.nodeTypes.join(' > ')}`);
          }
          assert.ok(plan.usesIndex, JSON.stringify(search));
        }
        assert.deepEqual(seqScans, []);
      } finally {
        await traced.close();
      }
    });

    await t.step(
      'a filter on a column without an index gets advice; none once it exists',
      async () => {
        const query = queryAs(db);
        const optimizer = new QueryPlanOptimizer({ query, metrics: new Metrics() });
        // updated_at has no index in the migrations; about 0.5% of the rows match.
        const [{ since }] = await sql.unsafe(
          "select to_char((max(updated_at) - interval '1000 seconds') at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') as since from public.robots",
        );
        const text =
          'select t.id, t.name from public.robots t where t.updated_at >= $1::timestamptz';
        const before = await optimizer.analyze(text, [since]);
        assert.deepEqual(before.plan.seqScanRelations, ['public.robots']);
        assert.equal(before.seqScans[0].relation, 'public.robots');
        assert.ok(before.seqScans[0].relationRows >= ROBOTS * 0.9, 'rows from the statistics');
        assert.equal(before.advice.length, 1, JSON.stringify(before.skipped));
        const [advice] = before.advice;
        assert.equal(
          advice.sql,
          'create index concurrently if not exists robots_updated_at_idx on public.robots using btree (updated_at)',
        );
        assert.match(advice.sql, /on public\.robots\b.*\(updated_at\)/);
        assert.ok(advice.evidence.seqScans >= 0 && advice.evidence.scanCost > 0);
        assert.ok(advice.evidence.selectivity < 0.2);
        assert.match(advice.reason, /Seq Scan on public\.robots/);

        await sql.unsafe(advice.sql);
        const after = await optimizer.analyze(text, [since], { fresh: true });
        assert.deepEqual(after.plan.seqScanRelations, []);
        assert.ok(after.plan.scans.some((s) => s.indexName === 'robots_updated_at_idx'));
        assert.deepEqual(after.advice, []);
        assert.deepEqual(optimizer.advice(), []);
      },
    );

    await t.step('trigram and equality-then-sort advice on a table without indexes', async () => {
      await sql.unsafe(`create table public.qp_notes (
        id bigint generated always as identity primary key,
        account integer not null, body text not null, created_at timestamptz not null)`);
      await sql.unsafe(`insert into public.qp_notes (account, body, created_at)
        select g % 2000, md5(g::text) || ' note', now() - g * interval '1 second'
        from generate_series(1, 60000) as g`);
      // Statistics from every row (a sample of 300 x 1000 rows > 60,000): a sampled ANALYZE
      // made the planner's estimate for the search, and so its plan once the index exists,
      // differ from run to run (a sequential scan after 1 of 40 ANALYZEs; 0 of 40 with these).
      await sql.unsafe(`alter table public.qp_notes alter column account set statistics 1000,
        alter column body set statistics 1000, alter column created_at set statistics 1000`);
      await sql.unsafe('vacuum analyze public.qp_notes');
      const optimizer = new QueryPlanOptimizer({ query: queryAs(db), metrics: new Metrics() });
      const listing =
        'select n.id, n.body from public.qp_notes n where n.account = $1 order by n.created_at desc limit 20';
      const search = 'select n.id from public.qp_notes n where n.body ilike $1 limit 20';
      const [list, find] = await Promise.all([
        optimizer.analyze(listing, [42]),
        optimizer.analyze(search, ['%abc1%']),
      ]);
      assert.deepEqual(list.advice.map((a) => a.columns), [['account', 'created_at desc']]);
      assert.equal(find.advice[0]?.method, 'gin', JSON.stringify(find.skipped));
      assert.equal(
        find.advice[0].sql,
        'create index concurrently if not exists qp_notes_body_trgm_idx on public.qp_notes using gin (body extensions.gin_trgm_ops)',
      );
      assert.equal(optimizer.advice().length, 2);
      for (const a of optimizer.advice()) await sql.unsafe(a.sql);
      await sql.unsafe('analyze public.qp_notes');
      optimizer.clear();
      const [list2, find2] = await Promise.all([
        optimizer.analyze(listing, [42]),
        optimizer.analyze(search, ['%abc1%']),
      ]);
      assert.deepEqual(list2.plan.seqScanRelations, []);
      assert.deepEqual(find2.plan.seqScanRelations, []);
      assert.deepEqual(optimizer.advice(), []);
    });

    await t.step('count and pagination strategies flip where they should', async () => {
      const metrics = new Metrics();
      const optimizer = new QueryPlanOptimizer({ query: queryAs(db), metrics });
      const [{ owner }] = await sql.unsafe('select public.demo_user_id(3)::text as owner');
      // One owner: ~200 rows -> exact. Public robots: ~40,000 rows -> estimated.
      const own = await optimizer.planCount(
        'select t.id from public.robots t where t.user_id = $1::uuid',
        [owner],
      );
      assert.equal(own.strategy, 'exact');
      assert.equal(own.reason, 'selective-filter');
      const pub = await optimizer.planCount('select t.id from public.robots t where t.is_public');
      assert.equal(pub.strategy, 'estimated');
      assert.equal(pub.reason, 'large-result');
      assert.ok(
        Math.abs(pub.estimatedRows! - ROBOTS / 5) < ROBOTS / 50,
        `estimate ${pub.estimatedRows}`,
      );
      assert.equal(pub.improvementPercent, 100);
      assert.ok(pub.exactCost! > 100);
      // Asked for exact: exact, whatever the size.
      assert.equal(
        (await optimizer.planCount('select t.id from public.robots t where t.is_public', [], {
          exactRequested: true,
        })).strategy,
        'exact',
      );

      assert.equal(optimizer.choosePagination({ offset: 40, limit: 20 }).strategy, 'offset');
      assert.equal(optimizer.choosePagination({ offset: 50_000, limit: 20 }).strategy, 'keyset');
      // The planner agrees: offset 50,000 costs far more than the keyset page.
      const [cursor] = await sql.unsafe(
        `select created_at, id::text from public.robots order by created_at desc, id desc offset 50000 limit 1`,
      );
      const order = 'order by t.created_at desc, t.id desc limit 20';
      const compared = await optimizer.comparePlans(
        { sql: `select t.id from public.robots t ${order} offset 50000` },
        {
          sql:
            `select t.id from public.robots t where (t.created_at, t.id) < ($1::timestamptz, $2::uuid) ${order}`,
          params: [cursor.created_at, cursor.id],
        },
      );
      assert.ok(compared.afterCost < compared.beforeCost, JSON.stringify(compared));
      assert.ok(compared.improvementPercent > 90, JSON.stringify(compared));
      assert.equal(metrics.histogram('queryplan.improvement.percent')?.count, 6);
    });

    await t.step('the analysis cache answers without a second EXPLAIN', async () => {
      let explains = 0;
      const base = queryAs(db);
      const counting: QueryFn = (text, params) => {
        if (/^explain\b/i.test(text)) explains++;
        return base(text, params);
      };
      const metrics = new Metrics();
      const optimizer = new QueryPlanOptimizer({ query: counting, metrics });
      const text =
        'select t.id from public.robots t where t.strategy_type = $1 order by t.created_at desc, t.id desc limit 20';
      const a = await optimizer.analyze(text, ['grid']);
      const b = await optimizer.analyze(`${text.replace(/ /g, '  ')};`, ['scalping']);
      assert.equal(explains, 1);
      assert.equal(a.fromCache, false);
      assert.equal(b.fromCache, true);
      assert.deepEqual(b.plan, a.plan);
      assert.equal(metrics.counter('queryplan.analyses'), 1);
      assert.equal(metrics.counter('queryplan.analysis.cache_hit'), 1);
    });

    await t.step('pg_stat_statements calls and mean time join the analysis', async () => {
      const text =
        'select t.id from public.robots t where t.strategy_type = $1 and t.is_public limit 5';
      for (let i = 0; i < 3; i++) await db.query(text, ['momentum']);
      const optimizer = new QueryPlanOptimizer({ query: queryAs(db), metrics: new Metrics() });
      const analysis = await optimizer.analyze(text, ['momentum']);
      assert.ok(analysis.plan.queryId, 'EXPLAIN VERBOSE prints the query identifier');
      assert.ok((analysis.statement?.calls ?? 0) >= 3, JSON.stringify(analysis.statement));
      assert.ok((analysis.statement?.meanTimeMs ?? -1) >= 0);
    });

    await t.step('EXPLAIN ANALYZE measures on request', async () => {
      const optimizer = new QueryPlanOptimizer({ query: queryAs(db), metrics: new Metrics() });
      const analysis = await optimizer.analyze(
        'select t.id from public.robots t where t.user_id = public.demo_user_id(9) order by t.created_at desc, t.id desc limit 20',
        [],
        { analyze: true },
      );
      assert.equal(analysis.measured, true);
      assert.ok((analysis.plan.executionTimeMs ?? -1) >= 0);
      assert.equal(analysis.plan.scans[0].actualRows, 20);
    });
  } finally {
    await db.close();
    await sql.end({ timeout: 5 });
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.end({ timeout: 5 });
  }
});

Deno.test('query plans on PGlite: analyze, advice, index', async () => {
  const pg = new PGlite();
  try {
    await pg.exec(`
      create table notes (id serial primary key, account integer not null, body text not null,
        created_at timestamptz not null);
      insert into notes (account, body, created_at)
        select g % 500, md5(g::text), now() - g * interval '1 minute'
        from generate_series(1, 20000) as g;
      analyze notes;`);
    const query: QueryFn = async (text, params = []) =>
      (await pg.query(text, [...params])).rows as Record<string, unknown>[];
    const optimizer = new QueryPlanOptimizer({ query, metrics: new Metrics() });
    const text = 'select id, body from notes where account = $1 order by created_at desc limit 20';
    const before = await optimizer.analyze(text, [7]);
    assert.deepEqual(before.plan.seqScanRelations, ['public.notes']);
    assert.equal(before.tables[0].rows, 20_000);
    assert.equal(
      before.advice[0]?.sql,
      'create index concurrently if not exists notes_account_created_at_idx on public.notes using btree (account, created_at desc)',
    );
    await pg.exec(before.advice[0].sql);
    const after = await optimizer.analyze(text, [7], { fresh: true });
    assert.deepEqual(after.plan.seqScanRelations, []);
    assert.equal(after.plan.scans[0].indexName, 'notes_account_created_at_idx');
    assert.deepEqual(after.advice, []);
    assert.equal(after.statement, undefined, 'no pg_stat_statements in PGlite');
  } finally {
    await pg.close();
  }
});
