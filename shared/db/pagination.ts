/**
 * Keyset pagination and field selection shared by the repositories: opaque cursors over
 * `(created_at, id)`, bounded limits, whitelisted fields, and page metadata with a total that is
 * estimated from planner statistics by default and exact on request.
 *
 * @module
 */
import { DbValidationError } from './errors.ts';
import { isUuid } from './claims.ts';
import type { SqlExecutor } from './types.ts';
import { chooseCountStrategy } from './query_strategy.ts';

/** Default page size. */
export const DEFAULT_PAGE_LIMIT = 20;
/** Largest page size a caller may ask for. */
export const MAX_PAGE_LIMIT = 100;

/** How `total` is computed: planner estimate (cheap), `count(*)` (exact, O(rows)), or not at all. */
export type TotalMode = 'estimated' | 'exact' | 'none';

/** Pagination input. */
export interface PageOptions {
  /**
   * Rows per page, 1..{@link MAX_PAGE_LIMIT}.
   * @default 20
   */
  limit?: number;
  /** `nextCursor` of the previous page; omit for the first page. */
  cursor?: string | null;
  /**
   * How to compute `total`.
   * @default 'estimated'
   */
  total?: TotalMode;
}

/** A page with its metadata. */
export interface Page<T> {
  items: T[];
  limit: number;
  /** Opaque cursor of the next page, `null` on the last page. */
  nextCursor: string | null;
  hasMore: boolean;
  /** Rows matching the filters (all pages), `null` when `total: 'none'`. */
  total: number | null;
  /** Whether `total` is exact (counted) or a planner estimate. */
  totalExact: boolean;
}

/** Decoded keyset position: the last row's `created_at` (UTC, microseconds) and `id`. */
export interface CursorPosition {
  createdAt: string;
  id: string;
}

const TIMESTAMP_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?Z$/;

/**
 * Whether `text` is a UTC timestamp that exists on the calendar (no 2026-02-30, month 13, hour
 * 25, minute 60 or year 0000): Postgres would answer those with a data exception.
 */
function isRealTimestamp(text: string): boolean {
  const m = TIMESTAMP_RE.exec(text);
  if (!m) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  if (year < 1 || month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) return false;
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  return date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

function toBase64Url(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64Url(text: string): string {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
  return new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
}

/**
 * Encodes a keyset position as an opaque base64url cursor.
 *
 * @example
 * ```ts
 * encodeCursor({ createdAt: '2026-01-01T00:00:00.000001Z', id: crypto.randomUUID() });
 * ```
 */
export function encodeCursor(position: CursorPosition): string {
  return toBase64Url(JSON.stringify([position.createdAt, position.id]));
}

/**
 * Decodes a cursor; throws {@link DbValidationError} (`cursor`) for anything malformed.
 *
 * @example
 * ```ts
 * const { createdAt, id } = decodeCursor(page.nextCursor!);
 * ```
 */
export function decodeCursor(cursor: string): CursorPosition {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fromBase64Url(cursor));
  } catch {
    throw new DbValidationError(
      'cursor',
      `is not a cursor returned by this API: received ${JSON.stringify(cursor)}`,
      cursor,
    );
  }
  if (
    !Array.isArray(parsed) || parsed.length !== 2 || typeof parsed[0] !== 'string' ||
    !isRealTimestamp(parsed[0]) || !isUuid(parsed[1])
  ) {
    throw new DbValidationError(
      'cursor',
      `is not a cursor returned by this API: received ${JSON.stringify(cursor)}`,
      cursor,
    );
  }
  return { createdAt: parsed[0], id: parsed[1].toLowerCase() };
}

/**
 * Validates a page size: an integer 1..{@link MAX_PAGE_LIMIT}, default {@link DEFAULT_PAGE_LIMIT}.
 *
 * @example
 * ```ts
 * parseLimit(undefined); // 20
 * ```
 */
export function parseLimit(limit: unknown, max = MAX_PAGE_LIMIT): number {
  if (limit === undefined || limit === null) return Math.min(DEFAULT_PAGE_LIMIT, max);
  const value = typeof limit === 'string' && limit.trim() !== '' ? Number(limit) : limit;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new DbValidationError(
      'limit',
      `must be an integer from 1 to ${max}: received ${JSON.stringify(limit)}`,
      limit,
    );
  }
  return value;
}

