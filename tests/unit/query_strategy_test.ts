import assert from 'node:assert/strict';
import {
  chooseCountStrategy,
  choosePaginationStrategy,
  improvementPercent,
  queryPlanEnvBindings,
  queryPlanOptionsSchema,
} from '../../shared/optimizer/query-plan/mod.ts';
import { readEnvBindings } from '../../shared/optimizer/env.ts';

Deno.test('chooseCountStrategy: exact while cheap, estimated once the result is large', () => {
  const base = { tableRows: 1_000_000, exactCountMaxRows: 10_000 };
  assert.deepEqual(chooseCountStrategy({ ...base, estimatedRows: 10_000 }), {
    strategy: 'exact',
    reason: 'selective-filter',
    estimatedRows: 10_000,
  });
  assert.deepEqual(chooseCountStrategy({ ...base, estimatedRows: 10_001 }), {
    strategy: 'estimated',
    reason: 'large-result',
    estimatedRows: 10_001,
  });
  assert.equal(
    chooseCountStrategy({ ...base, estimatedRows: 500_000, exactRequested: true }).reason,
    'requested',
  );
  assert.equal(
    chooseCountStrategy({ estimatedRows: 20_000, tableRows: 8_000, exactCountMaxRows: 10_000 })
      .reason,
    'small-table',
  );
  // Defaults: 10000.
  assert.equal(chooseCountStrategy({ estimatedRows: 12_000 }).strategy, 'estimated');
});

Deno.test('chooseCountStrategy: says what it received when the input is wrong', () => {
  assert.throws(
    () => chooseCountStrategy({ estimatedRows: Number.NaN }),
    /'estimatedRows' must be a finite number >= 0: received NaN/,
  );
  assert.throws(
    () => chooseCountStrategy({ estimatedRows: 1, exactCountMaxRows: -1 }),
    /'exactCountMaxRows' must be a finite integer >= 0: received -1/,
  );
});

Deno.test('choosePaginationStrategy: offset for small offsets, keyset from the threshold on', () => {
  assert.deepEqual(choosePaginationStrategy({ offset: 999, limit: 20 }), {
    strategy: 'offset',
    reason: 'small-offset',
    rowsRead: { offset: 1019, keyset: 20 },
    improvementPercent: 0,
  });
  assert.deepEqual(choosePaginationStrategy({ offset: 1000, limit: 20 }), {
    strategy: 'keyset',
    reason: 'large-offset',
    rowsRead: { offset: 1020, keyset: 20 },
    improvementPercent: 98.04,
  });
  assert.equal(
    choosePaginationStrategy({ offset: 50, limit: 20, keysetOffsetThreshold: 40 }).strategy,
    'keyset',
  );
  assert.equal(
    choosePaginationStrategy({ offset: 5000, limit: 20, cursorAvailable: false }).reason,
    'no-cursor',
  );
  assert.throws(
    () => choosePaginationStrategy({ offset: 0, limit: 0 }),
    /'limit' must be a finite integer >= 1: received 0/,
  );
});

Deno.test('improvementPercent: relative saving, 0 without a baseline', () => {
  assert.equal(improvementPercent(2000, 50), 97.5);
  assert.equal(improvementPercent(100, 150), -50);
  assert.equal(improvementPercent(0, 10), 0);
});

Deno.test('queryPlan options: defaults, validation, env bindings', () => {
  const defaults = queryPlanOptionsSchema.parse({});
  assert.deepEqual(defaults, {
    analysisCacheTtlMs: 300_000,
    analysisCacheMaxEntries: 500,
    seqScanRowThreshold: 10_000,
    adviceMaxSelectivity: 0.2,
    hotQueryMinCalls: 50,
    exactCountMaxRows: 10_000,
    keysetOffsetThreshold: 1000,
    explainAnalyze: false,
  });
  assert.throws(() => queryPlanOptionsSchema.parse({ adviceMaxSelectivity: 2 }));
  assert.throws(() => queryPlanOptionsSchema.parse({ unknownOption: 1 }));
  const env: Record<string, string> = {
    QF_QUERY_PLAN_ANALYSIS_CACHE_TTL_MS: '1000',
    QF_QUERY_PLAN_SEQ_SCAN_ROW_THRESHOLD: '5',
    QF_QUERY_PLAN_EXPLAIN_ANALYZE: 'true',
  };
  const read = readEnvBindings(queryPlanEnvBindings, (name) => env[name]);
  assert.deepEqual(read, {
    queryPlan: { analysisCacheTtlMs: 1000, seqScanRowThreshold: 5, explainAnalyze: true },
  });
  for (const binding of queryPlanEnvBindings) {
    assert.match(binding.env, /^QF_QUERY_PLAN_[A-Z_]+$/);
    const key = binding.path.replace(/^queryPlan\./, '');
    assert.ok(key in defaults, `${binding.path} is an option`);
  }
});
