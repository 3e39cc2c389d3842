/**
 * Walks the JSON of `EXPLAIN (FORMAT JSON, VERBOSE)` into a flat, typed summary: which scans ran
 * on which relations, through which index, with what estimated rows and cost, filtering on which
 * columns, under which sort.
 *
 * @module
 */
import {
  type ConditionColumn,
  parseConditionColumns,
  parseSortKey,
  type SortKeyColumn,
} from './conditions.ts';

/** One node of `EXPLAIN (FORMAT JSON)` output (the fields read here). */
export interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  Schema?: string;
  Alias?: string;
  'Index Name'?: string;
  'Startup Cost': number;
  'Total Cost': number;
  'Plan Rows': number;
  'Parallel Aware'?: boolean;
  'Workers Planned'?: number;
  Filter?: string;
  'Index Cond'?: string;
  'Recheck Cond'?: string;
  'Sort Key'?: string[];
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Actual Total Time'?: number;
  Plans?: PlanNode[];
  [field: string]: unknown;
}

/** The top-level object of `EXPLAIN (FORMAT JSON)` (one per statement). */
export interface ExplainOutput {
  Plan: PlanNode;
  'Query Identifier'?: number | string;
  'Planning Time'?: number;
  'Execution Time'?: number;
}

/** How a scan reads its relation. */
export type ScanKind = 'seq' | 'index' | 'index-only' | 'bitmap-index' | 'bitmap-heap';

/** One scan node of the plan. */
export interface ScanSummary {
  /** PostgreSQL's node type, e.g. `Seq Scan`, `Index Only Scan`. */
  nodeType: string;
  kind: ScanKind;
  /** Relation scanned; bitmap index scans name only the index. */
  relation?: string;
  schema?: string;
  alias?: string;
  indexName?: string;
  /** Planner's estimate of the rows this scan returns, all parallel workers together. */
  estimatedRows: number;
  /** Planner's total cost of this node (arbitrary units; sequential page = 1). */
  totalCost: number;
  /** Rows really returned (`EXPLAIN ANALYZE` only), all loops together. */
  actualRows?: number;
  /** The `Filter` text, as printed. */
  filter?: string;
  /** The `Index Cond` (or `Recheck Cond`) text, as printed. */
  indexCond?: string;
  /** Columns of the `Filter`. */
  filterColumns: ConditionColumn[];
  /** Columns of the `Index Cond` / `Recheck Cond`. */
  indexColumns: ConditionColumn[];
  /** Keys of the nearest `Sort` above this scan that sort this relation's columns. */
  sortKeys: SortKeyColumn[];
  /** A `Limit` sits above the sort: an index in sort order would stop after a few rows. */
  limited: boolean;
  parallel: boolean;
}

/** The whole plan, summarised. */
export interface PlanSummary {
  /** Root node's total cost. */
  totalCost: number;
  /** Root node's estimated rows. */
  estimatedRows: number;
  /** Every node type that occurs, once each, in plan order. */
  nodeTypes: string[];
  scans: ScanSummary[];
  /** `schema.relation` of every relation read by a sequential scan. */
  seqScanRelations: string[];
  /** Some scan reads through an index. */
  usesIndex: boolean;
  /**
   * `pg_stat_statements`' query id, when the server computes it (`compute_query_id`). Exact when
   * the plan arrives as text; drivers that parse the JSON themselves (postgres.js, PGlite) round
   * this 64-bit number to a double, so it is matched as `queryid::float8` (see
   * `readStatementStats`).
   */
  queryId?: string;
  /** Measured execution time (`EXPLAIN ANALYZE` only), ms. */
  executionTimeMs?: number;
}

const SCAN_KINDS: Record<string, ScanKind> = {
  'Seq Scan': 'seq',
  'Index Scan': 'index',
  'Index Only Scan': 'index-only',
  'Bitmap Index Scan': 'bitmap-index',
  'Bitmap Heap Scan': 'bitmap-heap',
};

// Nodes that hand their input's rows on in the same order.
const PASS_THROUGH = new Set(['Result', 'Materialize', 'Memoize', 'Unique', 'Subquery Scan']);

interface WalkContext {
  sortKeys: string[];
  limited: boolean;
  /** Rows of a parallel-aware node are per process; this multiplies them back. */
  parallelDivisor: number;
}

// PostgreSQL's own estimate of how much work the leader does beside its workers
// (costsize.c, get_parallel_divisor).
function parallelDivisor(workers: number): number {
  const leader = 1 - 0.3 * workers;
  return workers + (leader > 0 ? leader : 0);
}

/**
 * Summarises `EXPLAIN (FORMAT JSON)` output (the parsed array, its first element, or the text).
 *
 * @example
 * ```ts
 * const [row] = await query('explain (format json, verbose) select * from robots where name = $1', ['x']);
 * const plan = summarizePlan(row['QUERY PLAN']);
 * plan.seqScanRelations; // ['public.robots'] when no index serves the filter
 * ```
 */
