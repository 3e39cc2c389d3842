import assert from 'node:assert/strict';
import { Metrics } from '../../shared/optimizer/metrics.ts';
import { type QueryFn, QueryPlanOptimizer } from '../../shared/optimizer/query-plan/mod.ts';
import { settleBackground } from '../../shared/runtime/background.ts';

/** A fake server: EXPLAIN answers a seq scan (or a fixed plan), catalog queries answer stats. */
function fakeServer(options: { rows?: number; planRows?: number; explainCost?: number } = {}) {
  const log: string[] = [];
  const query: QueryFn = (sql) => {
    log.push(sql);
    if (sql.startsWith('explain')) {
      const counting = /select count\(\*\) from/.test(sql);
      return Promise.resolve([{
        'QUERY PLAN': [{
          Plan: {
            'Node Type': counting ? 'Aggregate' : 'Seq Scan',
            'Startup Cost': 0,
            'Total Cost': counting ? 5100 : options.explainCost ?? 5000,
            'Plan Rows': counting ? 1 : options.planRows ?? 400,
            ...(counting ? {} : {
              'Relation Name': 'robots',
              Schema: 'public',
              Alias: 't',
              Filter: "(t.kind = 'grid'::text)",
            }),
            Plans: counting
              ? [{
                'Node Type': 'Seq Scan',
                'Relation Name': 'robots',
                Schema: 'public',
                Alias: 't',
                'Startup Cost': 0,
                'Total Cost': 5000,
                'Plan Rows': options.planRows ?? 400,
                Filter: "(t.kind = 'grid'::text)",
              }]
              : undefined,
          },
        }],
      }]);
    }
    if (sql.includes('pg_stat_user_tables')) {
      const rows = options.rows ?? 200_000;
      return Promise.resolve([{
        n_live_tup: String(rows),
        reltuples: rows,
        seq_scan: '7',
        seq_tup_read: '1400000',
        idx_scan: null,
      }]);
    }
    if (sql.includes('from pg_index')) return Promise.resolve([]);
    if (sql.includes('shared_preload_libraries')) return Promise.resolve([{ available: false }]);
    if (sql.includes("extname = 'pg_trgm'")) return Promise.resolve([]);
    return Promise.reject(new Error(`unexpected SQL: ${sql}`));
  };
  return { query, log, explains: () => log.filter((s) => s.startsWith('explain')).length };
}

Deno.test('analyze: reads the plan and the statistics, advises, records metrics', async () => {
  const server = fakeServer();
  const metrics = new Metrics();
  const optimizer = new QueryPlanOptimizer({ query: server.query, metrics });
  const analysis = await optimizer.analyze("select * from robots t where t.kind = 'grid'");
  assert.equal(analysis.fromCache, false);
  assert.equal(analysis.measured, false);
  assert.match(server.log[0], /^explain \(format json, verbose\) select/);
  assert.deepEqual(analysis.plan.seqScanRelations, ['public.robots']);
  assert.deepEqual(analysis.seqScans, [{
    relation: 'public.robots',
    relationRows: 200_000,
    estimatedRows: 400,
    cost: 5000,
    filter: "(t.kind = 'grid'::text)",
  }]);
  assert.equal(analysis.tables[0].seqScans, 7);
  assert.equal(analysis.tables[0].idxScans, 0);
  assert.equal(
    analysis.advice[0].sql,
    'create index concurrently if not exists robots_kind_idx on public.robots using btree (kind)',
  );
  assert.equal(metrics.counter('queryplan.analyses'), 1);
  assert.equal(metrics.counter('queryplan.seq_scans'), 1);
  assert.equal(metrics.counter('queryplan.advice'), 1);
  assert.deepEqual(optimizer.advice().map((a) => a.indexName), ['robots_kind_idx']);
});

