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
export * from './options.ts';
export * from './conditions.ts';
export * from './plan.ts';
export * from './stats.ts';
export * from './advice.ts';
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
export * from './normalize.ts';
export * from './optimizer.ts';
