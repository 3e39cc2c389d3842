/**
 * A listing table (robots, strategies): rows owned by a user, public or private, of a strategy
 * type, listed newest first and searched by name and description. What such a table's
 * repository does the same way is written here once:
 *
 * - {@link listingPage}: a filtered, keyset-paginated page ({@link listingWhere} +
 *   {@link keysetPage});
 * - {@link listingSearch}: the trigram search, whose user search function takes the table's
 *   filters as arguments in the order the table allows them.
 *
 * - {@link ListingRepository}: the reads every listing table's repository has (list, search, get
 *   by id), over one {@link ListingTable};
 * - {@link updateAssignments}: the `set` list of an update, from the fields its schema allows.
 *
 * The columns every listing row has and its field whitelist: `listing_row.ts`.
 *
 * @module
 */
import { type Caller, runAs } from './caller.ts';
import { type ListingFilter, type ListingFilters, listingWhere } from './filters.ts';
import {
  type FieldMap,
  keysetPage,
  type Page,
  type PageOptions,
  parseLimit,
  selectFields,
  validatePage,
  WhereBuilder,
} from './pagination.ts';
import { findById } from './by_id.ts';
import { DbValidationError } from './errors.ts';
import { searchText, trigramSearch } from './search.ts';
import type { Database } from './types.ts';
import { parseInput, parseTimestamp, requireUuid } from './validate.ts';
import type { z } from 'zod';

/** One listing table, as {@link listingPage} and {@link listingSearch} read it. */
export interface ListingTable {
  /** The table, e.g. `public.robots` (alias `t`). */
  table: string;
  /** Its field whitelist. */
  fields: FieldMap;
  /**
   * The filters its listings allow, in the order its user search function takes them (between
   * `(text, limit` and `fuzzy)`).
   */
  filters: readonly ListingFilter[];
  /** The users' search function, e.g. `public.search_robots` (see its migration for why). */
  searchFunction: string;
}

/** Input of {@link listingPage}. */
export interface ListingPageOptions extends PageOptions {
  /** Fields to return (from the whitelist); all by default. */
  fields?: readonly string[] | string;
  filters?: ListingFilters;
}

/** Input of {@link listingSearch}. */
export interface ListingSearchOptions {
  /** Search text, 2..100 characters: matched in name and description. */
  query: string;
  fields?: readonly string[] | string;
  filters?: ListingFilters;
  /**
   * Maximum results, 1..100.
   * @default 20
   */
  limit?: number;
  /**
   * Also match names by trigram similarity (typos: 'falcn' finds 'Falcon'). Costs more: on 1M
   * robots a common word yields ~10x the candidates to recheck.
   * @default false
   */
  fuzzy?: boolean;
}

/**
 * The table's filters as SQL conditions over alias `t` ({@link listingWhere}, its own filters
 * only).
 *
 * @example
 * ```ts
 * listingTableWhere(ROBOTS_TABLE, { isPublic: true }).toSql(); // 'where t.is_public'
 * ```
 */
export function listingTableWhere(table: ListingTable, filters: ListingFilters = {}): WhereBuilder {
  return listingWhere(filters, table.filters);
}

/**
 * A page of `table` as `caller` sees it (RLS), ordered by `created_at desc, id desc`, filtered,
 * keyset-paginated. Fields, filters and paging are validated first, in that order.
 *
 * @example
 * ```ts
 * const page = await listingPage(db, caller, ROBOTS_TABLE, { filters: { isPublic: true } });
 * ```
 */
export async function listingPage<T>(
  db: Database,
  caller: Caller,
  table: ListingTable,
  options: ListingPageOptions = {},
): Promise<Page<T>> {
  const selected = selectFields(table.fields, options.fields);
  const where = listingTableWhere(table, options.filters);
  validatePage(options);
  return await runAs(
    db,
    caller,
    (tx) =>
      keysetPage<T>(tx, {
        table: table.table,
        fields: table.fields,
        selected,
        where,
        page: options,
      }),
  );
}

/** A creation-range filter as a search function's argument (`null` when absent). */
function timestampArgument(p: WhereBuilder, name: string, value: string | Date | undefined) {
  const iso = value === undefined ? null : parseTimestamp(`filters.${name}`, value);
  return `${p.param(iso)}::text::timestamptz`;
}

/** Each filter as an argument of a user search function, cast to its SQL type. */
const SEARCH_ARGUMENTS: Readonly<
  Record<ListingFilter, (p: WhereBuilder, filters: ListingFilters) => string>
> = {
  ownerId: (p, f) => `${p.param(f.ownerId ?? null)}::uuid`,
  isPublic: (p, f) => `${p.param(f.isPublic ?? null)}::boolean`,
  strategyType: (p, f) => `${p.param(f.strategyType ?? null)}::text`,
  strategyId: (p, f) => `${p.param(f.strategyId ?? null)}::uuid`,
  createdAfter: (p, f) => timestampArgument(p, 'createdAfter', f.createdAfter),
  createdBefore: (p, f) => timestampArgument(p, 'createdBefore', f.createdBefore),
};

