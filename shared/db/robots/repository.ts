/**
 * Robots repository: listing with filters and keyset pagination, trigram search, get by id(s),
 * create/update/delete, and chunked batch upserts. Every call runs as a {@link Caller}: users go
 * through RLS (`set local role authenticated` + JWT claims), the service bypasses it.
 *
 * @module
 */
import { findById } from '../by_id.ts';
import { type Caller, runAs } from '../caller.ts';
import { DbValidationError } from '../errors.ts';
import { listingWhere } from '../filters.ts';
import { searchText, trigramSearch } from '../search.ts';
import {
  keysetPage,
  type Page,
  type PageOptions,
  parseLimit,
  selectFields,
  selectList,
  validatePage,
  WhereBuilder,
} from '../pagination.ts';
import type { WriteHooks } from '../hooks.ts';
import type { Database, SqlExecutor } from '../types.ts';
import { parseInput, parseTimestamp, requireUuid } from '../validate.ts';
import {
  type Robot,
  ROBOT_FIELDS,
  type RobotCreate,
  robotCreateSchema,
  type RobotUpdate,
  robotUpdateSchema,
  type StrategyType,
} from './schema.ts';

export type { WriteHooks } from '../hooks.ts';

/** Filters of {@link RobotsRepository.list} and {@link RobotsRepository.search}. */
export interface RobotFilters {
  /** Only this owner's robots. */
  ownerId?: string;
  /** Only public (`true`) or only private (`false`) robots. */
  isPublic?: boolean;
  /** Only this strategy type. */
  strategyType?: string;
  /** Only robots built from this strategy. */
  strategyId?: string;
  /** Created at or after (ISO 8601). */
  createdAfter?: string | Date;
  /** Created before (ISO 8601). */
  createdBefore?: string | Date;
}

/** Input of {@link RobotsRepository.list}. */
export interface RobotListOptions extends PageOptions {
  /** Fields to return (whitelist {@link ROBOT_FIELDS}); all by default. */
  fields?: readonly string[] | string;
  filters?: RobotFilters;
}

/** Input of {@link RobotsRepository.search}. */
export interface RobotSearchOptions {
  /** Search text, 2..100 characters: matched in name and description. */
  query: string;
  fields?: readonly string[] | string;
  filters?: RobotFilters;
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

/** A search hit: the selected fields plus the trigram similarity score (0..1). */
export type RobotSearchHit = Partial<Robot> & { score: number };

/** Options of {@link RobotsRepository}. */
export interface RobotsRepositoryOptions {
  /**
   * Rows per statement in {@link RobotsRepository.upsertMany}.
   * @default 500
   */
  upsertChunkSize?: number;
  /**
   * Largest number of rows one upsertMany call accepts.
   * @default 10000
   */
  maxUpsertRows?: number;
  /**
   * Largest number of ids one getByIds call accepts.
   * @default 100
   */
  maxIdsPerLookup?: number;
}

/** Result of {@link RobotsRepository.upsertMany}. */
export interface UpsertResult {
  /** Rows inserted or updated. */
  count: number;
  /** Statements issued (chunks). */
  chunks: number;
  /** Ids of the written rows, in input order. */
  ids: string[];
}

const TABLE = 'public.robots';
const MAX_UPSERT_CHUNK = 1000;
const WRITE_COLUMNS = [
  'strategy_id',
  'name',
  'description',
  'strategy_type',
  'strategy_params',
  'is_public',
] as const;

/** What a delete's `afterWrite` hook receives: the row as it was, to know which reads it staled. */
export interface DeletedRobot {
  id: string;
  user_id: string;
  is_public: boolean;
  strategy_type: StrategyType;
}

/**
 * Data access for `public.robots`.
 *
 * @example
 * ```ts
 * const robots = new RobotsRepository(db);
 * const page = await robots.list(userCaller({ sub }), { filters: { ownerId: sub }, limit: 20 });
 * const next = await robots.list(userCaller({ sub }), { filters: { ownerId: sub }, cursor: page.nextCursor });
 * ```
 */
export class RobotsRepository {
  #db: Database;
  #upsertChunkSize: number;
  #maxUpsertRows: number;
  #maxIdsPerLookup: number;

