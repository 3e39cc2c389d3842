/**
 * Query-plan optimization (`enableQueryPlanOptimization`): plan analysis with table and
 * statement statistics, index advice, count and pagination strategies.
 *
 * @example With this module's exports in scope (no import line here: the Supabase CLI's
 * bundler reads import lines inside comments and warns about paths that do not exist):
 * ```ts
 * const optimizer = new QueryPlanOptimizer({ query });
 * (await optimizer.analyze('select * from robots where strategy_type = $1', ['grid'])).advice;
 * ```
 *
 * @module
 */
export { queryPlanEnvBindings, type QueryPlanOptions, queryPlanOptionsSchema } from './options.ts';
export {
  type ConditionColumn,
  type ConditionKind,
  parseConditionColumns,
  parseSortKey,
  type SortKeyColumn,
  splitTopLevel,
  stripOuterParens,
} from './conditions.ts';
export {
  type ExplainOutput,
  normalizeExplain,
  type PlanNode,
  type PlanSummary,
  type ScanKind,
  type ScanSummary,
  summarizePlan,
} from './plan.ts';
export {
  type ExistingIndex,
  hasPgStatStatements,
  type QueryFn,
  readIndexes,
  readStatementStats,
  readTableStats,
  type StatementStats,
  type TableStats,
} from './stats.ts';
export {
  type AdviceEvidence,
  adviseIndexes,
  type AdviseInput,
  type IndexAdvice,
  quoteIdent,
  type SkippedAdvice,
} from './advice.ts';
// The count and pagination choices live with their main user, the data layer.
export {
  chooseCountStrategy,
  choosePaginationStrategy,
  type CountStrategy,
  type CountStrategyChoice,
  type CountStrategyInput,
  improvementPercent,
  type PaginationStrategy,
  type PaginationStrategyChoice,
  type PaginationStrategyInput,
} from '../../db/query_strategy.ts';
export { normalizeSql } from './normalize.ts';
export { type QueryPlanAnalysis, type SeqScanFinding } from './analysis.ts';
export {
  type AnalyzeOptions,
  type CountPlan,
  type PaginationPlan,
  type PlanComparison,
  QueryPlanOptimizer,
  type QueryPlanOptimizerInit,
} from './optimizer.ts';
