/**
 * Reads what the server knows about a relation and a statement: `pg_stat_user_tables`
 * (sequential versus index scans, live rows), `pg_class.reltuples`, the relation's indexes, and
 * `pg_stat_statements` where it is installed and loaded. Every function takes the same
 * driver-neutral {@link QueryFn}, so postgres.js and PGlite both work.
 *
 * @module
 */

/**
 * Runs one SQL statement with positional parameters (`$1`...) and returns its rows.
 *
 * @example
 * ```ts
 * // postgres.js
 * const query: QueryFn = (text, params = []) => sql.unsafe(text, params as never[]);
 * // PGlite
 * const query: QueryFn = async (text, params = []) => (await pglite.query(text, [...params])).rows;
 * ```
 */
export type QueryFn = (
  sql: string,
  params?: readonly unknown[],
) => Promise<readonly Record<string, unknown>[]>;

/** Statistics of one relation. */
export interface TableStats {
  schema: string;
  table: string;
  /** Live rows (`pg_stat_user_tables.n_live_tup`). */
  liveRows: number;
  /** Planner's row estimate (`pg_class.reltuples`; -1 when never analysed). */
  reltuples: number;
  /**
   * The size the advice reasons with: `reltuples` once the table was analysed (what the planner
   * uses; `n_live_tup` can count a bulk load twice when its counts arrive after a vacuum), else
   * `n_live_tup`.
   */
  rows: number;
  /** Sequential scans started on it since the statistics were reset. */
  seqScans: number;
  /** Rows read by those sequential scans. */
  seqTupRead: number;
  /** Index scans started on it. */
  idxScans: number;
}

/** One existing index of a relation. */
export interface ExistingIndex {
  name: string;
  /** Access method: `btree`, `gin`, `gist`... */
  method: string;
  /** Plain columns in index order (expression columns are left out). */
  columns: string[];
  /** `pg_get_indexdef` output. */
  definition: string;
  /** Built and usable (`indisvalid`; a failed `create index concurrently` leaves it false). */
  valid: boolean;
  /** Partial index (has a `where`). */
  partial: boolean;
}

/** `pg_stat_statements` figures of one statement, summed over users and databases. */
export interface StatementStats {
  calls: number;
  meanTimeMs: number;
  totalTimeMs: number;
  rows: number;
}

const num = (value: unknown): number => (value === null || value === undefined ? 0 : Number(value));

/**
 * Reads one relation's statistics; `undefined` when it is not a user table.
 *
 * @example
 * ```ts
 * const stats = await readTableStats(query, 'public', 'robots');
 * stats?.seqScans; // sequential scans since the last stats reset
 * ```
 */
export async function readTableStats(
  query: QueryFn,
  schema: string,
  table: string,
): Promise<TableStats | undefined> {
  const [row] = await query(
    `select s.n_live_tup, c.reltuples, s.seq_scan, s.seq_tup_read, s.idx_scan
       from pg_stat_user_tables s join pg_class c on c.oid = s.relid
      where s.schemaname = $1 and s.relname = $2`,
    [schema, table],
  );
  if (!row) return undefined;
  const liveRows = num(row.n_live_tup);
  const reltuples = num(row.reltuples);
  return {
    schema,
    table,
    liveRows,
    reltuples,
    rows: reltuples >= 0 ? reltuples : liveRows,
    seqScans: num(row.seq_scan),
    seqTupRead: num(row.seq_tup_read),
    idxScans: num(row.idx_scan),
  };
}

/**
 * Lists a relation's indexes with their plain columns in order.
 *
 * @example
 * ```ts
 * (await readIndexes(query, 'public', 'robots')).map((i) => i.definition);
 * ```
 */
export async function readIndexes(
  query: QueryFn,
  schema: string,
  table: string,
): Promise<ExistingIndex[]> {
  const rows = await query(
    `select i.relname as name, am.amname as method, ix.indisvalid as valid,
            ix.indpred is not null as partial, pg_get_indexdef(ix.indexrelid) as definition,
            coalesce((select json_agg(a.attname order by k.ord)
                        from unnest(ix.indkey) with ordinality as k(attnum, ord)
                        join pg_attribute a on a.attrelid = ix.indrelid and a.attnum = k.attnum
                       where k.ord <= ix.indnkeyatts), '[]')::text as columns
       from pg_index ix
       join pg_class i on i.oid = ix.indexrelid
       join pg_class t on t.oid = ix.indrelid
       join pg_namespace n on n.oid = t.relnamespace
       join pg_am am on am.oid = i.relam
      where n.nspname = $1 and t.relname = $2
      order by i.relname`,
    [schema, table],
  );
  return rows.map((row) => ({
    name: String(row.name),
    method: String(row.method),
    columns: JSON.parse(String(row.columns)) as string[],
    definition: String(row.definition),
    valid: row.valid === true || row.valid === 't',
    partial: row.partial === true || row.partial === 't',
  }));
}

/**
 * Whether `pg_stat_statements` can be read: the extension is created in this database and its
 * library is loaded (otherwise selecting from the view raises an error, which would abort the
 * caller's transaction).
 *
 * @example
 * ```ts
 * if (await hasPgStatStatements(query)) await readStatementStats(query, queryId);
 * ```
 */
export async function hasPgStatStatements(query: QueryFn): Promise<boolean> {
  const [row] = await query(
    `select exists (select 1 from pg_extension where extname = 'pg_stat_statements')
            and current_setting('shared_preload_libraries') ~ '(^|[ ,])pg_stat_statements($|[ ,])'
            as available`,
  );
  return row?.available === true || row?.available === 't';
}

/**
 * Reads `pg_stat_statements` for one query id (from `EXPLAIN (VERBOSE)`'s `Query Identifier`) in
 * the current database; `undefined` when the statement has not run yet. The id is compared as a
 * double because drivers that parse EXPLAIN's JSON round it to one (a collision needs two
 * statements whose ids agree in their top 53 bits).
 *
 * @example
 * ```ts
 * const stats = await readStatementStats(query, plan.queryId!);
 * stats?.meanTimeMs;
 * ```
 */
export async function readStatementStats(
  query: QueryFn,
  queryId: string,
): Promise<StatementStats | undefined> {
  const [row] = await query(
    `select sum(calls) as calls, sum(total_exec_time) as total, sum(rows) as rows
       from pg_stat_statements
      where queryid::float8 = $1::float8
        and dbid = (select oid from pg_database where datname = current_database())`,
    [queryId],
  );
  const calls = num(row?.calls);
  if (!row || calls === 0) return undefined;
  const totalTimeMs = num(row.total);
  return { calls, totalTimeMs, meanTimeMs: totalTimeMs / calls, rows: num(row.rows) };
}
