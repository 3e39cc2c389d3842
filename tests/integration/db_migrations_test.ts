/**
 * The migrations on a real PostgreSQL 15 (applied by the real Supabase CLI into fresh
 * databases of the test cluster) and on PGlite: they apply from scratch, again after a reset,
 * idempotently; every public table has RLS; the cron part skips with a NOTICE where pg_net and
 * Vault are absent; the metrics functions merge, prune and stay service-only.
 */
import assert from 'node:assert/strict';
import postgres from 'postgres';
import type { Database } from '../../shared/db/mod.ts';
import { createEmbeddedDatabase } from '../../scripts/pglite.ts';
import { applyMigrations, migrationFiles } from '../../scripts/services/postgres.ts';
import { databaseUrl } from '../support/services.ts';

function urlFor(database: string): string {
  const url = new URL(databaseUrl());
  url.pathname = `/${database}`;
  return url.toString();
}

async function withAdmin<T>(fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(databaseUrl(), { max: 1, onnotice: () => {} });
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

async function schemaFacts(sql: postgres.Sql) {
  const tables = await sql<{ relname: string; rls: boolean; policies: number }[]>`
    select c.relname, c.relrowsecurity as rls,
      (select count(*)::int from pg_policy p where p.polrelid = c.oid) as policies
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind in ('r', 'p') order by c.relname`;
  const versions = await sql<{ version: string }[]>`
    select version from supabase_migrations.schema_migrations order by version`;
  return { tables, versions: versions.map((v) => v.version) };
}

const EXPECTED_TABLES = [
  'cache_invalidation_outbox',
  'optimization_alerts',
  'optimization_metrics',
  'optimization_runs',
  'robots',
  'strategies',
];

Deno.test('migrations [postgres]: Supabase CLI applies them from scratch, idempotently, and again after a reset', async () => {
  const database = `qf_migrations_${crypto.randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const expected = (await migrationFiles()).map((m) => m.version);
  await withAdmin((sql) => sql.unsafe(`create database ${database}`));
  try {
    for (const round of ['fresh', 'again', 'after reset']) {
      if (round === 'after reset') {
        await withAdmin(async (sql) => {
          await sql.unsafe(`drop database ${database} with (force)`);
          await sql.unsafe(`create database ${database}`);
        });
      }
      const applied = await applyMigrations(urlFor(database));
      assert.deepEqual(applied, expected, round);
      const sql = postgres(urlFor(database), { max: 1, onnotice: () => {} });
      try {
        const facts = await schemaFacts(sql);
        assert.deepEqual(facts.versions, expected, `${round}: every version recorded`);
        assert.deepEqual(facts.tables.map((t) => t.relname), EXPECTED_TABLES, round);
        for (const table of facts.tables) {
          assert.equal(table.rls, true, `${round}: RLS on ${table.relname}`);
          assert.ok(table.policies >= 4, `${round}: ${table.relname} has per-operation policies`);
        }
      } finally {
        await sql.end({ timeout: 5 });
      }
    }
  } finally {
    await withAdmin((sql) => sql.unsafe(`drop database if exists ${database} with (force)`));
  }
});

Deno.test('migrations [postgres]: every public table of the test database has RLS enabled', async () => {
  await withAdmin(async (sql) => {
    const rows = await sql<{ relname: string }[]>`
      select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relrowsecurity`;
    assert.deepEqual(rows.map((r) => r.relname), []);
  });
});

Deno.test('migrations [postgres]: cron scheduling skips with a NOTICE where pg_net and Vault are absent', async () => {
  const notices: string[] = [];
  const sql = postgres(databaseUrl(), { max: 1, onnotice: (n) => notices.push(String(n.message)) });
  try {
    const [{ available }] = await sql<{ available: boolean }[]>`
      select exists (select 1 from pg_available_extensions where name = 'pg_net') as available`;
    assert.equal(available, false, 'this machine has no pg_net: the skip path is what runs here');
    const result = await sql<{ schedule_optimizer_jobs: string }[]>`
      select * from public.schedule_optimizer_jobs()`;
    assert.match(result[0].schedule_optimizer_jobs, /^skipped: missing .*pg_net/);
    assert.ok(notices.some((n) => /optimizer cron jobs not scheduled/.test(n)), notices.join('\n'));
    // The migration itself re-runs (create or replace + guarded do block) and notices the skip.
    notices.length = 0;
    const files = await migrationFiles();
    const schedules = files.find((f) => f.file.endsWith('_optimizer_schedules.sql'));
    assert.ok(schedules);
    // In a transaction that is rolled back: nothing changes for tests running in parallel.
    await sql.begin(async (tx) => {
      await tx.unsafe(
        await Deno.readTextFile(
          new URL(`../../supabase/migrations/${schedules.file}`, import.meta.url),
        ),
      );
      throw new Error('rollback');
    }).catch((error) => assert.equal(error.message, 'rollback'));
    assert.ok(notices.some((n) => /optimizer cron jobs skipped/.test(n)), notices.join('\n'));
    const [{ faked }] = await sql<{ faked: boolean }[]>`
      select exists (select 1 from pg_extension where extname = 'pg_net')
        or to_regnamespace('net') is not null as faked`;
    assert.equal(faked, false, 'pg_net is never faked');
  } finally {
    await sql.end({ timeout: 5 });
  }
});

async function metricsChecks(db: Database, scope: string): Promise<void> {
  const bucket = '2020-01-01T00:00:00Z';
  const histogram = Array.from({ length: 18 }, (_, i) => (i === 4 ? 2 : 0));
  for (const [count, sum, min, max] of [[2, 3, 1, 2], [3, 30, 5, 20]]) {
    await db.query(
      `select public.record_optimization_metric('latency_ms', $1, $2::text::timestamptz, $3, $4, $5, $6, $7::text::bigint[])`,
      [scope, bucket, count, sum, min, max, `{${histogram.join(',')}}`],
    );
  }
  const [row] = await db.query<Record<string, unknown>>(
    `select count::int, sum::float8, min::float8, max::float8, histogram::text as histogram
     from public.optimization_metrics where metric = 'latency_ms' and scope = $1`,
    [scope],
  );
  assert.deepEqual(
    { ...row },
    { count: 5, sum: 33, min: 1, max: 20, histogram: `{${histogram.map((v) => v * 2).join(',')}}` },
  );
  // Users cannot see service tables, whatever RLS they have.
  await assert.rejects(
    db.asUser(
      { sub: crypto.randomUUID() },
      (tx) => tx.query('select 1 from public.optimization_metrics'),
    ),
    /permission denied/,
  );
  const [pruned] = await db.query<{ n: number }>(
    `select public.prune_optimization_metrics(interval '1 day')::int as n`,
  );
  assert.ok(pruned.n >= 1);
  const left = await db.query(`select 1 from public.optimization_metrics where scope = $1`, [
    scope,
  ]);
  assert.equal(left.length, 0);
  await assert.rejects(
    db.query(`select public.prune_optimization_metrics(interval '-1 day')`),
    /non-negative/,
  );
}

Deno.test('metrics functions [postgres]: merge buckets, prune, service-only', async () => {
  const { createPostgresDatabase } = await import('../../shared/db/mod.ts');
  const db = createPostgresDatabase(databaseUrl());
  try {
    await metricsChecks(db, `test-${crypto.randomUUID()}`);
  } finally {
    await db.close();
  }
});

Deno.test('migrations [pglite]: bootstrap + migrations + seed apply; RLS everywhere; cron skipped; metrics work', async () => {
  const db = await createEmbeddedDatabase();
  try {
    const tables = await db.query<{ relname: string; rls: boolean }>(
      `select c.relname, c.relrowsecurity as rls from pg_class c
       join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = 'public' and c.relkind in ('r', 'p') order by c.relname`,
    );
    assert.deepEqual(tables.map((t) => t.relname), EXPECTED_TABLES);
    assert.ok(tables.every((t) => t.rls));
    const [{ n }] = await db.query<{ n: number }>('select count(*)::int as n from public.robots');
    assert.equal(n, 7, 'seed applied');
    const [skip] = await db.query<{ schedule_optimizer_jobs: string }>(
      'select * from public.schedule_optimizer_jobs()',
    );
    assert.match(skip.schedule_optimizer_jobs, /^skipped: missing pg_cron, pg_net/);
    await metricsChecks(db, 'pglite');
  } finally {
    await db.close();
  }
});
