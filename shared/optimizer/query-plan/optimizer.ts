/**
 * The query-plan optimizer: reads `EXPLAIN (FORMAT JSON, VERBOSE)` and the server's statistics
 * for the API's queries, caches the analysis per normalised SQL, produces index advice for
 * sequential scans on large tables, and picks the cheaper count and pagination strategies,
 * recording the improvement as the `queryplan.improvement.percent` metric.
 *
 * @module
 */
import { type Metrics, metrics as sharedMetrics } from '../metrics.ts';
import { SingleFlight } from '../singleflight.ts';
import { runInBackground } from '../../runtime/background.ts';
import type { IndexAdvice } from './advice.ts';
import { CatalogProbe, type QueryPlanAnalysis, readAnalysis } from './analysis.ts';
import { normalizeSql } from './normalize.ts';
import { parseQueryPlanOptions, type QueryPlanOptions } from './options.ts';
import type { QueryFn } from './stats.ts';
import {
  chooseCountStrategy,
  choosePaginationStrategy,
  type CountStrategy,
  type CountStrategyChoice,
  improvementPercent,
  type PaginationStrategyChoice,
  type PaginationStrategyInput,
} from '../../db/query_strategy.ts';

/** Options of {@link QueryPlanOptimizer.analyze}. */
export interface AnalyzeOptions {
  /**
   * Measure with `EXPLAIN (ANALYZE)`: the statement runs. Only `select`/`with ... select`.
   * @default the `explainAnalyze` option (false)
   */
  analyze?: boolean;
  /** Skip the cache and read the plan again. @default false */
  fresh?: boolean;
}

/** Outcome of {@link QueryPlanOptimizer.planCount}. */
export interface CountPlan {
  strategy: CountStrategy;
  reason: CountStrategyChoice['reason'] | 'disabled';
  /** Planner's estimate of the matching rows (absent when disabled). */
  estimatedRows?: number;
  /** Planner cost of the exact `count(*)`. */
  exactCost?: number;
  /** Cost saved against an exact count, percent. */
  improvementPercent: number;
}

/** Outcome of {@link QueryPlanOptimizer.choosePagination}. */
export type PaginationPlan = Omit<PaginationStrategyChoice, 'reason'> & {
  reason: PaginationStrategyChoice['reason'] | 'disabled';
};

/** Outcome of {@link QueryPlanOptimizer.comparePlans}. */
export interface PlanComparison {
  beforeCost: number;
  afterCost: number;
  improvementPercent: number;
}

/** Construction options of {@link QueryPlanOptimizer}. */
export interface QueryPlanOptimizerInit {
  /** Runs SQL (use a service connection: the optimizer reads catalogs and may run in the background). */
  query: QueryFn;
  /** Where counters and the improvement histogram go. @default the shared `metrics` */
  metrics?: Metrics;
  /** Clock (ms). @default Date.now */
  now?: () => number;
  /** The `queryPlan` options; missing ones take their defaults. */
  options?: Partial<QueryPlanOptions>;
  /** `enableQueryPlanOptimization`: when false, no EXPLAIN runs on the request path. @default true */
  enabled?: boolean;
}

interface CacheEntry {
  analysis: QueryPlanAnalysis;
  expiresAt: number;
}