/**
 * Trigram search on name and description (substring `ilike`, plus fuzzy `%` on the name when
 * `fuzzy`), served by the GIN trigram indexes, best similarity first. Users go through the
 * table's search function, the service queries directly ({@link trigramSearch}).
 *
 * @example
 * ```ts
 * const hits = await listingSearch(db, caller, ROBOTS_TABLE, { query: 'grid', limit: 10 });
 * ```
 */
export async function listingSearch<H extends { score: number }>(
  db: Database,
  caller: Caller,
  table: ListingTable,
  options: ListingSearchOptions,
): Promise<H[]> {
  const text = searchText(options.query);
  const limit = parseLimit(options.limit);
  const selected = selectFields(table.fields, options.fields);
  const filters = options.filters ?? {};
  const where = listingTableWhere(table, filters);
  return await trigramSearch<H>(db, caller, {
    table: table.table,
    fields: table.fields,
    selected,
    text,
    limit,
    fuzzy: options.fuzzy === true,
    where,
    userFunction: table.searchFunction,
    userFilterArgs: (p) => table.filters.map((name) => SEARCH_ARGUMENTS[name](p, filters)),
  });
}

/**
 * The reads of a listing table's repository, written once: `list` ({@link listingPage}),
 * `search` ({@link listingSearch}) and `getById`, each as the caller sees the rows (RLS). The
 * robots and strategies repositories extend it with their writes.
 *
 * @example
 * ```ts
 * class RobotsRepository extends ListingRepository<Robot, RobotFilters> {
 *   constructor(db: Database) {
 *     super(db, ROBOTS);
 *   }
 * }
 * ```
 */
export class ListingRepository<Row, Filters extends ListingFilters = ListingFilters> {
  #db: Database;
  #table: ListingTable;

  constructor(db: Database, table: ListingTable) {
    this.#db = db;
    this.#table = table;
  }

  /** A page ordered by `created_at desc, id desc`, filtered, keyset-paginated. */
  async list(
    caller: Caller,
    options: ListingPageOptions & { filters?: Filters } = {},
  ): Promise<Page<Partial<Row>>> {
    return await listingPage(this.#db, caller, this.#table, options);
  }

  /** Trigram search on name and description, best similarity first ({@link listingSearch}). */
  async search(
    caller: Caller,
    options: ListingSearchOptions & { filters?: Filters },
  ): Promise<(Partial<Row> & { score: number })[]> {
    return await listingSearch(this.#db, caller, this.#table, options);
  }

  /** One row, or `null` when it does not exist or the caller may not see it. */
  async getById(
    caller: Caller,
    id: string,
    fields?: readonly string[] | string,
  ): Promise<Partial<Row> | null> {
    return await findById<Partial<Row>>(
      this.#db,
      caller,
      this.#table.table,
      this.#table.fields,
      id,
      fields,
    );
  }
}

/** What an update of a listing table may set: {@link updateAssignments}'s first argument. */
export interface UpdateSpec {
  /** The patch's schema: its fields are the columns an update may set, in order. */
  schema: z.ZodObject;
  /** The name errors give the patch (`robot`, `strategy`). */
  what: string;
  /** The column sent as JSON text and cast to `jsonb`. */
  jsonColumn: string;
}

/** What {@link updateAssignments} returns. */
export interface UpdateAssignments {
  /** `column = $n` for each field the patch sets (`$1` is the row's id). */
  sets: string[];
  /** The parameters: the canonical id, then each set value. */
  params: unknown[];
}

/**
 * The `set` list of an update of row `id` (a uuid, else a {@link DbValidationError}): `patch`
 * validated by `spec.schema` (errors name `spec.what`), one assignment per field it sets, in the
 * schema's order. A patch that sets nothing is a {@link DbValidationError} listing the fields it
 * may set.
 *
 * @example
 * ```ts
 * const spec = { schema: robotUpdateSchema, what: 'robot', jsonColumn: 'strategy_params' };
 * const { sets, params } = updateAssignments(spec, id, patch);
 * await tx.query(`update public.robots t set ${sets.join(', ')} where t.id = $1`, params);
 * ```
 */
export function updateAssignments(
  spec: UpdateSpec,
  id: string,
  patch: unknown,
): UpdateAssignments {
  const canonicalId = requireUuid('id', id);
  const { schema, what, jsonColumn } = spec;
  const data = parseInput(schema, patch, what) as Record<string, unknown>;
  const writable = Object.keys(schema.shape);
  const columns = writable.filter((column) => data[column] !== undefined);
  if (columns.length === 0) {
    throw new DbValidationError(
      what,
      `needs at least one of ${writable.join(', ')}: received ${JSON.stringify(patch)}`,
      patch,
    );
  }
  const where = new WhereBuilder([canonicalId]);
  const sets = columns.map((column) =>
    column === jsonColumn
      ? `${column} = ${where.param(JSON.stringify(data[column]))}::text::jsonb`
      : `${column} = ${where.param(data[column])}`
  );
  return { sets, params: where.params };
}