export function summarizePlan(explain: unknown): PlanSummary {
  const output = normalizeExplain(explain);
  // Read the 64-bit id from the text before JSON.parse rounds it.
  const exactId = typeof explain === 'string'
    ? /"Query Identifier":\s*(-?\d+)/.exec(explain)?.[1]
    : undefined;
  const scans: ScanSummary[] = [];
  const nodeTypes: string[] = [];
  const walk = (node: PlanNode, context: WalkContext): void => {
    const type = node['Node Type'];
    if (!nodeTypes.includes(type)) nodeTypes.push(type);
    const kind = SCAN_KINDS[type];
    if (kind) scans.push(scanOf(node, kind, context));
    let next = context;
    if (type === 'Sort' || type === 'Incremental Sort') {
      next = { ...context, sortKeys: node['Sort Key'] ?? [] };
    } else if (type === 'Limit') {
      // A sort that feeds a limit must sit below it.
      next = { ...context, limited: true, sortKeys: [] };
    } else if (type === 'Gather' || type === 'Gather Merge') {
      next = { ...context, parallelDivisor: parallelDivisor(node['Workers Planned'] ?? 0) };
    } else if (!PASS_THROUGH.has(type)) {
      // Joins, aggregates and bitmap heap scans change what a sort above refers to.
      next = { ...context, sortKeys: [], limited: false };
    }
    for (const child of node.Plans ?? []) walk(child, next);
  };
  walk(output.Plan, { sortKeys: [], limited: false, parallelDivisor: 1 });
  const seqScanRelations = [
    ...new Set(
      scans.filter((s) => s.kind === 'seq' && s.relation).map((s) =>
        `${s.schema ?? 'public'}.${s.relation}`
      ),
    ),
  ];
  const summary: PlanSummary = {
    totalCost: output.Plan['Total Cost'],
    estimatedRows: output.Plan['Plan Rows'],
    nodeTypes,
    scans,
    seqScanRelations,
    usesIndex: scans.some((s) => s.kind !== 'seq'),
  };
  const queryId = exactId ?? output['Query Identifier'];
  if (queryId !== undefined && String(queryId) !== '0') summary.queryId = String(queryId);
  if (output['Execution Time'] !== undefined) summary.executionTimeMs = output['Execution Time'];
  return summary;
}

function scanOf(node: PlanNode, kind: ScanKind, context: WalkContext): ScanSummary {
  const alias = node.Alias ?? node['Relation Name'];
  const belongs = (qualifier?: string) => qualifier === undefined || qualifier === alias;
  const indexCond = node['Index Cond'] ?? node['Recheck Cond'];
  const divisor = node['Parallel Aware'] ? context.parallelDivisor : 1;
  const sortKeys = context.sortKeys.map(parseSortKey);
  const scan: ScanSummary = {
    nodeType: node['Node Type'],
    kind,
    estimatedRows: Math.round(node['Plan Rows'] * divisor),
    totalCost: node['Total Cost'],
    filterColumns: parseConditionColumns(node.Filter).filter((c) => belongs(c.qualifier)),
    indexColumns: parseConditionColumns(indexCond).filter((c) => belongs(c.qualifier)),
    // A sort on an expression, or on another relation's column, cannot come from this index.
    sortKeys: sortKeys.every((k) => k && belongs(k.qualifier)) ? sortKeys as SortKeyColumn[] : [],
    limited: context.limited && context.sortKeys.length > 0,
    parallel: Boolean(node['Parallel Aware']),
  };
  if (node['Relation Name']) scan.relation = node['Relation Name'];
  if (node.Schema) scan.schema = node.Schema;
  if (alias) scan.alias = alias;
  if (node['Index Name']) scan.indexName = node['Index Name'];
  if (node.Filter) scan.filter = node.Filter;
  if (indexCond) scan.indexCond = indexCond;
  if (node['Actual Rows'] !== undefined) {
    scan.actualRows = node['Actual Rows'] * (node['Actual Loops'] ?? 1);
  }
  return scan;
}

/** Accepts the `QUERY PLAN` value as drivers return it: parsed array, object, or JSON text. */
export function normalizeExplain(explain: unknown): ExplainOutput {
  let value = typeof explain === 'string' ? JSON.parse(explain) : explain;
  if (Array.isArray(value)) value = value[0];
  if (!value || typeof value !== 'object' || !('Plan' in value)) {
    throw new TypeError(
      `expected EXPLAIN (FORMAT JSON) output with a 'Plan': received ${
        JSON.stringify(explain)?.slice(0, 200)
      }`,
    );
  }
  return value as ExplainOutput;
}
