/**
 * Options of the query-plan optimizer (`OptimizationConfig.queryPlan`), with defaults and their
 * environment variables. The switch itself is the spec's `enableQueryPlanOptimization`.
 *
 * @module
 */
import { z } from 'zod';
import type { EnvBinding } from '../env.ts';
import { countSchemaBuild, setsOnlyDefaults } from '../options_defaults.ts';

/**
 * The query-plan options' defaults (what `queryPlanOptionsSchema.parse({})` yields; the schema
 * takes its defaults from here). Frozen: copy it to change a value.
 */
export const QUERY_PLAN_OPTION_DEFAULTS = Object.freeze({
  analysisCacheTtlMs: 300_000,
  analysisCacheMaxEntries: 500,
  seqScanRowThreshold: 10_000,
  adviceMaxSelectivity: 0.2,
  hotQueryMinCalls: 50,
  exactCountMaxRows: 10_000,
  keysetOffsetThreshold: 1000,
  explainAnalyze: false,
});

/**
 * Schema of `OptimizationConfig.queryPlan`; every field documents its default. Built on its
 * first use (`z.lazy`): the defaults need no schema (see {@link parseQueryPlanOptions}).
 */
export const queryPlanOptionsSchema = z.lazy(() => {
  countSchemaBuild();
  return z.object({
    /** How long an analysis (plan + table statistics) is reused for the same normalised SQL, ms. @default 300000 */
    analysisCacheTtlMs: z.number().int().min(0).default(
      QUERY_PLAN_OPTION_DEFAULTS.analysisCacheTtlMs,
    ),
    /** Analyses kept at most (least recently used dropped first). @default 500 */
    analysisCacheMaxEntries: z.number().int().min(1).default(
      QUERY_PLAN_OPTION_DEFAULTS.analysisCacheMaxEntries,
    ),
    /** A sequential scan is a finding (and may get index advice) on relations with at least this many rows. @default 10000 */
    seqScanRowThreshold: z.number().int().min(0).default(
      QUERY_PLAN_OPTION_DEFAULTS.seqScanRowThreshold,
    ),
    /** Index advice only for filters expected to keep at most this fraction of the table (0..1); above it a scan is as good. @default 0.2 */
    adviceMaxSelectivity: z.number().min(0).max(1).default(
      QUERY_PLAN_OPTION_DEFAULTS.adviceMaxSelectivity,
    ),
    /** Calls (pg_stat_statements, else analyses requested here) from which a query counts as hot: its advice gets priority `high`. @default 50 */
    hotQueryMinCalls: z.number().int().min(1).default(QUERY_PLAN_OPTION_DEFAULTS.hotQueryMinCalls),
    /** Count exactly when the filter is expected to match at most this many rows; estimate above. @default 10000 */
    exactCountMaxRows: z.number().int().min(0).default(
      QUERY_PLAN_OPTION_DEFAULTS.exactCountMaxRows,
    ),
    /** Use keyset pagination when the requested offset is at least this. @default 1000 */
    keysetOffsetThreshold: z.number().int().min(0).default(
      QUERY_PLAN_OPTION_DEFAULTS.keysetOffsetThreshold,
    ),
    /** Run `EXPLAIN (ANALYZE)` (executes the query) instead of a plain `EXPLAIN`. @default false */
    explainAnalyze: z.boolean().default(QUERY_PLAN_OPTION_DEFAULTS.explainAnalyze),
  }).strict();
});

/** The query-plan options, defaults applied. */
export type QueryPlanOptions = z.infer<typeof queryPlanOptionsSchema>;

/**
 * Validates query-plan options, defaults applied: `queryPlanOptionsSchema.parse(input)`, except
 * that an input setting only default values returns a copy of {@link QUERY_PLAN_OPTION_DEFAULTS}
 * without building the schema. Throws zod's error as `parse` does.
 *
 * @example
 * ```ts
 * parseQueryPlanOptions({ explainAnalyze: true }).seqScanRowThreshold; // 10000
 * ```
 */
export function parseQueryPlanOptions(input: unknown = {}): QueryPlanOptions {
  if (setsOnlyDefaults(input, QUERY_PLAN_OPTION_DEFAULTS)) return { ...QUERY_PLAN_OPTION_DEFAULTS };
  return queryPlanOptionsSchema.parse(input, { jitless: true });
}

/** Environment variables of the query-plan options. */
export const queryPlanEnvBindings: readonly EnvBinding[] = [
  {
    env: 'QF_QUERY_PLAN_ANALYSIS_CACHE_TTL_MS',
    path: 'queryPlan.analysisCacheTtlMs',
    type: 'number',
  },
  {
    env: 'QF_QUERY_PLAN_ANALYSIS_CACHE_MAX_ENTRIES',
    path: 'queryPlan.analysisCacheMaxEntries',
    type: 'number',
  },
  {
    env: 'QF_QUERY_PLAN_SEQ_SCAN_ROW_THRESHOLD',
    path: 'queryPlan.seqScanRowThreshold',
    type: 'number',
  },
  {
    env: 'QF_QUERY_PLAN_ADVICE_MAX_SELECTIVITY',
    path: 'queryPlan.adviceMaxSelectivity',
    type: 'number',
  },
  { env: 'QF_QUERY_PLAN_HOT_QUERY_MIN_CALLS', path: 'queryPlan.hotQueryMinCalls', type: 'number' },
  {
    env: 'QF_QUERY_PLAN_EXACT_COUNT_MAX_ROWS',
    path: 'queryPlan.exactCountMaxRows',
    type: 'number',
  },
  {
    env: 'QF_QUERY_PLAN_KEYSET_OFFSET_THRESHOLD',
    path: 'queryPlan.keysetOffsetThreshold',
    type: 'number',
  },
  { env: 'QF_QUERY_PLAN_EXPLAIN_ANALYZE', path: 'queryPlan.explainAnalyze', type: 'boolean' },
];
