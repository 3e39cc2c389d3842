/**
 * List and search latency on 1 million robots with the index migration versus without it.
 *
 * Starts its own PostgreSQL 15 (`startPostgres()`) unless `--url` names a server (superuser:
 * a scratch database is created there and dropped at the end), applies the migrations with the
 * Supabase CLI, generates the robots with the migrations' `generate_demo_robots`, builds the
 * migration's indexes, and copies the rows into `robots_noindex` (same columns and primary key,
 * none of the migration's indexes). The API's own SQL (captured from `RobotsRepository` as the
 * service caller) then runs `--iterations` times on each table.
 *
 * With `QF_BENCH_DB_URL` set (bench/run.ts sets it: migrations applied, `QF_BENCH_ROBOTS` robots
 * generated with the migration's indexes), it uses that database as it is: no scratch database,
 * no generation; only `robots_noindex` is created, and dropped at the end.
 *
 * With/without are alternated per iteration. `--json=<path>` writes the `db_indexes` section
 * (bench/lib/section.ts); `--quick` means 5 iterations and, when it generates, 50,000 robots.
 *
 * ```sh
 * deno run -A bench/db_indexes.ts                      # 1,000,000 robots, 7 iterations
 * deno run -A bench/db_indexes.ts --rows 200000 --iterations 10 --url postgres://postgres:postgres@127.0.0.1:5432/postgres
 * deno run -A bench/db_indexes.ts --quick --json=/tmp/db_indexes.json
 * ```
 *
 * Not part of `npm test` (it takes a few minutes on 2 cores).
 *
 * @module
 */
import postgres from 'postgres';
import { applyMigrations, startPostgres } from '../scripts/services/postgres.ts';
import { createPostgresDatabase } from '../shared/db/postgres.ts';
import { SERVICE_CALLER } from '../shared/db/caller.ts';
import { RobotsRepository } from '../shared/db/robots/repository.ts';
import type { Database, SqlExecutor } from '../shared/db/types.ts';
import { Metrics } from '../shared/optimizer/metrics.ts';
import { QueryPlanOptimizer } from '../shared/optimizer/query-plan/mod.ts';
import { benchArgs, type BenchMetric, spread, writeSections } from './lib/section.ts';

function arg(name: string, fallback: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 && Deno.args[i + 1] ? Deno.args[i + 1] : fallback;
}

const { quick, json: JSON_PATH } = benchArgs();
const SHARED_URL = Deno.env.get('QF_BENCH_DB_URL') || '';
const ROWS = Number(
  SHARED_URL ? Deno.env.get('QF_BENCH_ROBOTS') ?? '0' : arg('rows', quick ? '50000' : '1000000'),
);
const ITERATIONS = Number(arg('iterations', quick ? '5' : '7'));
const USERS = Number(arg('users', '1000'));
const URL_ARG = arg('url', '');
if (!Number.isInteger(ROWS) || ROWS < 1000) {
  throw new Error(`--rows must be >= 1000: received ${ROWS}`);
}
if (!Number.isInteger(ITERATIONS) || ITERATIONS < 1) {
  throw new Error(`--iterations must be >= 1: received ${ITERATIONS}`);
}

interface Captured {
  text: string;
  params: readonly unknown[];
}

/** Records the statements the repository sends (the repository runs them too). */
function recording(db: Database, into: Captured[]): Database {
  const wrap = (tx: SqlExecutor): SqlExecutor => ({
    query(text, params = []) {
      into.push({ text, params });
      return tx.query(text, params);
    },
  });
  return {
    backend: db.backend,
    query: (text, params) => wrap(db).query(text, params),
    asUser: (claims, fn) => db.asUser(claims, (tx) => fn(wrap(tx))),
    transaction: (fn) => db.transaction((tx) => fn(wrap(tx))),
    ping: (timeoutMs) => db.ping(timeoutMs),
    close: () => db.close(),
  };
}

function stats(samples: number[]): { mean: number; p95: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  const p95 = sorted[Math.min(sorted.length - 1, Math.ceil(0.95 * sorted.length) - 1)];
  return { mean, p95 };
}

const fmt = (ms: number) => ms < 10 ? ms.toFixed(2) : ms.toFixed(1);
const log = (message: string) => console.error(`[db_indexes] ${message}`);

