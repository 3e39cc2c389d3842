/**
 * Turns a sequential scan on a large relation into concrete index advice: the columns come from
 * the plan's `Filter` (equality columns first, then the sort keys or one range column, as a
 * btree serves them), a trigram GIN index for `LIKE '%...%'`, regular expressions and pg_trgm
 * similarity, and nothing where an index already covers the columns or the filter keeps too
 * much of the table for an index to pay.
 *
 * @module
 */
import type { ConditionColumn } from './conditions.ts';
import type { ScanSummary } from './plan.ts';
import type { ExistingIndex, StatementStats, TableStats } from './stats.ts';

/** What backs a piece of advice. */
export interface AdviceEvidence {
  /** Rows in the relation (`reltuples`, or live rows before the first analyze). */
  relationRows: number;
  /** Rows the planner expects the filter to keep. */
  estimatedRows: number;
  /** `estimatedRows / relationRows`. */
  selectivity: number;
  /** Planner cost of the sequential scan. */
  scanCost: number;
  /** Sequential scans on the relation so far (`pg_stat_user_tables.seq_scan`). */
  seqScans: number;
  /** Index scans on the relation so far. */
  idxScans: number;
  /** Rows read by sequential scans so far. */
  seqTupRead: number;
  /** How often the query ran: `pg_stat_statements.calls`, else the analyses asked for it here. */
  calls: number;
  /** Where `calls` comes from. */
  callsSource: 'pg_stat_statements' | 'optimizer';
  /** Mean execution time, ms (`pg_stat_statements` only). */
  meanTimeMs?: number;
}

/** One index to create. */
export interface IndexAdvice {
  /** `schema.table`. */
  relation: string;
  /** Proposed index name. */
  indexName: string;
  method: 'btree' | 'gin';
  /** Index columns in order, with `desc` or the operator class where needed. */
  columns: string[];
  /** The statement to run (alone, outside a transaction: it is `concurrently`). */
  sql: string;
  /** Why, in one sentence, with the figures. */
  reason: string;
  /** `high` for hot queries (calls >= `hotQueryMinCalls`). */
  priority: 'high' | 'normal';
  evidence: AdviceEvidence;
}

/** A sequential scan that got no advice, and why. */
export interface SkippedAdvice {
  relation: string;
  reason: string;
}

/** Inputs of {@link adviseIndexes}. */
export interface AdviseInput {
  scan: ScanSummary;
  table: TableStats;
  indexes: readonly ExistingIndex[];
  statement?: StatementStats;
  /** Analyses asked for this query here (the hotness fallback without pg_stat_statements). */
  localCalls: number;
  seqScanRowThreshold: number;
  adviceMaxSelectivity: number;
  hotQueryMinCalls: number;
  /**
   * Trigram operator class, schema-qualified where pg_trgm lives (`extensions.gin_trgm_ops` on
   * Supabase). @default 'gin_trgm_ops'
   */
  trigramOpclass?: string;
}

const MAX_IDENTIFIER = 63;

/** Quotes an identifier only when PostgreSQL needs it. */
export function quoteIdent(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) && !RESERVED.has(name)
    ? name
    : `"${name.replace(/"/g, '""')}"`;
}

const RESERVED = new Set([
  'all',
  'and',
  'any',
  'array',
  'as',
  'asc',
  'case',
  'check',
  'column',
  'constraint',
  'create',
  'default',
  'desc',
  'distinct',
  'do',
  'else',
  'end',
  'for',
  'foreign',
  'from',
  'grant',
  'group',
  'having',
  'in',
  'limit',
  'not',
  'null',
  'offset',
  'on',
  'or',
  'order',
  'primary',
  'references',
  'select',
  'table',
  'then',
  'to',
  'union',
  'unique',
  'user',
  'using',
  'when',
  'where',
  'with',
]);