Deno.test('analyze: cached per normalised SQL until the TTL passes', async () => {
  const server = fakeServer();
  let now = 1_000_000;
  const metrics = new Metrics();
  const optimizer = new QueryPlanOptimizer({
    query: server.query,
    metrics,
    now: () => now,
    options: { analysisCacheTtlMs: 60_000 },
  });
  await optimizer.analyze('select * from robots t where t.kind = $1', ['grid']);
  const again = await optimizer.analyze('SELECT *\n  FROM robots t WHERE t.kind = $1;', [
    'scalping',
  ]);
  assert.equal(again.fromCache, true);
  assert.equal(server.explains(), 1);
  assert.equal(metrics.counter('queryplan.analysis.cache_hit'), 1);
  now += 60_000;
  assert.equal(
    (await optimizer.analyze('select * from robots t where t.kind = $1')).fromCache,
    false,
  );
  assert.equal(server.explains(), 2);
  assert.equal(
    (await optimizer.analyze('select * from robots t where t.kind = $1', [], { fresh: true }))
      .fromCache,
    false,
  );
  assert.equal(server.explains(), 3);
});

Deno.test('analyze: concurrent calls share one EXPLAIN; the cache keeps at most its max entries', async () => {
  const server = fakeServer();
  const optimizer = new QueryPlanOptimizer({
    query: server.query,
    metrics: new Metrics(),
    options: { analysisCacheMaxEntries: 2 },
  });
  await Promise.all([1, 2, 3].map(() => optimizer.analyze('select 1 from robots t')));
  assert.equal(server.explains(), 1);
  await optimizer.analyze('select 2 from robots t');
  await optimizer.analyze('select 3 from robots t');
  assert.equal(optimizer.size, 2);
  // The oldest went first.
  await optimizer.analyze('select 1 from robots t');
  assert.equal(server.explains(), 4);
});

Deno.test('analyze: EXPLAIN ANALYZE on request, and never for writes', async () => {
  const server = fakeServer();
  const optimizer = new QueryPlanOptimizer({ query: server.query, metrics: new Metrics() });
  const measured = await optimizer.analyze('select * from robots t', [], { analyze: true });
  assert.equal(measured.measured, true);
  assert.match(
    server.log.find((sql) => sql.startsWith('explain')) ?? '',
    /^explain \(analyze, buffers, format json, verbose\)/,
  );
  await assert.rejects(
    optimizer.analyze('delete from robots where id = $1', ['x'], { analyze: true }),
    /only read-only select queries are measured: received "delete from robots/,
  );
  await assert.rejects(
    optimizer.analyze('with d as (delete from robots returning id) select * from d', [], {
      analyze: true,
    }),
    /only read-only/,
  );
});

Deno.test('planCount: estimated on a large result, exact on a selective one; improvement recorded', async () => {
  const metrics = new Metrics();
  const large = new QueryPlanOptimizer({ query: fakeServer({ planRows: 40_000 }).query, metrics });
  const estimated = await large.planCount('select t.id from robots t where t.kind = $1', ['grid']);
  assert.deepEqual(estimated, {
    strategy: 'estimated',
    reason: 'large-result',
    estimatedRows: 40_000,
    exactCost: 5100,
    improvementPercent: 100,
  });
  const small = new QueryPlanOptimizer({ query: fakeServer({ planRows: 40 }).query, metrics });
  const exact = await small.planCount('select t.id from robots t where t.kind = $1;', ['grid']);
  assert.equal(exact.strategy, 'exact');
  assert.equal(exact.improvementPercent, 0);
  assert.equal(metrics.counter('queryplan.count.estimated'), 1);
  assert.equal(metrics.counter('queryplan.count.exact'), 1);
  const histogram = metrics.histogram('queryplan.improvement.percent');
  assert.equal(histogram?.count, 2);
  assert.equal(histogram?.max, 100);
});