const server = URL_ARG || SHARED_URL ? undefined : await startPostgres();
const serverUrl = SHARED_URL || URL_ARG || server!.url;
const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
const dbName = SHARED_URL ? '' : `qf_bench_${crypto.randomUUID().replaceAll('-', '').slice(0, 10)}`;
const url = new URL(serverUrl);
if (!SHARED_URL) {
  url.pathname = `/${dbName}`;
  await admin.unsafe(`create database ${dbName}`);
}
const sql = postgres(url.toString(), { max: 1, prepare: false, onnotice: () => {} });
const db = createPostgresDatabase(url.toString(), { maxConnections: 2 });
try {
  const [{ version }] = await admin.unsafe('select version()');
  log(`${version}; ${navigator.hardwareConcurrency} cpus`);
  let started = performance.now();
  if (!SHARED_URL) {
    await applyMigrations(url.toString());
    log(`migrations applied in ${fmt(performance.now() - started)} ms`);

    // Build the migration's indexes after the load (a bulk build is much faster than ROWS
    // inserts into seven indexes), from their own definitions.
    const indexes = await sql.unsafe<{ name: string; definition: string }[]>(
      `select indexname as name, indexdef as definition from pg_indexes
        where schemaname = 'public' and tablename = 'robots' and indexname <> 'robots_pkey'`,
    );
    for (const index of indexes) await sql.unsafe(`drop index public.${index.name}`);
    started = performance.now();
    await sql.unsafe(`select public.generate_demo_robots(${ROWS}, ${USERS})`);
    log(`${ROWS} robots generated in ${fmt((performance.now() - started) / 1000)} s`);
    started = performance.now();
    await sql.unsafe(`set maintenance_work_mem = '256MB'`);
    for (const index of indexes) await sql.unsafe(index.definition);
    log(
      `${indexes.length} migration indexes built in ${fmt((performance.now() - started) / 1000)} s`,
    );
  }
  started = performance.now();
  await sql.unsafe('drop table if exists public.robots_noindex');
  await sql.unsafe(`create table public.robots_noindex
    (like public.robots including defaults including constraints)`);
  await sql.unsafe('insert into public.robots_noindex select * from public.robots');
  await sql.unsafe('alter table public.robots_noindex add primary key (id)');
  await sql.unsafe('vacuum analyze public.robots');
  await sql.unsafe('vacuum analyze public.robots_noindex');
  log(`copy without indexes + vacuum analyze in ${fmt((performance.now() - started) / 1000)} s`);

  // The API's queries, exactly as the repository writes them.
  const [{ owner }] = await sql.unsafe('select public.demo_user_id(42)::text as owner');
  const repo = (into: Captured[]) => new RobotsRepository(recording(db, into));
  const capture = async (run: (r: RobotsRepository) => Promise<unknown>): Promise<Captured> => {
    const into: Captured[] = [];
    await run(repo(into));
    const statement = into.find((s) => /from public\.robots t/.test(s.text));
    if (!statement) throw new Error('the repository issued no robots query');
    return statement;
  };
  const firstOwn = await repo([]).list(SERVICE_CALLER, { filters: { ownerId: owner }, limit: 20 });
  const firstAll = await repo([]).list(SERVICE_CALLER, { limit: 20 });
  const queries: [string, Captured][] = [
    [
      'list own (user_id, first page)',
      await capture((r) => r.list(SERVICE_CALLER, { filters: { ownerId: owner }, total: 'none' })),
    ],
    [
      'list own (next page, keyset)',
      await capture((r) =>
        r.list(SERVICE_CALLER, {
          filters: { ownerId: owner },
          cursor: firstOwn.nextCursor,
          total: 'none',
        })
      ),
    ],
    [
      'list public',
      await capture((r) => r.list(SERVICE_CALLER, { filters: { isPublic: true }, total: 'none' })),
    ],
    [
      'list by strategy_type',
      await capture((r) =>
        r.list(SERVICE_CALLER, { filters: { strategyType: 'scalping' }, total: 'none' })
      ),
    ],
    [
      'list all (next page, keyset)',
      await capture((r) => r.list(SERVICE_CALLER, { cursor: firstAll.nextCursor, total: 'none' })),
    ],
    [
      'search "hunter 4242"',
      await capture((r) => r.search(SERVICE_CALLER, { query: 'hunter 4242' })),
    ],
    ['search "falcon"', await capture((r) => r.search(SERVICE_CALLER, { query: 'falcon' }))],
  ];

  const optimizer = new QueryPlanOptimizer({
    query: (text, params = []) => sql.unsafe(text, params as never[]),
    metrics: new Metrics(),
  });
  const once = async (text: string, params: readonly unknown[]): Promise<number> => {
    const t0 = performance.now();
    await sql.unsafe(text, params as never[]);
    return performance.now() - t0;
  };
  /** Both statements alternated per iteration, after 2 warm-up runs each. */
  const timeBoth = async (
    a: string,
    b: string,
    params: readonly unknown[],
  ): Promise<[number[], number[]]> => {
    for (let i = 0; i < 2; i++) {
      await once(a, params);
      await once(b, params);
    }
    const samplesA: number[] = [];
    const samplesB: number[] = [];
    for (let i = 0; i < ITERATIONS; i++) {
      samplesA.push(await once(a, params));
      samplesB.push(await once(b, params));
    }
    return [samplesA, samplesB];
  };
  const planOf = async (text: string, params: readonly unknown[]) => {
    const a = await optimizer.analyze(text, params);
    return [...new Set(a.plan.scans.map((s) => s.indexName ?? s.nodeType))].join(' + ');
  };

  const lines = [
    `| query | with indexes mean / p95 (ms) | without mean / p95 (ms) | ratio (mean) | plan with | plan without |`,
    `|---|---|---|---|---|---|`,
  ];
  const ratios: number[] = [];
  const metrics: BenchMetric[] = [];
  const listingP95: number[] = [];
  for (const [label, statement] of queries) {
    const bare = statement.text.replaceAll('public.robots t', 'public.robots_noindex t');
    const [samplesWith, samplesWithout] = await timeBoth(statement.text, bare, statement.params);
    const withIdx = stats(samplesWith);
    const without = stats(samplesWithout);
    const ratio = without.mean / withIdx.mean;
    ratios.push(ratio);
    if (label.startsWith('list')) listingP95.push(withIdx.p95);
    metrics.push(
      { name: label, variant: 'with the index migration', ...spread(samplesWith), unit: 'ms' },
      { name: label, variant: 'without its indexes', ...spread(samplesWithout), unit: 'ms' },
      { name: label, variant: 'ratio of means (without / with)', median: ratio, unit: 'x' },
    );
    const line = `| ${label} | ${fmt(withIdx.mean)} / ${fmt(withIdx.p95)} | ${
      fmt(without.mean)
    } / ${fmt(without.p95)} | ${ratio.toFixed(1)}x | ${await planOf(
      statement.text,
      statement.params,
    )} | ${await planOf(
      bare,
      statement.params,
    )} |`;
    log(line);
    lines.push(line);
  }
  const geomean = Math.exp(ratios.reduce((a, r) => a + Math.log(r), 0) / ratios.length);
  console.log(
    `\n${ROWS} robots, ${USERS} users, ${ITERATIONS} iterations each (after 2 warm-up runs), ` +
      `PostgreSQL ${(await sql.unsafe('show server_version'))[0].server_version}, ` +
      `${navigator.hardwareConcurrency} cpus\n`,
  );
  console.log(lines.join('\n'));
  console.log(`\ngeometric mean of the ratios: ${geomean.toFixed(1)}x`);
  const worstListing = Math.max(...listingP95);
  const [{ server_version }] = await sql.unsafe('show server_version');
  await writeSections(JSON_PATH, {
    id: 'db_indexes',
    title: 'List and search with vs without the index migration',
    command: `DENO_NO_PACKAGE_JSON=1 ./node_modules/.bin/deno run -A bench/db_indexes.ts${
      quick ? ' --quick' : ''
    }`,
    compared: `The API's own SQL (captured from RobotsRepository as the service caller) on ` +
      `${ROWS.toLocaleString('en-US')} robots (${USERS} users), PostgreSQL ${server_version}: ` +
      `public.robots with the migration's indexes vs robots_noindex (same rows and primary key, ` +
      `none of the migration's indexes), alternated per iteration after 2 warm-up runs each; ` +
      `median and min-max of ${ITERATIONS} iterations.`,
    rounds: ITERATIONS,
    metrics: [
      ...metrics,
      { name: 'all queries', variant: 'geometric mean of the ratios', median: geomean, unit: 'x' },
    ],
    claims: [
      {
        claim: 'Listings answer under 1.5 ms p95 with the index migration (docs/query-plan.md)',
        measured: `worst listing p95 ${fmt(worstListing)} ms`,
        verdict: worstListing < 1.5 ? 'met' : 'missed',
      },
    ],
    notes: [
      'A broad search term ("falcon") ranks every match: the trigram index helps it least.',
      `The query-plan advisor, shown robots_noindex, proposes ${optimizer.advice().length} ` +
      `index(es): ${
        optimizer.advice().map((a) => a.sql.replace(/^.* on public\./, '')).join('; ')
      }.`,
    ],
  });
  // What the advisor says about the table without the migration's indexes.
  console.log('\nadvice for robots_noindex (QueryPlanOptimizer, default options):');
  for (const advice of optimizer.advice()) {
    console.log(`  ${advice.sql};\n    -- ${advice.reason}`);
  }
} finally {
  await db.close();
  await sql.end({ timeout: 5 });
  if (SHARED_URL) await admin.unsafe('drop table if exists public.robots_noindex');
  else await admin.unsafe(`drop database if exists ${dbName} with (force)`);
  await admin.end({ timeout: 5 });
  await server?.stop();
}