/**
 * Validates page options up front (before a transaction is opened); throws
 * {@link DbValidationError} for a bad `limit`, `cursor` or `total`.
 *
 * @example
 * ```ts
 * validatePage({ limit: 20, total: 'exact' });
 * ```
 */
export function validatePage(page: PageOptions): void {
  parseLimit(page.limit);
  if (page.cursor) decodeCursor(page.cursor);
  if (page.total !== undefined && !['estimated', 'exact', 'none'].includes(page.total)) {
    throw new DbValidationError(
      'total',
      `must be 'estimated', 'exact' or 'none': received ${JSON.stringify(page.total)}`,
      page.total,
    );
  }
}

/** A whitelist of selectable fields: API name -> SQL expression over alias `t`. */
export type FieldMap = Readonly<Record<string, string>>;

/** SQL rendering a timestamptz as UTC ISO 8601 with microseconds (exact for cursors). */
export const isoTimestamp = (column: string): string =>
  `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/**
 * Validates requested fields against a whitelist and returns them (all fields when none asked).
 * Throws {@link DbValidationError} (`fields`) naming the unknown ones.
 *
 * @example
 * ```ts
 * selectFields(ROBOT_FIELDS, 'id,name'); // ['id', 'name']
 * ```
 */
export function selectFields(
  whitelist: FieldMap,
  requested?: readonly string[] | string | null,
): string[] {
  if (requested === undefined || requested === null) return Object.keys(whitelist);
  const list = (typeof requested === 'string' ? requested.split(',') : [...requested])
    .map((field) => String(field).trim());
  // `fields=` alone means every field; an empty name inside a list (`id,,name`) is a mistake.
  if (list.length === 1 && list[0] === '') return Object.keys(whitelist);
  if (list.includes('')) {
    throw new DbValidationError('fields', "has an empty field name (as in 'id,,name')", list);
  }
  if (list.length === 0) return Object.keys(whitelist);
  const unknown = list.filter((field) => !Object.hasOwn(whitelist, field));
  if (unknown.length > 0) {
    throw new DbValidationError(
      'fields',
      `has unknown field(s) ${unknown.map((f) => `'${f}'`).join(', ')}; allowed: ${
        Object.keys(whitelist).join(', ')
      }`,
      unknown,
    );
  }
  return [...new Set(list)];
}

/** `expr as "field"` list for the validated fields. */
export function selectList(whitelist: FieldMap, fields: readonly string[]): string {
  return fields.map((field) => `${whitelist[field]} as "${field}"`).join(', ');
}

/** Collects `where` conditions and their positional parameters. */
export class WhereBuilder {
  #conditions: string[] = [];
  #params: unknown[] = [];

  /** Starts numbering after existing parameters. */
  constructor(initialParams: readonly unknown[] = []) {
    this.#params = [...initialParams];
  }

  /** Adds a parameter and returns its placeholder (`$3`). */
  param(value: unknown): string {
    this.#params.push(value);
    return `$${this.#params.length}`;
  }

  /** Adds a condition (already using placeholders from {@link param}). */
  add(condition: string): this {
    this.#conditions.push(condition);
    return this;
  }

  get params(): unknown[] {
    return [...this.#params];
  }

  /** `where a and b`, or '' when empty. */
  toSql(): string {
    return this.#conditions.length ? `where ${this.#conditions.join(' and ')}` : '';
  }
}

/** Input of {@link keysetPage}. */
export interface KeysetQuery {
  /** Qualified table, e.g. `public.robots`; aliased `t`. */
  table: string;
  fields: FieldMap;
  selected: readonly string[];
  where: WhereBuilder;
  page: PageOptions;
}

/**
 * Runs a keyset-paginated listing ordered by `created_at desc, id desc` (the order every
 * listing index has) and computes the page metadata.
 *
 * @example
 * ```ts
 * const page = await keysetPage(tx, { table: 'public.robots', fields, selected, where, page: {} });
 * ```
 */
