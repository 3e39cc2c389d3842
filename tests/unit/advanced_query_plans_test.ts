/**
 * The query-plan probe of an origin call (`advanced/query_plans.ts`): built once per call shape
 * (table, filter names, scalar or not), its parameters always the call's own values, the same
 * statement `filterProbe` gives for every shape.
 */
import assert from 'node:assert/strict';
import { filterProbe, QueryPlansByClient } from '../../shared/optimizer/advanced/query_plans.ts';
import { parseOptimizationConfig } from '../../shared/optimizer/config.ts';
import { Metrics } from '../../shared/optimizer/metrics.ts';

function spied() {
  const plans = new QueryPlansByClient(parseOptimizationConfig({}), new Metrics());
  const client = { query: () => Promise.resolve([]) };
  const seen: { sql: string; params: readonly unknown[] }[] = [];
  plans.for(client)!.inspect = (sql, params = []) => void seen.push({ sql, params });
  return { plans, client, seen };
}

Deno.test('query plans: each call probes with its own values, the statement built once per shape', () => {
  const { plans, client, seen } = spied();
  const calls: Record<string, unknown>[] = [
    { id: 'a' },
    { id: 'b' },
    { strategy_type: 'grid', limit: 20, is_public: true },
    { strategy_type: 'trend', limit: 50, is_public: false },
    { strategy_type: null, limit: 20, is_public: true }, // null: skipped, another shape
    { strategy_type: ['grid'], limit: 20, is_public: true }, // not a scalar: skipped
    { 'bad name': 'x', id: 'c' }, // not an identifier: skipped
    { 'bad name': 'y', id: 'd' },
    {},
  ];
  for (const filters of calls) plans.inspectFilters(client, 'robots', filters);
  plans.inspectFilters(client, 'public.robots; drop table x', { id: 'e' }); // no probe
  plans.inspectFilters(client, 'robots'); // no filters
  const expected = [...calls, undefined].map((filters) => filterProbe('robots', filters));
  assert.deepEqual(seen, expected);
  assert.deepEqual(seen[1], {
    sql: 'select * from public.robots where id = $1 limit 100',
    params: ['b'],
  });
  assert.deepEqual(seen[3].params, ['trend', false]);
  assert.deepEqual(seen[7].params, ['d']);
});

Deno.test('query plans: shapes that would spell alike are told apart', () => {
  const { plans, client, seen } = spied();
  plans.inspectFilters(client, 'robots', { 'a:1:b': 1 }); // not an identifier: no condition
  plans.inspectFilters(client, 'robots', { a: 1, b: 1 });
  plans.inspectFilters(client, 'robots_a', { b: 1 });
  assert.deepEqual(seen.map((s) => s.sql), [
    'select * from public.robots limit 100',
    'select * from public.robots where a = $1 and b = $2 limit 100',
    'select * from public.robots_a where b = $1 limit 100',
  ]);
});