  constructor(db: Database, options: RobotsRepositoryOptions = {}) {
    const { upsertChunkSize = 500, maxUpsertRows = 10_000, maxIdsPerLookup = 100 } = options;
    if (
      !Number.isInteger(upsertChunkSize) || upsertChunkSize < 1 ||
      upsertChunkSize > MAX_UPSERT_CHUNK
    ) {
      throw new RangeError(
        `'upsertChunkSize' must be an integer from 1 to ${MAX_UPSERT_CHUNK}: received ${upsertChunkSize}`,
      );
    }
    if (!Number.isInteger(maxUpsertRows) || maxUpsertRows < 1) {
      throw new RangeError(`'maxUpsertRows' must be an integer >= 1: received ${maxUpsertRows}`);
    }
    if (!Number.isInteger(maxIdsPerLookup) || maxIdsPerLookup < 1) {
      throw new RangeError(
        `'maxIdsPerLookup' must be an integer >= 1: received ${maxIdsPerLookup}`,
      );
    }
    this.#db = db;
    this.#upsertChunkSize = upsertChunkSize;
    this.#maxUpsertRows = maxUpsertRows;
    this.#maxIdsPerLookup = maxIdsPerLookup;
  }

  /** Rows per upsert statement. */
  get upsertChunkSize(): number {
    return this.#upsertChunkSize;
  }

  /**
   * A page of robots ordered by `created_at desc, id desc`, filtered, keyset-paginated.
   * Users see public robots and their own (RLS).
   */
  async list(caller: Caller, options: RobotListOptions = {}): Promise<Page<Partial<Robot>>> {
    const selected = selectFields(ROBOT_FIELDS, options.fields);
    const where = robotWhere(options.filters);
    validatePage(options);
    return await runAs(
      this.#db,
      caller,
      (tx) =>
        keysetPage<Partial<Robot>>(tx, {
          table: TABLE,
          fields: ROBOT_FIELDS,
          selected,
          where,
          page: options,
        }),
    );
  }

  /**
   * Trigram search on name and description (substring `ilike`, plus fuzzy `%` on the name when
   * `fuzzy`), served by the GIN trigram indexes, best similarity first. Users go through
   * `public.search_robots` (see its migration for why), the service queries directly.
   */
  async search(caller: Caller, options: RobotSearchOptions): Promise<RobotSearchHit[]> {
    const text = searchText(options.query);
    const limit = parseLimit(options.limit);
    const selected = selectFields(ROBOT_FIELDS, options.fields);
    const filters = options.filters ?? {};
    const where = robotWhere(filters);
    return await trigramSearch<RobotSearchHit>(this.#db, caller, {
      table: TABLE,
      fields: ROBOT_FIELDS,
      selected,
      text,
      limit,
      fuzzy: options.fuzzy === true,
      where,
      userFunction: 'public.search_robots',
      userFilterArgs: (p) => [
        `${p.param(filters.ownerId ?? null)}::uuid`,
        `${p.param(filters.isPublic ?? null)}::boolean`,
        `${p.param(filters.strategyType ?? null)}::text`,
        `${p.param(filters.strategyId ?? null)}::uuid`,
        `${
          p.param(
            filters.createdAfter === undefined
              ? null
              : parseTimestamp('filters.createdAfter', filters.createdAfter),
          )
        }::text::timestamptz`,
        `${
          p.param(
            filters.createdBefore === undefined
              ? null
              : parseTimestamp('filters.createdBefore', filters.createdBefore),
          )
        }::text::timestamptz`,
      ],
    });
  }

  /** One robot, or `null` when it does not exist or the caller may not see it. */
  async getById(
    caller: Caller,
    id: string,
    fields?: readonly string[] | string,
  ): Promise<Partial<Robot> | null> {
    return await findById<Partial<Robot>>(this.#db, caller, TABLE, ROBOT_FIELDS, id, fields);
  }

  /**
   * Many robots in one query (for batching/dataloaders): results aligned with `ids`, `null`
   * where missing or invisible to the caller.
   */
  async getByIds(
    caller: Caller,
    ids: readonly string[],
    fields?: readonly string[] | string,
  ): Promise<(Partial<Robot> | null)[]> {
    if (!Array.isArray(ids) || ids.length > this.#maxIdsPerLookup) {
      throw new DbValidationError(
        'ids',
        `must be an array of at most ${this.#maxIdsPerLookup} uuids: received ${
          Array.isArray(ids) ? `${ids.length} ids` : JSON.stringify(ids)
        }`,
        ids,
      );
    }
    ids = ids.map((id, i) => requireUuid(`ids.${i}`, id));
    if (ids.length === 0) return [];
    const selected = selectFields(ROBOT_FIELDS, fields);
    return await runAs(this.#db, caller, async (tx) => {
      const rows = await tx.query<Partial<Robot> & { __id: string }>(
        `select ${selectList(ROBOT_FIELDS, selected)}, t.id as "__id" from ${TABLE} t
         where t.id = any(array(select jsonb_array_elements_text($1::text::jsonb)::uuid))`,
        [JSON.stringify([...new Set(ids)])],
      );
      const byId = new Map(rows.map(({ __id, ...row }) => [__id, row as Partial<Robot>]));
      return ids.map((id) => byId.get(id) ?? null);
    });
  }

