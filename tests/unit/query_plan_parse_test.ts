import assert from 'node:assert/strict';
import {
  normalizeSql,
  parseConditionColumns,
  parseSortKey,
  summarizePlan,
} from '../../shared/optimizer/query-plan/mod.ts';

Deno.test('parseConditionColumns: equality and range under AND, qualifiers kept', () => {
  assert.deepEqual(
    parseConditionColumns(
      "((robots.user_id = '00000000-0000-0000-0000-000000000007'::uuid) AND (robots.created_at < now()))",
    ),
    [
      { column: 'user_id', qualifier: 'robots', operator: '=', kind: 'equality' },
      { column: 'created_at', qualifier: 'robots', operator: '<', kind: 'range' },
    ],
  );
});

Deno.test('parseConditionColumns: casts, ILIKE, similarity, OR groups', () => {
  assert.deepEqual(parseConditionColumns("((t.name)::text ~~* '%ea%'::text)"), [
    { column: 'name', qualifier: 't', operator: '~~*', kind: 'pattern' },
  ]);
  assert.deepEqual(
    parseConditionColumns(
      "((t.name ~~* '%a%'::text) OR (t.description ~~* '%a%'::text) OR (t.name % 'a'::text))",
    )
      .map((c) => [c.column, c.kind, c.inOr]),
    [['name', 'pattern', true], ['description', 'pattern', true], ['name', 'similarity', true]],
  );
});

Deno.test('parseConditionColumns: booleans, IS NULL, ANY, row comparison, joins and expressions', () => {
  assert.deepEqual(
    parseConditionColumns('(t.is_public AND (NOT t.archived) AND (t.deleted_at IS NULL))').map((
      c,
    ) => [
      c.column,
      c.operator,
      c.kind,
    ]),
    [['is_public', 'IS TRUE', 'equality'], ['archived', 'IS FALSE', 'equality'], [
      'deleted_at',
      'IS NULL',
      'equality',
    ]],
  );
  assert.equal(parseConditionColumns("(t.kind = ANY ('{a,b}'::text[]))")[0].kind, 'equality');
  assert.deepEqual(
    parseConditionColumns(
      "(ROW(t.created_at, t.id) < ROW('2026-01-01 00:00:00+00'::timestamp with time zone, 'a'::uuid))",
    ).map((c) => [c.column, c.kind]),
    [['created_at', 'range'], ['id', 'range']],
  );
  assert.equal(parseConditionColumns('(r.user_id = s.user_id)')[0].kind, 'other');
  assert.equal(parseConditionColumns("(t.name <> 'x'::text)")[0].kind, 'other');
  // An expression is not a plain column: nothing to index by name.
  assert.deepEqual(parseConditionColumns("((t.strategy_params ->> 'x'::text) = 'y'::text)"), []);
  assert.deepEqual(parseConditionColumns(undefined), []);
});

Deno.test('parseConditionColumns: quoted identifiers are unquoted, quotes inside literals ignored', () => {
  assert.deepEqual(parseConditionColumns(`("Robots"."Name" = 'a AND (b)'::text)`), [
    { column: 'Name', qualifier: 'Robots', operator: '=', kind: 'equality' },
  ]);
});

Deno.test('parseSortKey: direction, qualifier, expressions rejected', () => {
  assert.deepEqual(parseSortKey('robots.created_at DESC'), {
    column: 'created_at',
    qualifier: 'robots',
    descending: true,
  });
  assert.deepEqual(parseSortKey('id'), { column: 'id', descending: false });
  assert.equal(parseSortKey('lower(name)'), undefined);
});

Deno.test('normalizeSql: whitespace and case outside literals, trailing semicolon', () => {
  assert.equal(
    normalizeSql("SELECT *\n   FROM  Robots\tWHERE name = 'A  B' ;"),
    "select * from robots where name = 'A  B'",
  );
  assert.equal(normalizeSql("select 'it''s  X'"), "select 'it''s  X'");
});

