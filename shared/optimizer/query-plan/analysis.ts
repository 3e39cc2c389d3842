/**
 * One query's analysis: runs `EXPLAIN (FORMAT JSON, VERBOSE)` (or `EXPLAIN ANALYZE`), reads the
 * statistics and indexes of every relation the plan scans and the statement's
 * `pg_stat_statements` figures, and turns sequential scans on large relations into findings and
 * index advice. The {@link QueryPlanOptimizer} caches what this module computes.
 *
 * @module
 */
import type { Metrics } from '../metrics.ts';
import { adviseIndexes, type IndexAdvice, type SkippedAdvice } from './advice.ts';
import type { QueryPlanOptions } from './options.ts';
import { type PlanSummary, summarizePlan } from './plan.ts';
import * as stats from './stats.ts';

/** A sequential scan on a relation of at least `seqScanRowThreshold` rows. */
export interface SeqScanFinding {
  /** `schema.table`. */
  relation: string;
  relationRows: number;
  estimatedRows: number;
  cost: number;
  filter?: string;
}

/** Everything known about one query's plan. */
export interface QueryPlanAnalysis {
  /** The normalised SQL (the cache key). */
  sql: string;
  /** When the plan was read (clock ms). */
  analyzedAt: number;
  /** Served from the analysis cache (no EXPLAIN ran for this call). */
  fromCache: boolean;
  /** The plan was measured (`EXPLAIN ANALYZE`), not only estimated. */
  measured: boolean;
  plan: PlanSummary;
  /** Statistics of every relation the plan scans. */
  tables: stats.TableStats[];
  /** `pg_stat_statements` figures, where available and the query has run. */
  statement?: stats.StatementStats;
  /** Sequential scans on large relations. */
  seqScans: SeqScanFinding[];
  advice: IndexAdvice[];
  /** Sequential scans that got no advice, and why. */
  skipped: SkippedAdvice[];
}

interface RelationInfo {
  stats?: stats.TableStats;
  indexes: stats.ExistingIndex[];
}

/**
 * What a database offers the analysis, asked once per database: `pg_stat_statements`, and the
 * schema `pg_trgm` lives in (for the trigram operator class of `ILIKE` advice).
 *
 * @example
 * ```ts
 * const catalog = new CatalogProbe(query);
 * await catalog.pgTrgmSchema(); // 'extensions', or null without pg_trgm
 * ```
 */
export class CatalogProbe {
  readonly #query: stats.QueryFn;
  #statStatements?: Promise<boolean>;
  #trigramSchema?: Promise<string | null>;

  constructor(query: stats.QueryFn) {
    this.#query = query;
  }

  /** Whether `pg_stat_statements` can be read (false on any error). */
  hasStatStatements(): Promise<boolean> {
    return this.#statStatements ??= stats.hasPgStatStatements(this.#query).catch(() => false);
  }

  /** The schema of the `pg_trgm` extension, or null (also on any error). */
  pgTrgmSchema(): Promise<string | null> {
    return this.#trigramSchema ??= this.#query(
      `select n.nspname as schema from pg_extension e
         join pg_namespace n on n.oid = e.extnamespace where e.extname = 'pg_trgm'`,
    ).then((rows) => rows[0] ? String(rows[0].schema) : null).catch(() => null);
  }
}

/** What {@link readAnalysis} needs besides the statement. */
export interface AnalysisContext {
  query: stats.QueryFn;
  catalog: CatalogProbe;
  options: QueryPlanOptions;
  metrics: Metrics;
  now: () => number;
  /** How often this isolate ran the statement so far (hot-query advice). */
  localCalls: () => number;
}

/**
 * Reads one statement's plan and everything the advice needs, records the analysis metrics
 * (`queryplan.analyses`, `queryplan.seq_scans`, `queryplan.advice`, `queryplan.analysis.ms`).
 *
 * @example
 * ```ts
 * const a = await readAnalysis(sql, normalizeSql(sql), params, false, context);
 * a.seqScans; // sequential scans on relations of at least `seqScanRowThreshold` rows
 * ```
 */
export async function readAnalysis(
  sql: string,
  normalized: string,
  params: readonly unknown[],
  measured: boolean,
  context: AnalysisContext,
): Promise<QueryPlanAnalysis> {
  const { query, options, metrics } = context;
  const started = performance.now();
  const explain = measured
    ? 'explain (analyze, buffers, format json, verbose)'
    : 'explain (format json, verbose)';
  const [row] = await query(`${explain} ${sql}`, params);
  if (!row) throw new Error(`EXPLAIN returned no rows for ${JSON.stringify(sql.slice(0, 80))}`);
  const plan = summarizePlan(row['QUERY PLAN'] ?? Object.values(row)[0]);
  const relations = new Map<string, RelationInfo>();
  for (const scan of plan.scans) {
    if (!scan.relation) continue;
    const schema = scan.schema ?? 'public';
    const name = `${schema}.${scan.relation}`;
    if (relations.has(name)) continue;
    // One after the other: side by side they held two connections (a cold isolate opened both).
    const table = await stats.readTableStats(query, schema, scan.relation);
    const indexes = await stats.readIndexes(query, schema, scan.relation);
    relations.set(name, { stats: table, indexes });
  }
  let statement: stats.StatementStats | undefined;
  if (plan.queryId && await context.catalog.hasStatStatements()) {
    statement = await stats.readStatementStats(query, plan.queryId).catch(() => undefined);
  }
  const trigramSchema = await context.catalog.pgTrgmSchema();
  const seqScans: SeqScanFinding[] = [];
  const advice: IndexAdvice[] = [];
  const skipped: SkippedAdvice[] = [];
  for (const scan of plan.scans) {
    if (scan.kind !== 'seq' || !scan.relation) continue;
    const relation = `${scan.schema ?? 'public'}.${scan.relation}`;
    const info = relations.get(relation);
    if (!info?.stats) continue;
    if (info.stats.rows >= options.seqScanRowThreshold) {
      const finding: SeqScanFinding = {
        relation,
        relationRows: info.stats.rows,
        estimatedRows: scan.estimatedRows,
        cost: scan.totalCost,
      };
      if (scan.filter) finding.filter = scan.filter;
      seqScans.push(finding);
    }
    const result = adviseIndexes({
      scan,
      table: info.stats,
      indexes: info.indexes,
      statement,
      localCalls: context.localCalls(),
      seqScanRowThreshold: options.seqScanRowThreshold,
      adviceMaxSelectivity: options.adviceMaxSelectivity,
      hotQueryMinCalls: options.hotQueryMinCalls,
      trigramOpclass: trigramSchema ? `${trigramSchema}.gin_trgm_ops` : 'gin_trgm_ops',
    });
    for (const a of result.advice) if (!advice.some((b) => b.sql === a.sql)) advice.push(a);
    skipped.push(...result.skipped);
  }
  metrics.increment('queryplan.analyses');
  if (seqScans.length) metrics.increment('queryplan.seq_scans', seqScans.length);
  if (advice.length) metrics.increment('queryplan.advice', advice.length);
  metrics.observe('queryplan.analysis.ms', performance.now() - started);
  const analysis: QueryPlanAnalysis = {
    sql: normalized,
    analyzedAt: context.now(),
    fromCache: false,
    measured,
    plan,
    tables: [...relations.values()].flatMap((r) => r.stats ? [r.stats] : []),
    seqScans,
    advice,
    skipped,
  };
  if (statement) analysis.statement = statement;
  return analysis;
}