export async function keysetPage<T>(tx: SqlExecutor, query: KeysetQuery): Promise<Page<T>> {
  const limit = parseLimit(query.page.limit);
  const totalMode = query.page.total ?? 'estimated';
  if (!['estimated', 'exact', 'none'].includes(totalMode)) {
    throw new DbValidationError(
      'total',
      `must be 'estimated', 'exact' or 'none': received ${JSON.stringify(totalMode)}`,
      totalMode,
    );
  }
  const filterWhere = query.where.toSql();
  const filterParams = query.where.params;

  const pageWhere = new WhereBuilder(filterParams);
  const conditions = filterWhere ? [filterWhere.slice('where '.length)] : [];
  const cursor = query.page.cursor ? decodeCursor(query.page.cursor) : undefined;
  if (cursor) {
    // `::text::timestamptz`: a driver serialising a timestamptz parameter through a JS Date
    // (postgres.js does) would drop the microseconds and skip rows.
    conditions.push(
      `(t.created_at, t.id) < (${pageWhere.param(cursor.createdAt)}::text::timestamptz, ${
        pageWhere.param(cursor.id)
      }::uuid)`,
    );
  }
  const limitParam = pageWhere.param(limit + 1);
  const whereSql = conditions.length ? `where ${conditions.join(' and ')}` : '';
  const rows = await tx.query<Record<string, unknown>>(
    `select ${selectList(query.fields, query.selected)},
       ${isoTimestamp('t.created_at')} as "__cursor_created_at", t.id as "__cursor_id"
     from ${query.table} t ${whereSql}
     order by t.created_at desc, t.id desc
     limit ${limitParam}`,
    pageWhere.params,
  );
  const hasMore = rows.length > limit;
  const pageRows = hasMore ? rows.slice(0, limit) : rows;
  const last = pageRows[pageRows.length - 1];
  const items = pageRows.map((row) => {
    const { __cursor_created_at: _c, __cursor_id: _i, ...item } = row;
    return item as T;
  });
  const nextCursor = hasMore && last
    ? encodeCursor({ createdAt: String(last.__cursor_created_at), id: String(last.__cursor_id) })
    : null;

  let total: number | null = null;
  let totalExact = false;
  if (totalMode === 'exact') {
    const [{ n }] = await tx.query<{ n: string | number }>(
      `select count(*)::float8 as n from ${query.table} t ${filterWhere}`,
      filterParams,
    );
    total = Number(n);
    totalExact = true;
  } else if (totalMode === 'estimated') {
    if (!cursor && !hasMore) {
      // The first page holds everything: the count is known without asking the planner.
      total = items.length;
      totalExact = true;
    } else {
      total = await estimateRows(tx, `select 1 from ${query.table} t ${filterWhere}`, filterParams);
      // The query-plan optimizer's choice: a selective filter (few rows by the estimate) is
      // counted exactly, through the same index, for about the cost of the estimate.
      if (chooseCountStrategy({ estimatedRows: total }).strategy === 'exact') {
        const [{ n }] = await tx.query<{ n: string | number }>(
          `select count(*)::float8 as n from ${query.table} t ${filterWhere}`,
          filterParams,
        );
        total = Number(n);
        totalExact = true;
      }
    }
  }
  return { items, limit, nextCursor, hasMore, total, totalExact };
}

/**
 * The planner's row estimate for a query (`EXPLAIN (FORMAT JSON)`, top node's "Plan Rows"):
 * O(1) whatever the table size, accurate as far as the statistics are (ANALYZE/autovacuum).
 *
 * @example
 * ```ts
 * const approx = await estimateRows(tx, 'select 1 from public.robots t where t.is_public');
 * ```
 */
export async function estimateRows(
  tx: SqlExecutor,
  sql: string,
  params: readonly unknown[] = [],
): Promise<number> {
  const rows = await tx.query<Record<string, unknown>>(`explain (format json) ${sql}`, params);
  const raw = Object.values(rows[0] ?? {})[0];
  const plan = typeof raw === 'string' ? JSON.parse(raw) : raw;
  const estimate = Number(plan?.[0]?.Plan?.['Plan Rows']);
  return Number.isFinite(estimate) ? Math.max(0, Math.round(estimate)) : 0;
}