const parallelSortPlan = [{
  Plan: {
    'Node Type': 'Limit',
    'Startup Cost': 6031.77,
    'Total Cost': 6034.11,
    'Plan Rows': 20,
    Plans: [{
      'Node Type': 'Gather Merge',
      'Startup Cost': 6031.77,
      'Total Cost': 6070.51,
      'Plan Rows': 332,
      'Workers Planned': 2,
      Plans: [{
        'Node Type': 'Sort',
        'Startup Cost': 5031.75,
        'Total Cost': 5032.17,
        'Plan Rows': 166,
        'Sort Key': ['robots.created_at DESC', 'robots.id DESC'],
        Plans: [{
          'Node Type': 'Seq Scan',
          'Parallel Aware': true,
          'Relation Name': 'robots',
          Schema: 'public',
          Alias: 'robots',
          'Startup Cost': 0,
          'Total Cost': 5027.33,
          'Plan Rows': 166,
          Filter: "(robots.user_id = '00000000-0000-0000-0000-000000000007'::uuid)",
        }],
      }],
    }],
  },
  'Query Identifier': 4033264138291807460,
}];

Deno.test('summarizePlan: parallel seq scan under sort and limit', () => {
  const plan = summarizePlan(parallelSortPlan);
  assert.equal(plan.totalCost, 6034.11);
  assert.deepEqual(plan.nodeTypes, ['Limit', 'Gather Merge', 'Sort', 'Seq Scan']);
  assert.deepEqual(plan.seqScanRelations, ['public.robots']);
  assert.equal(plan.usesIndex, false);
  assert.equal(plan.queryId, String(4033264138291807460));
  assert.equal(
    summarizePlan(
      JSON.stringify(parallelSortPlan).replace(String(4033264138291807460), '4033264138291807461'),
    ).queryId,
    '4033264138291807461',
  );
  const [scan] = plan.scans;
  assert.equal(scan.kind, 'seq');
  assert.equal(scan.parallel, true);
  // 166 per process, 2 workers + the leader's 0.4 share.
  assert.equal(scan.estimatedRows, 398);
  assert.equal(scan.limited, true);
  assert.deepEqual(scan.sortKeys.map((k) => [k.column, k.descending]), [['created_at', true], [
    'id',
    true,
  ]]);
  assert.deepEqual(scan.filterColumns.map((c) => c.column), ['user_id']);
});

Deno.test('summarizePlan: index and bitmap scans, text input, aggregates reset the sort', () => {
  const plan = summarizePlan(JSON.stringify([{
    Plan: {
      'Node Type': 'Aggregate',
      'Startup Cost': 10,
      'Total Cost': 11,
      'Plan Rows': 1,
      Plans: [{
        'Node Type': 'Bitmap Heap Scan',
        'Relation Name': 'robots',
        Alias: 't',
        'Startup Cost': 1,
        'Total Cost': 10,
        'Plan Rows': 50,
        'Recheck Cond': "(t.name ~~* '%ab%'::text)",
        Plans: [{
          'Node Type': 'Bitmap Index Scan',
          'Index Name': 'robots_name_trgm_idx',
          'Startup Cost': 0,
          'Total Cost': 1,
          'Plan Rows': 50,
          'Index Cond': "(t.name ~~* '%ab%'::text)",
        }],
      }],
    },
  }]));
  assert.equal(plan.usesIndex, true);
  assert.deepEqual(plan.seqScanRelations, []);
  assert.deepEqual(plan.scans.map((s) => s.kind), ['bitmap-heap', 'bitmap-index']);
  assert.equal(plan.scans[0].indexColumns[0].column, 'name');
  assert.equal(plan.scans[1].indexName, 'robots_name_trgm_idx');
  assert.equal(plan.queryId, undefined);
});

Deno.test('summarizePlan: rejects what is not EXPLAIN JSON', () => {
  assert.throws(() => summarizePlan({ rows: [] }), /expected EXPLAIN \(FORMAT JSON\) output/);
});