  /** Creates a robot owned by the caller (users) or by `input.user_id` (service). */
  async create(caller: Caller, input: RobotCreate, hooks: WriteHooks<Robot> = {}): Promise<Robot> {
    const data = parseInput(robotCreateSchema, input, 'robot');
    if (caller.kind === 'service' && !data.user_id) {
      throw new DbValidationError(
        'robot.user_id',
        'is required for service writes: received undefined',
        undefined,
      );
    }
    return await runAs(this.#db, caller, async (tx) => {
      const rows = await upsertRows(tx, [data], false);
      const robot = rows[0] as Robot;
      await hooks.afterWrite?.(tx, robot);
      return robot;
    });
  }

  /**
   * Creates many robots in ONE transaction (all or nothing): one `insert ... select from
   * jsonb_to_recordset` per `upsertChunkSize` rows, rows returned in input order, `afterWrite`
   * called ONCE with all created rows inside the transaction (one outbox row for the batch; a
   * throw rolls every row back). Plain
   * inserts: an `id` that exists already is a unique violation (409 at the API), never an update.
   * At most `maxRows` (default 100) rows; more is a {@link DbValidationError}.
   */
  async createMany(
    caller: Caller,
    inputs: readonly RobotCreate[],
    hooks: WriteHooks<Robot[]> = {},
    maxRows = 100,
  ): Promise<Robot[]> {
    if (!Array.isArray(inputs) || inputs.length > Math.min(maxRows, this.#maxUpsertRows)) {
      throw new DbValidationError(
        'robots',
        `must be an array of at most ${Math.min(maxRows, this.#maxUpsertRows)} robots: received ${
          Array.isArray(inputs) ? `${inputs.length} robots` : typeof inputs
        }`,
        undefined,
      );
    }
    const rows = inputs.map((input, i) => {
      const data = parseInput(robotCreateSchema, input, `robots.${i}`);
      if (caller.kind === 'service' && !data.user_id) {
        throw new DbValidationError(
          `robots.${i}.user_id`,
          'is required for service writes: received undefined',
          undefined,
        );
      }
      // Ids chosen here: the rows come back in input order whatever order Postgres returns.
      return { ...data, id: data.id ?? crypto.randomUUID() };
    });
    if (rows.length === 0) return [];
    return await runAs(this.#db, caller, async (tx) => {
      const byId = new Map<string, Robot>();
      for (let start = 0; start < rows.length; start += this.#upsertChunkSize) {
        const written = await upsertRows(
          tx,
          rows.slice(start, start + this.#upsertChunkSize),
          false,
        );
        for (const robot of written) byId.set(String(robot.id), robot as Robot);
      }
      const created = rows.map((row) => byId.get(row.id)!);
      await hooks.afterWrite?.(tx, created);
      return created;
    });
  }

  /** Updates the caller's robot; `null` when it does not exist or is not the caller's. */
  async update(
    caller: Caller,
    id: string,
    patch: RobotUpdate,
    hooks: WriteHooks<Robot> = {},
  ): Promise<Robot | null> {
    id = requireUuid('id', id);
    const data = parseInput(robotUpdateSchema, patch, 'robot') as Record<string, unknown>;
    const columns = WRITE_COLUMNS.filter((column) => data[column] !== undefined);
    if (columns.length === 0) {
      throw new DbValidationError(
        'robot',
        `needs at least one of ${WRITE_COLUMNS.join(', ')}: received ${JSON.stringify(patch)}`,
        patch,
      );
    }
    const where = new WhereBuilder([id]);
    const sets = columns.map((column) =>
      `${column} = ${
        where.param(column === 'strategy_params' ? JSON.stringify(data[column]) : data[column])
      }${column === 'strategy_params' ? '::text::jsonb' : ''}`
    );
    return await runAs(this.#db, caller, async (tx) => {
      const rows = await tx.query<Robot>(
        `update ${TABLE} t set ${sets.join(', ')} where t.id = $1
         returning ${selectList(ROBOT_FIELDS, Object.keys(ROBOT_FIELDS))}`,
        where.params,
      );
      const robot = rows[0] ?? null;
      if (robot) await hooks.afterWrite?.(tx, robot);
      return robot;
    });
  }

  /** Deletes the caller's robot; `false` when nothing was deleted. */
  async delete(
    caller: Caller,
    id: string,
    hooks: WriteHooks<DeletedRobot> = {},
  ): Promise<boolean> {
    id = requireUuid('id', id);
    return await runAs(this.#db, caller, async (tx) => {
      // RLS lets a caller delete only their own rows: another user's robot deletes nothing.
      const rows = await tx.query<DeletedRobot>(
        `delete from ${TABLE} t where t.id = $1
         returning t.id, t.user_id, t.is_public, t.strategy_type`,
        [id],
      );
      if (rows.length > 0) await hooks.afterWrite?.(tx, rows[0]);
      return rows.length > 0;
    });
  }

  /**
   * Inserts or updates (by `id`) many robots in one transaction, in statements of at most
   * `upsertChunkSize` rows. Users can only write their own rows (RLS rejects the whole call
   * otherwise).
   */
  async upsertMany(caller: Caller, inputs: readonly RobotCreate[]): Promise<UpsertResult> {
    if (!Array.isArray(inputs) || inputs.length > this.#maxUpsertRows) {
      throw new DbValidationError(
        'robots',
        `must be an array of at most ${this.#maxUpsertRows} robots: received ${
          Array.isArray(inputs) ? `${inputs.length} robots` : JSON.stringify(inputs)
        }`,
        inputs,
      );
    }
    const rows = inputs.map((input, i) => {
      const data = parseInput(robotCreateSchema, input, `robots.${i}`);
      if (caller.kind === 'service' && !data.user_id) {
        throw new DbValidationError(
          `robots.${i}.user_id`,
          'is required for service writes: received undefined',
          undefined,
        );
      }
      return { ...data, id: data.id ?? crypto.randomUUID() };
    });
    if (rows.length === 0) return { count: 0, chunks: 0, ids: [] };
    return await runAs(this.#db, caller, async (tx) => {
      let count = 0;
      let chunks = 0;
      for (let start = 0; start < rows.length; start += this.#upsertChunkSize) {
        const written = await upsertRows(
          tx,
          rows.slice(start, start + this.#upsertChunkSize),
          true,
        );
        count += written.length;
        chunks++;
      }
      return { count, chunks, ids: rows.map((row) => row.id) };
    });
  }
}