const READ_ONLY = /^\s*(\(\s*)*(select|with|values|table)\b/i;
const WRITES = /\b(insert|update|delete|merge)\b/i;

/**
 * Analyses query plans, caches the analyses, advises indexes, and chooses count and pagination
 * strategies.
 *
 * @example
 * ```ts
 * const sql = postgres(url, { prepare: false });
 * const optimizer = new QueryPlanOptimizer({ query: (text, params = []) => sql.unsafe(text, params as never[]) });
 * const analysis = await optimizer.analyze('select id from robots where strategy_type = $1', ['grid']);
 * analysis.plan.usesIndex; // true with the migrations' indexes
 * analysis.advice.map((a) => a.sql);
 * ```
 */
export class QueryPlanOptimizer {
  readonly options: QueryPlanOptions;
  readonly enabled: boolean;
  #query: QueryFn;
  #metrics: Metrics;
  #now: () => number;
  #cache = new Map<string, CacheEntry>();
  #calls = new Map<string, number>();
  #flight = new SingleFlight();
  /** Analyses `inspect` scheduled that wait for their caller's query (see `after`). */
  #scheduled = new Set<string>();
  /** The analysis key of each statement text `inspect` saw (bounded). */
  #keys = new Map<string, string>();
  #catalog: CatalogProbe;

  constructor(init: QueryPlanOptimizerInit) {
    if (typeof init?.query !== 'function') {
      throw new TypeError(
        `'query' must be a function (sql, params) => rows: received ${typeof init?.query}`,
      );
    }
    this.options = parseQueryPlanOptions(init.options ?? {});
    this.enabled = init.enabled ?? true;
    this.#query = init.query;
    this.#metrics = init.metrics ?? sharedMetrics;
    this.#now = init.now ?? Date.now;
    this.#catalog = new CatalogProbe(init.query);
  }

  /**
   * Reads (or returns the cached) analysis of `sql` run with `params`.
   *
   * @example
   * ```ts
   * const a = await optimizer.analyze('select * from robots where user_id = $1 order by created_at desc limit 20', [uid]);
   * a.plan.scans[0].nodeType; // 'Index Scan'
   * ```
   */
  async analyze(
    sql: string,
    params: readonly unknown[] = [],
    options: AnalyzeOptions = {},
  ): Promise<QueryPlanAnalysis> {
    const measured = options.analyze ?? this.options.explainAnalyze;
    if (measured && (!READ_ONLY.test(sql) || WRITES.test(sql))) {
      throw new Error(
        `EXPLAIN ANALYZE runs the statement: only read-only select queries are measured: received ${
          JSON.stringify(sql.slice(0, 80))
        }`,
      );
    }
    const normalized = normalizeSql(sql);
    const key = `${measured ? 'analyze' : 'plan'}:${normalized}`;
    this.#calls.set(normalized, (this.#calls.get(normalized) ?? 0) + 1);
    if (!options.fresh) {
      const cached = this.#cache.get(key);
      if (cached && cached.expiresAt > this.#now()) {
        // Refresh its place in the LRU order.
        this.#cache.delete(key);
        this.#cache.set(key, cached);
        this.#metrics.increment('queryplan.analysis.cache_hit');
        return { ...cached.analysis, fromCache: true };
      }
    }
    return await this.#flight.run(key, async () => {
      const analysis = await readAnalysis(sql, normalized, params, measured, {
        query: this.#query,
        catalog: this.#catalog,
        options: this.options,
        metrics: this.#metrics,
        now: this.#now,
        localCalls: () => this.#calls.get(normalized) ?? 1,
      });
      if (this.options.analysisCacheTtlMs > 0) {
        this.#cache.delete(key);
        this.#cache.set(key, {
          analysis,
          expiresAt: analysis.analyzedAt + this.options.analysisCacheTtlMs,
        });
        while (this.#cache.size > this.options.analysisCacheMaxEntries) {
          this.#cache.delete(this.#cache.keys().next().value!);
        }
      }
      return analysis;
    }, () => this.#metrics.increment('queryplan.analysis.joined'));
  }

  /**
   * Hot-path hook: makes sure `sql` gets analysed (in the background, at most once per TTL) so
   * its advice shows up in {@link advice}. Never throws, never waits; a no-op when disabled.
   * With `after` (the caller's own query), the analysis starts once that settled and the task
   * that answered has run: it adds nothing to that answer and its statements, one at a time,
   * reuse the connection that query used.
   *
   * @example
   * ```ts
   * optimizer.inspect(text, params); // then run the query as usual
   * ```
   */
  inspect(sql: string, params: readonly unknown[] = [], after?: PromiseLike<unknown>): void {
    if (!this.enabled) return;
    // One statement text per route: normalised once, not on every call (miss path, third pass).
    let key = this.#keys.get(sql);
    if (key === undefined) {
      if (this.#keys.size >= 1024) this.#keys.clear();
      this.#keys.set(sql, key = `plan:${normalizeSql(sql)}`);
    }
    const cached = this.#cache.get(key);
    if (cached && cached.expiresAt > this.#now()) {
      const normalized = key.slice(5);
      this.#calls.set(normalized, (this.#calls.get(normalized) ?? 0) + 1);
      return;
    }
    if (this.#flight.has(key) || this.#scheduled.has(key)) return;
    this.#scheduled.add(key);
    runInBackground(
      async () => {
        try {
          if (after) {
            // After the caller's own query and its answer: the analysis's statements then take
            // the connection that query used instead of opening more (a cold isolate opened 3).
            await Promise.resolve(after).catch(() => {});
            await new Promise((resolve) => setTimeout(resolve, 0));
          }
        } finally {
          this.#scheduled.delete(key);
        }
        return await this.analyze(sql, params);
      },
      'query plan analysis',
      () => this.#metrics.increment('queryplan.errors'),
    );
  }

  /**
   * Chooses between an exact `count(*)` and the planner's estimate for the rows `sql` returns
   * (pass the listing's SQL without limit/offset), and records the improvement.
   *
   * @example
   * ```ts
   * const plan = await optimizer.planCount('select id from robots where is_public', []);
   * plan.strategy; // 'estimated' on a large table
   * const total = plan.strategy === 'exact' ? await countExactly() : plan.estimatedRows;
   * ```
   */
  async planCount(
    sql: string,
    params: readonly unknown[] = [],
    options: { exactRequested?: boolean } = {},
  ): Promise<CountPlan> {
    if (!this.enabled) return { strategy: 'exact', reason: 'disabled', improvementPercent: 0 };
    const source = sql.trim().replace(/;+\s*$/, '');
    const [rows, count] = await Promise.all([
      this.analyze(source, params),
      this.analyze(`select count(*) from (${source}) as qf_count_source`, params),
    ]);
    const tableRows = rows.tables.length === 1 ? rows.tables[0].rows : undefined;
    const choice = chooseCountStrategy({
      estimatedRows: rows.plan.estimatedRows,
      tableRows,
      exactRequested: options.exactRequested,
      exactCountMaxRows: this.options.exactCountMaxRows,
    });
    const exactCost = count.plan.totalCost;
    // The estimate is read from the plan already made: it scans nothing.
    const improvement = choice.strategy === 'exact' ? 0 : improvementPercent(exactCost, 0);
    this.#metrics.increment(`queryplan.count.${choice.strategy}`);
    this.#metrics.observe('queryplan.improvement.percent', improvement);
    return {
      strategy: choice.strategy,
      reason: choice.reason,
      estimatedRows: choice.estimatedRows,
      exactCost,
      improvementPercent: improvement,
    };
  }

  /**
   * Offset or keyset for this page (see {@link choosePaginationStrategy}), with the
   * `keysetOffsetThreshold` option; records the choice and its improvement.
   *
   * @example
   * ```ts
   * optimizer.choosePagination({ offset: 5000, limit: 20 }).strategy; // 'keyset'
   * ```
   */
  choosePagination(input: Omit<PaginationStrategyInput, 'keysetOffsetThreshold'>): PaginationPlan {
    if (!this.enabled) {
      const base = choosePaginationStrategy({ ...input, keysetOffsetThreshold: 0 });
      return { ...base, strategy: 'offset', reason: 'disabled', improvementPercent: 0 };
    }
    const choice = choosePaginationStrategy({
      ...input,
      keysetOffsetThreshold: this.options.keysetOffsetThreshold,
    });
    this.#metrics.increment(`queryplan.pagination.${choice.strategy}`);
    this.#metrics.observe('queryplan.improvement.percent', choice.improvementPercent);
    return choice;
  }

  /**
   * Planner cost of two ways to get the same rows (e.g. offset versus keyset SQL), and the
   * improvement of `after` over `before`, recorded in the metric.
   *
   * @example
   * ```ts
   * const c = await optimizer.comparePlans(
   *   { sql: 'select id from robots order by created_at desc, id desc offset 50000 limit 20' },
   *   { sql: 'select id from robots where (created_at, id) < ($1, $2) order by created_at desc, id desc limit 20', params: [at, id] },
   * );
   * c.improvementPercent; // ~99
   * ```
   */
  async comparePlans(
    before: { sql: string; params?: readonly unknown[] },
    after: { sql: string; params?: readonly unknown[] },
  ): Promise<PlanComparison> {
    const [a, b] = await Promise.all([
      this.analyze(before.sql, before.params ?? []),
      this.analyze(after.sql, after.params ?? []),
    ]);
    const result = {
      beforeCost: a.plan.totalCost,
      afterCost: b.plan.totalCost,
      improvementPercent: improvementPercent(a.plan.totalCost, b.plan.totalCost),
    };
    this.#metrics.observe('queryplan.improvement.percent', result.improvementPercent);
    return result;
  }

  /**
   * Index advice of every analysis in the cache, one per index, hot queries first, then by
   * scan cost.
   *
   * @example
   * ```ts
   * for (const a of optimizer.advice()) console.log(a.sql, '--', a.reason);
   * ```
   */
  advice(): IndexAdvice[] {
    const now = this.#now();
    const byIndex = new Map<string, IndexAdvice>();
    for (const entry of this.#cache.values()) {
      if (entry.expiresAt <= now) continue;
      for (const advice of entry.analysis.advice) {
        const seen = byIndex.get(advice.sql);
        if (!seen || advice.evidence.calls > seen.evidence.calls) byIndex.set(advice.sql, advice);
      }
    }
    return [...byIndex.values()].sort((a, b) =>
      (a.priority === b.priority ? 0 : a.priority === 'high' ? -1 : 1) ||
      b.evidence.scanCost - a.evidence.scanCost
    );
  }

  /** Cached analyses (not expired). */
  get size(): number {
    const now = this.#now();
    return [...this.#cache.values()].filter((e) => e.expiresAt > now).length;
  }

  /** Forgets every analysis (after creating an index, for example). */
  clear(): void {
    this.#cache.clear();
    this.#calls.clear();
  }
}