Deno.test('choosePagination: keyset past the threshold, recorded; disabled optimizer changes nothing', async () => {
  const metrics = new Metrics();
  const server = fakeServer();
  const optimizer = new QueryPlanOptimizer({
    query: server.query,
    metrics,
    options: { keysetOffsetThreshold: 100 },
  });
  assert.equal(optimizer.choosePagination({ offset: 99, limit: 20 }).strategy, 'offset');
  assert.equal(optimizer.choosePagination({ offset: 100, limit: 20 }).strategy, 'keyset');
  assert.equal(metrics.counter('queryplan.pagination.offset'), 1);
  assert.equal(metrics.counter('queryplan.pagination.keyset'), 1);

  const off = new QueryPlanOptimizer({ query: server.query, metrics, enabled: false });
  assert.equal(off.choosePagination({ offset: 50_000, limit: 20 }).reason, 'disabled');
  assert.deepEqual(await off.planCount('select 1 from robots t'), {
    strategy: 'exact',
    reason: 'disabled',
    improvementPercent: 0,
  });
  off.inspect('select 1 from robots t');
  await settleBackground();
  assert.equal(server.explains(), 0);
});

Deno.test('inspect: analyses in the background once, then only counts calls', async () => {
  const server = fakeServer();
  const optimizer = new QueryPlanOptimizer({
    query: server.query,
    metrics: new Metrics(),
    options: { hotQueryMinCalls: 3 },
  });
  optimizer.inspect("select * from robots t where t.kind = 'grid'");
  optimizer.inspect("select * from robots t where t.kind = 'grid'");
  await settleBackground();
  assert.equal(server.explains(), 1);
  assert.equal(optimizer.advice()[0].priority, 'normal');
  optimizer.inspect("select * from robots t where t.kind = 'grid'");
  optimizer.inspect("select * from robots t where t.kind = 'grid'");
  await settleBackground();
  assert.equal(server.explains(), 1);
  // After the cache is cleared the next analysis sees the calls counted since.
  optimizer.clear();
  assert.deepEqual(optimizer.advice(), []);
});

Deno.test('inspect: a failing EXPLAIN is counted, never thrown', async () => {
  const metrics = new Metrics();
  const optimizer = new QueryPlanOptimizer({
    query: () => Promise.reject(new Error('connection refused')),
    metrics,
  });
  optimizer.inspect('select 1');
  await settleBackground();
  assert.equal(metrics.counter('queryplan.errors'), 1);
});

Deno.test('QueryPlanOptimizer: validates what it is given', () => {
  assert.throws(
    () => new QueryPlanOptimizer({ query: undefined as unknown as QueryFn }),
    /'query' must be a function \(sql, params\) => rows: received undefined/,
  );
  assert.throws(() =>
    new QueryPlanOptimizer({ query: fakeServer().query, options: { seqScanRowThreshold: -1 } })
  );
});

Deno.test('inspect: with the caller query pending, nothing runs until it settled, then one statement at a time', async () => {
  const server = fakeServer();
  let inFlight = 0;
  let most = 0;
  const query: QueryFn = async (sql, params) => {
    inFlight++;
    most = Math.max(most, inFlight);
    try {
      await new Promise((resolve) => setTimeout(resolve, 1));
      return await server.query(sql, params);
    } finally {
      inFlight--;
    }
  };
  const optimizer = new QueryPlanOptimizer({ query });
  let settle!: () => void;
  const caller = new Promise<void>((resolve) => settle = resolve);
  optimizer.inspect("select * from robots t where t.kind = 'grid'", [], caller);
  // Scheduled once: a second inspect while waiting adds nothing.
  optimizer.inspect("select * from robots t where t.kind = 'grid'", [], caller);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(server.log, [], 'nothing may run beside the caller query');
  settle();
  await settleBackground();
  assert.equal(server.explains(), 1);
  assert.equal(optimizer.size, 1);
  // The plan, the table's statistics and its indexes, the catalog: never two at once, so a
  // pool serves them all on the connection the caller query used.
  assert.equal(most, 1);
  assert.ok(server.log.length >= 4, server.log.join('\n'));
});

Deno.test('inspect: a caller query that fails still lets the analysis run afterwards', async () => {
  const server = fakeServer();
  const metrics = new Metrics();
  const optimizer = new QueryPlanOptimizer({ query: server.query, metrics });
  const failed = Promise.reject(new Error('origin down'));
  failed.catch(() => {});
  optimizer.inspect("select * from robots t where t.kind = 'grid'", [], failed);
  await settleBackground();
  assert.equal(server.explains(), 1);
  assert.equal(metrics.snapshot().counters['queryplan.errors'] ?? 0, 0);
});