/** One insert (or upsert) statement for `rows`, passed as a single jsonb parameter. */
async function upsertRows(
  tx: SqlExecutor,
  rows: readonly Record<string, unknown>[],
  upsert: boolean,
): Promise<Partial<Robot>[]> {
  const conflict = upsert
    ? `on conflict (id) do update set ${
      WRITE_COLUMNS.map((c) => `${c} = excluded.${c}`).join(', ')
    }`
    : '';
  return await tx.query<Partial<Robot>>(
    `insert into ${TABLE} as t (id, user_id, strategy_id, name, description, strategy_type, strategy_params, is_public)
     select coalesce(x.id, gen_random_uuid()), coalesce(x.user_id, auth.uid()), x.strategy_id, x.name,
       coalesce(x.description, ''), x.strategy_type, coalesce(x.strategy_params, '{}'::jsonb),
       coalesce(x.is_public, false)
     from jsonb_to_recordset($1::text::jsonb) as x(id uuid, user_id uuid, strategy_id uuid, name text,
       description text, strategy_type text, strategy_params jsonb, is_public boolean)
     ${conflict}
     returning ${selectList(ROBOT_FIELDS, Object.keys(ROBOT_FIELDS))}`,
    [JSON.stringify(rows)],
  );
}

/** The filters robot listings allow, in the order error messages list them. */
const ROBOT_FILTERS = [
  'ownerId',
  'isPublic',
  'strategyType',
  'strategyId',
  'createdAfter',
  'createdBefore',
] as const;

/** Validated filters as SQL conditions over alias `t` (the shared {@link listingWhere}). */
export function robotWhere(filters: RobotFilters = {}): WhereBuilder {
  return listingWhere(filters, ROBOT_FILTERS);
}
