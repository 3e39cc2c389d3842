/**
 * The spec's "analyzes table structures and filters": one query-plan analyser per SQL client
 * (`query(sql, params)`, not supabase-js), and the probe statement an origin call's table and
 * equality filters become, analysed in the background.
 *
 * @module
 */
import type { OptimizationConfig } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import { type IndexAdvice, QueryPlanOptimizer } from '../query-plan/mod.ts';

/** A client the query-plan advisor can run `EXPLAIN` through (the project's `Database`). */
export interface SqlClient {
  query(sql: string, params?: readonly unknown[]): Promise<Record<string, unknown>[]>;
}

/**
 * Whether `client` runs SQL with `query(sql, params)`.
 *
 * @example
 * ```ts
 * isSqlClient(await getDatabase()); // true
 * isSqlClient(supabase); // false: supabase-js has from(), no SQL
 * ```
 */
export function isSqlClient(client: unknown): client is SqlClient & object {
  return typeof client === 'object' && client !== null &&
    typeof (client as Partial<SqlClient>).query === 'function' &&
    // supabase-js has no query(); postgres.js sql`` is a function, not this shape.
    !('from' in client);
}

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;
/** Paging knobs: not filters. */
const NOT_FILTERS = ['limit', 'offset', 'cursor', 'order'];

/**
 * `select * from <table> where <col> = $n ... limit 100` for the scalar equality filters on
 * plain columns; `undefined` when the table's name is not a plain identifier (optionally
 * schema-qualified). Other names and values are skipped.
 *
 * @example
 * ```ts
 * filterProbe('robots', { strategy_type: 'grid', limit: 20 });
 * // { sql: 'select * from public.robots where strategy_type = $1 limit 100', params: ['grid'] }
 * ```
 */
export function filterProbe(
  table: string,
  filters?: Record<string, unknown>,
): { sql: string; params: unknown[] } | undefined {
  const [schema, name] = table.includes('.') ? table.split('.', 2) : ['public', table];
  if (!IDENTIFIER.test(schema) || !IDENTIFIER.test(name)) return undefined;
  const conditions: string[] = [];
  const params: unknown[] = [];
  for (const [column, value] of Object.entries(filters ?? {})) {
    if (!IDENTIFIER.test(column) || NOT_FILTERS.includes(column)) continue;
    if (value === null || !['string', 'number', 'boolean'].includes(typeof value)) continue;
    params.push(value);
    conditions.push(`${column} = $${params.length}`);
  }
  const where = conditions.length ? ` where ${conditions.join(' and ')}` : '';
  return { sql: `select * from ${schema}.${name}${where} limit 100`, params };
}

/**
 * One plan analyser per SQL client (the analyses and their cache belong to that database).
 *
 * @example
 * ```ts
 * const plans = new QueryPlansByClient(config, metrics);
 * plans.inspectFilters(db, 'robots', { strategy_type: 'grid' });
 * plans.advice(db); // later: advice for hot filters that scan
 * ```
 */
export class QueryPlansByClient {
  #analysers = new WeakMap<object, QueryPlanOptimizer>();
  readonly #config: OptimizationConfig;
  readonly #metrics: Metrics;

  constructor(config: OptimizationConfig, metrics: Metrics) {
    this.#config = config;
    this.#metrics = metrics;
  }

  /**
   * The query-plan analyser of a SQL client, created on first use; `undefined` for other
   * clients (supabase-js).
   */
  for(client: unknown): QueryPlanOptimizer | undefined {
    if (!isSqlClient(client)) return undefined;
    let analyser = this.#analysers.get(client);
    if (!analyser) {
      analyser = new QueryPlanOptimizer({
        query: (sql, params) => client.query(sql, params ?? []),
        metrics: this.#metrics,
        enabled: this.#config.enableQueryPlanOptimization,
        options: this.#config.queryPlan,
      });
      this.#analysers.set(client, analyser);
    }
    return analyser;
  }

  /** Index advice gathered so far for a SQL client's hot filters. */
  advice(client: unknown): IndexAdvice[] {
    return this.for(client)?.advice() ?? [];
  }

  /**
   * On an origin call with a SQL client, the table and equality filters become
   * `select * from <table> where <col> = $n`, analysed in the background at most once per
   * `queryPlan.analysisCacheTtlMs` (index scan or sequential scan, advice for a hot filter that
   * scans). Names that are not plain identifiers are skipped. With `after` (the origin call),
   * the analysis waits for it and its answer (`QueryPlanOptimizer.inspect`).
   */
  inspectFilters(
    client: unknown,
    table?: string,
    filters?: Record<string, unknown>,
    after?: PromiseLike<unknown>,
  ): void {
    if (!table || !this.#config.enableQueryPlanOptimization) return;
    const analyser = this.for(client);
    if (!analyser) return;
    const probe = this.#probe(table, filters);
    if (probe) analyser.inspect(probe.sql, probe.params, after);
  }

  // Probe SQL by the call's shape (table, filter names, which values are scalars): every read of
  // one route has the same shape, so its SQL is built and checked once, not on every miss.
  #probes = new Map<string, { sql: string; columns: string[] } | null>();

  #probe(
    table: string,
    filters: Record<string, unknown> | undefined,
  ): { sql: string; params: unknown[] } | undefined {
    // Length-prefixed parts: no two shapes spell the same key.
    let shape = `${table.length}:${table}`;
    for (const column in filters) {
      const value = filters[column];
      const scalar = value !== null &&
        (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean');
      shape += `${scalar ? 's' : 'o'}${column.length}:${column}`;
    }
    let known = this.#probes.get(shape);
    if (known === undefined) {
      const probe = filterProbe(table, filters);
      known = probe ? { sql: probe.sql, columns: probeColumns(filters) } : null;
      if (this.#probes.size >= MAX_PROBE_SHAPES) this.#probes.clear();
      this.#probes.set(shape, known);
    }
    if (known === null) return undefined;
    const params: unknown[] = [];
    for (const column of known.columns) params.push(filters![column]);
    return { sql: known.sql, params };
  }
}

/** Most distinct probe shapes remembered (a few per route in practice). */
const MAX_PROBE_SHAPES = 256;

/** The filters {@link filterProbe} turned into conditions, in its order. */
function probeColumns(filters: Record<string, unknown> | undefined): string[] {
  const columns: string[] = [];
  for (const [column, value] of Object.entries(filters ?? {})) {
    if (!IDENTIFIER.test(column) || NOT_FILTERS.includes(column)) continue;
    if (value === null || !['string', 'number', 'boolean'].includes(typeof value)) continue;
    columns.push(column);
  }
  return columns;
}