function indexName(table: string, columns: string[], suffix: string): string {
  const name = `${table}_${columns.join('_')}_${suffix}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  return name.length <= MAX_IDENTIFIER ? name : name.slice(0, MAX_IDENTIFIER);
}

/** Columns a btree should have, in order: equality, then the sort keys or one range column. */
function btreeColumns(scan: ScanSummary): { name: string; spec: string }[] {
  const out: { name: string; spec: string }[] = [];
  const add = (name: string, spec = quoteIdent(name)) => {
    if (!out.some((c) => c.name === name)) out.push({ name, spec });
  };
  const and = scan.filterColumns.filter((c) => !c.inOr);
  for (const c of and) if (c.kind === 'equality') add(c.column);
  // `a = 1 OR a = 2` on one column is an IN list: still an equality on it.
  const or = scan.filterColumns.filter((c) => c.inOr);
  if (or.length && or.every((c) => c.kind === 'equality' && c.column === or[0].column)) {
    add(or[0].column);
  }
  if (scan.sortKeys.length) {
    for (const k of scan.sortKeys) {
      add(k.column, `${quoteIdent(k.column)}${k.descending ? ' desc' : ''}`);
    }
  } else {
    const range = and.find((c) => c.kind === 'range');
    if (range) add(range.column);
  }
  return out;
}

/** Columns a trigram GIN index serves: patterns under AND, or OR groups made only of patterns. */
function trigramColumns(scan: ScanSummary): string[] {
  const isText = (c: ConditionColumn) => c.kind === 'pattern' || c.kind === 'similarity';
  const and = scan.filterColumns.filter((c) => !c.inOr && isText(c)).map((c) => c.column);
  const or = scan.filterColumns.filter((c) => c.inOr);
  const orColumns = or.length && or.every(isText) ? or.map((c) => c.column) : [];
  return [...new Set([...and, ...orColumns])];
}

function covered(indexes: readonly ExistingIndex[], method: string, columns: string[]): boolean {
  return indexes.some((index) =>
    index.valid && !index.partial && index.method === method &&
    columns.every((c, i) => index.columns[i] === c) &&
    (method !== 'gin' || /gin_trgm_ops/.test(index.definition))
  );
}

/**
 * Advice for one sequential scan, and the reasons for what was not advised.
 *
 * @example
 * ```ts
 * const { advice } = adviseIndexes({ scan, table, indexes, localCalls: 1,
 *   seqScanRowThreshold: 10_000, adviceMaxSelectivity: 0.2, hotQueryMinCalls: 50 });
 * advice[0]?.sql; // 'create index concurrently if not exists robots_strategy_type_idx on public.robots using btree (strategy_type)'
 * ```
 */
export function adviseIndexes(
  input: AdviseInput,
): { advice: IndexAdvice[]; skipped: SkippedAdvice[] } {
  const { scan, table } = input;
  const relation = `${table.schema}.${table.table}`;
  const target = `${quoteIdent(table.schema)}.${quoteIdent(table.table)}`;
  const advice: IndexAdvice[] = [];
  const skipped: SkippedAdvice[] = [];
  if (scan.kind !== 'seq') return { advice, skipped };
  if (table.rows < input.seqScanRowThreshold) {
    skipped.push({
      relation,
      reason:
        `${relation} has ${table.rows} rows, below seqScanRowThreshold ${input.seqScanRowThreshold}: a scan is cheap`,
    });
    return { advice, skipped };
  }
  const selectivity = table.rows > 0 ? Math.min(1, scan.estimatedRows / table.rows) : 1;
  const calls = input.statement?.calls ?? input.localCalls;
  const evidence: AdviceEvidence = {
    relationRows: table.rows,
    estimatedRows: scan.estimatedRows,
    selectivity: Number(selectivity.toFixed(4)),
    scanCost: scan.totalCost,
    seqScans: table.seqScans,
    idxScans: table.idxScans,
    seqTupRead: table.seqTupRead,
    calls,
    callsSource: input.statement ? 'pg_stat_statements' : 'optimizer',
  };
  if (input.statement) evidence.meanTimeMs = Number(input.statement.meanTimeMs.toFixed(3));
  const priority = calls >= input.hotQueryMinCalls ? 'high' : 'normal';
  const percent = `${(selectivity * 100).toFixed(selectivity < 0.01 ? 3 : 1)}%`;
  const head = `Seq Scan on ${relation} (${table.rows} rows, cost ${scan.totalCost}, ` +
    `${table.seqScans} seq scans vs ${table.idxScans} index scans so far)`;

  const opclass = input.trigramOpclass ?? 'gin_trgm_ops';
  for (const column of trigramColumns(scan)) {
    if (covered(input.indexes, 'gin', [column])) continue;
    const name = indexName(table.table, [column], 'trgm_idx');
    advice.push({
      relation,
      indexName: name,
      method: 'gin',
      columns: [`${quoteIdent(column)} ${opclass}`],
      sql: `create index concurrently if not exists ${name} on ${target} using gin (${
        quoteIdent(column)
      } ${opclass})`,
      reason: `${head} matches ${column} against a pattern (${scan.filter}); ` +
        `a trigram GIN index (extension pg_trgm) serves LIKE/ILIKE '%...%', regex and similarity`,
      priority,
      evidence,
    });
  }

  const columns = btreeColumns(scan);
  const sortServesLimit = scan.limited && scan.sortKeys.length > 0;
  if (columns.length === 0) {
    if (!advice.length) {
      skipped.push({ relation, reason: `${head}: no indexable plain-column filter or sort` });
    }
  } else if (selectivity > input.adviceMaxSelectivity && !sortServesLimit) {
    skipped.push({
      relation,
      reason: `${head}: the filter keeps ${percent} of the rows, above adviceMaxSelectivity ` +
        `${input.adviceMaxSelectivity}: an index would not beat the scan`,
    });
  } else if (covered(input.indexes, 'btree', columns.map((c) => c.name))) {
    skipped.push({
      relation,
      reason: `${head}: an index on (${
        columns.map((c) => c.name).join(', ')
      }) exists; the planner preferred the scan (check statistics: analyze ${relation})`,
    });
  } else {
    const name = indexName(table.table, columns.map((c) => c.name), 'idx');
    const specs = columns.map((c) => c.spec);
    const why = sortServesLimit
      ? `filters on ${describe(scan)} and sorts by ${
        scan.sortKeys.map((k) => k.column + (k.descending ? ' desc' : '')).join(', ')
      } under a limit: an index in that order reads only the rows returned`
      : `keeps ${scan.estimatedRows} rows (${percent}) through the filter ${scan.filter}`;
    advice.push({
      relation,
      indexName: name,
      method: 'btree',
      columns: specs,
      sql: `create index concurrently if not exists ${name} on ${target} using btree (${
        specs.join(', ')
      })`,
      reason: `${head} ${why}`,
      priority,
      evidence,
    });
  }
  return { advice, skipped };
}

function describe(scan: ScanSummary): string {
  const filters = scan.filterColumns.map((c) =>
    /^IS /.test(c.operator) ? `${c.column} ${c.operator}` : `${c.column} ${c.operator} ?`
  );
  return filters.length ? filters.join(', ') : 'nothing';
}
