/**
 * Robots repository: listing with filters and keyset pagination, trigram search, get by id(s),
 * create/update/delete, and chunked batch upserts. Every call runs as a {@link Caller}: users go
 * through RLS (`set local role authenticated` + JWT claims), the service bypasses it.
 *
 * @module
 */
import { type Caller, runAs } from '../caller.ts';
import { DbValidationError } from '../errors.ts';
import type { ListingFilters } from '../filters.ts';
import {
  type ListingPageOptions,
  ListingRepository,
  type ListingSearchOptions,
  type ListingTable,
  listingTableWhere,
  updateAssignments,
  type UpdateSpec,
} from '../listing.ts';
import { selectFields, selectList, WhereBuilder } from '../pagination.ts';
import type { WriteHooks } from '../hooks.ts';
import type { Database, SqlExecutor } from '../types.ts';
import { parseInput, requireUuid } from '../validate.ts';
import type { StrategyType } from '../strategies/schema.ts';
import {
  type Robot,
  ROBOT_FIELDS,
  type RobotCreate,
  robotCreateSchema,
  type RobotUpdate,
  robotUpdateSchema,
} from './schema.ts';

/** Filters of {@link RobotsRepository.list} and {@link RobotsRepository.search}: all of them. */
export type RobotFilters = ListingFilters;

/** Input of {@link RobotsRepository.list}. */
export type RobotListOptions = ListingPageOptions;

/** Input of {@link RobotsRepository.search}. */
export type RobotSearchOptions = ListingSearchOptions;

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

/** What an update may set. */
const ROBOT_UPDATE: UpdateSpec = {
  schema: robotUpdateSchema,
  what: 'robot',
  jsonColumn: 'strategy_params',
};
const TABLE = 'public.robots';
const MAX_UPSERT_CHUNK = 1000;

/**
 * The robots listing: every listing filter, in the order error messages list them and
 * `public.search_robots` takes them.
 */
const ROBOTS: ListingTable = {
  table: TABLE,
  fields: ROBOT_FIELDS,
  filters: ['ownerId', 'isPublic', 'strategyType', 'strategyId', 'createdAfter', 'createdBefore'],
  searchFunction: 'public.search_robots',
};
/** The columns a write sets: the fields an update may change (read on first write: lazy schema). */
const writeColumns = (): string[] => Object.keys(robotUpdateSchema.shape);

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
export class RobotsRepository extends ListingRepository<Robot, RobotFilters> {
  #db: Database;
  #upsertChunkSize: number;
  #maxUpsertRows: number;
  #maxIdsPerLookup: number;

  constructor(db: Database, options: RobotsRepositoryOptions = {}) {
    super(db, ROBOTS);
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
    const data = parseCreate(caller, input, 'robot');
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
    const rows = this.#parseMany(caller, inputs, Math.min(maxRows, this.#maxUpsertRows));
    if (rows.length === 0) return [];
    return await runAs(this.#db, caller, async (tx) => {
      const byId = new Map<string, Robot>();
      for (const written of await this.#writeChunks(tx, rows, false)) {
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
    const { sets, params } = updateAssignments(ROBOT_UPDATE, id, patch);
    return await runAs(this.#db, caller, async (tx) => {
      const rows = await tx.query<Robot>(
        `update ${TABLE} t set ${sets.join(', ')} where t.id = $1
         returning ${selectList(ROBOT_FIELDS, Object.keys(ROBOT_FIELDS))}`,
        params,
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
    const rows = this.#parseMany(caller, inputs, this.#maxUpsertRows);
    if (rows.length === 0) return { count: 0, chunks: 0, ids: [] };
    return await runAs(this.#db, caller, async (tx) => {
      const chunks = await this.#writeChunks(tx, rows, true);
      const count = chunks.reduce((sum, written) => sum + written.length, 0);
      return { count, chunks: chunks.length, ids: rows.map((row) => row.id) };
    });
  }

  /**
   * At most `maxRows` robots to create, each validated (`robots.<i>` in errors) and given its id
   * here: the rows come back in input order whatever order Postgres returns.
   */
  #parseMany(caller: Caller, inputs: readonly RobotCreate[], maxRows: number) {
    if (!Array.isArray(inputs) || inputs.length > maxRows) {
      throw new DbValidationError(
        'robots',
        `must be an array of at most ${maxRows} robots: received ${
          Array.isArray(inputs) ? `${inputs.length} robots` : typeof inputs
        }`,
        undefined,
      );
    }
    return inputs.map((input, i) => {
      const data = parseCreate(caller, input, `robots.${i}`);
      return { ...data, id: data.id ?? crypto.randomUUID() };
    });
  }

  /** `rows` written in statements of at most `upsertChunkSize` rows: each statement's rows. */
  async #writeChunks(
    tx: SqlExecutor,
    rows: readonly Record<string, unknown>[],
    upsert: boolean,
  ): Promise<Partial<Robot>[][]> {
    const chunks: Partial<Robot>[][] = [];
    for (let start = 0; start < rows.length; start += this.#upsertChunkSize) {
      chunks.push(await upsertRows(tx, rows.slice(start, start + this.#upsertChunkSize), upsert));
    }
    return chunks;
  }
}

/** One robot to create, validated; the service must name its owner (`<field>.user_id`). */
function parseCreate(caller: Caller, input: RobotCreate, field: string) {
  const data = parseInput(robotCreateSchema, input, field);
  if (caller.kind === 'service' && !data.user_id) {
    throw new DbValidationError(
      `${field}.user_id`,
      'is required for service writes: received undefined',
      undefined,
    );
  }
  return data;
}

/** One insert (or upsert) statement for `rows`, passed as a single jsonb parameter. */
async function upsertRows(
  tx: SqlExecutor,
  rows: readonly Record<string, unknown>[],
  upsert: boolean,
): Promise<Partial<Robot>[]> {
  const conflict = upsert
    ? `on conflict (id) do update set ${
      writeColumns().map((c) => `${c} = excluded.${c}`).join(', ')
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

/** Validated filters as SQL conditions over alias `t` (the shared `listingWhere`). */
export function robotWhere(filters: RobotFilters = {}): WhereBuilder {
  return listingTableWhere(ROBOTS, filters);
}
