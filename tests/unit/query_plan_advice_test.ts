import assert from 'node:assert/strict';
import {
  adviseIndexes,
  type AdviseInput,
  type ExistingIndex,
  parseConditionColumns,
  quoteIdent,
  type ScanSummary,
  type TableStats,
} from '../../shared/optimizer/query-plan/mod.ts';

const table: TableStats = {
  schema: 'public',
  table: 'robots',
  liveRows: 200_000,
  reltuples: 200_000,
  rows: 200_000,
  seqScans: 12,
  seqTupRead: 2_400_000,
  idxScans: 3,
};

function seqScan(filter: string | undefined, extra: Partial<ScanSummary> = {}): ScanSummary {
  return {
    nodeType: 'Seq Scan',
    kind: 'seq',
    relation: 'robots',
    schema: 'public',
    alias: 't',
    estimatedRows: 400,
    totalCost: 5000,
    filter,
    filterColumns: parseConditionColumns(filter),
    indexColumns: [],
    sortKeys: [],
    limited: false,
    parallel: false,
    ...extra,
  };
}

function input(scan: ScanSummary, extra: Partial<AdviseInput> = {}): AdviseInput {
  return {
    scan,
    table,
    indexes: [],
    localCalls: 1,
    seqScanRowThreshold: 10_000,
    adviceMaxSelectivity: 0.2,
    hotQueryMinCalls: 50,
    ...extra,
  };
}

Deno.test('advice: equality columns first, then the sort keys with their direction', () => {
  const scan = seqScan('((t.updated_at > now()) AND (t.owner = $1))', {
    sortKeys: [{ column: 'created_at', qualifier: 't', descending: true }, {
      column: 'id',
      qualifier: 't',
      descending: true,
    }],
    limited: true,
  });
  const { advice } = adviseIndexes(input(scan));
  assert.equal(advice.length, 1);
  assert.equal(
    advice[0].sql,
    'create index concurrently if not exists robots_owner_created_at_id_idx on public.robots using btree (owner, created_at desc, id desc)',
  );
  assert.equal(advice[0].method, 'btree');
  assert.match(
    advice[0].reason,
    /Seq Scan on public\.robots \(200000 rows, cost 5000, 12 seq scans/,
  );
});

Deno.test('advice: equality then one range column without a sort', () => {
  const { advice } = adviseIndexes(
    input(seqScan("((t.updated_at >= $2) AND (t.created_at < $3) AND (t.kind = 'grid'::text))")),
  );
  assert.deepEqual(advice[0].columns, ['kind', 'updated_at']);
  assert.equal(advice[0].evidence.selectivity, 0.002);
  assert.equal(advice[0].evidence.estimatedRows, 400);
  assert.equal(advice[0].evidence.seqScans, 12);
  assert.equal(advice[0].evidence.callsSource, 'optimizer');
});

Deno.test('advice: trigram GIN for ILIKE and similarity, with the given operator class', () => {
  const scan = seqScan("((t.name ~~* '%ea%'::text) OR (t.description ~~* '%ea%'::text))");
  const { advice } = adviseIndexes(input(scan, { trigramOpclass: 'extensions.gin_trgm_ops' }));
  assert.deepEqual(advice.map((a) => a.sql), [
    'create index concurrently if not exists robots_name_trgm_idx on public.robots using gin (name extensions.gin_trgm_ops)',
    'create index concurrently if not exists robots_description_trgm_idx on public.robots using gin (description extensions.gin_trgm_ops)',
  ]);
});

Deno.test('advice: nothing when an index already covers the columns', () => {
  const indexes: ExistingIndex[] = [{
    name: 'robots_kind_idx',
    method: 'btree',
    columns: ['kind', 'updated_at'],
    definition: 'CREATE INDEX robots_kind_idx ON public.robots USING btree (kind, updated_at)',
    valid: true,
    partial: false,
  }, {
    name: 'robots_name_trgm_idx',
    method: 'gin',
    columns: ['name'],
    definition:
      'CREATE INDEX robots_name_trgm_idx ON public.robots USING gin (name extensions.gin_trgm_ops)',
    valid: true,
    partial: false,
  }];
  const eq = adviseIndexes(input(seqScan("(t.kind = 'grid'::text)"), { indexes }));
  assert.deepEqual(eq.advice, []);
  assert.match(eq.skipped[0].reason, /an index on \(kind\) exists/);
  const trgm = adviseIndexes(input(seqScan("(t.name ~~* '%x%'::text)"), { indexes }));
  assert.deepEqual(trgm.advice, []);
  // An invalid index (failed concurrent build) does not count.
  const broken = indexes.map((i) => ({ ...i, valid: false }));
  assert.equal(
    adviseIndexes(input(seqScan("(t.kind = 'grid'::text)"), { indexes: broken })).advice.length,
    1,
  );
});

Deno.test('advice: nothing for small tables or filters that keep much of the table', () => {
  const small = adviseIndexes(input(seqScan("(t.kind = 'grid'::text)"), {
    table: { ...table, rows: 500, liveRows: 500, reltuples: 500 },
  }));
  assert.deepEqual(small.advice, []);
  assert.match(small.skipped[0].reason, /below seqScanRowThreshold 10000/);
  const wide = adviseIndexes(input(seqScan('t.is_public', { estimatedRows: 100_000 })));
  assert.deepEqual(wide.advice, []);
  assert.match(wide.skipped[0].reason, /keeps 50\.0% of the rows, above adviceMaxSelectivity 0\.2/);
  // ...unless a sort under a limit can be read in index order.
  const sorted = adviseIndexes(input(seqScan('t.is_public', {
    estimatedRows: 100_000,
    sortKeys: [{ column: 'created_at', descending: true }],
    limited: true,
  })));
  assert.deepEqual(sorted.advice[0].columns, ['is_public', 'created_at desc']);
});

Deno.test('advice: hot queries get priority high from pg_stat_statements calls', () => {
  const { advice } = adviseIndexes(input(seqScan("(t.kind = 'grid'::text)"), {
    statement: { calls: 120, meanTimeMs: 31.4159, totalTimeMs: 3769.9, rows: 4800 },
  }));
  assert.equal(advice[0].priority, 'high');
  assert.equal(advice[0].evidence.callsSource, 'pg_stat_statements');
  assert.equal(advice[0].evidence.meanTimeMs, 31.416);
  const cold = adviseIndexes(input(seqScan("(t.kind = 'grid'::text)")));
  assert.equal(cold.advice[0].priority, 'normal');
});

Deno.test('advice: only sequential scans; index scans are left alone', () => {
  const scan = { ...seqScan("(t.kind = 'grid'::text)"), kind: 'index' as const };
  assert.deepEqual(adviseIndexes(input(scan)), { advice: [], skipped: [] });
});

Deno.test('quoteIdent: quotes only what needs it', () => {
  assert.equal(quoteIdent('created_at'), 'created_at');
  assert.equal(quoteIdent('Name'), '"Name"');
  assert.equal(quoteIdent('user'), '"user"');
  assert.equal(quoteIdent('a"b'), '"a""b"');
});
