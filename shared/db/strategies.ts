/**
 * Strategies repository: the cheap subset of the robots one (list with keyset pagination and
 * filters, get by id, create, delete), same callers and RLS rules.
 *
 * @module
 */
import { findById } from './by_id.ts';
import { z } from 'zod';
import { type Caller, runAs } from './caller.ts';
import { DbValidationError } from './errors.ts';
import {
  type FieldMap,
  isoTimestamp,
  keysetPage,
  type Page,
  type PageOptions,
  parseLimit,
  selectFields,
  selectList,
  validatePage,
  WhereBuilder,
} from './pagination.ts';
import { STRATEGY_TYPES, type StrategyType } from './robots/schema.ts';
import type { WriteHooks } from './hooks.ts';
import type { Database } from './types.ts';
import {
  boundedJsonObject,
  canonicalUuid,
  PARAMS_LIMITS,
  parseInput,
  requireUuid,
  safeString,
} from './validate.ts';

/** A strategy as the API returns it. */
export interface Strategy {
  id: string;
  user_id: string;
  name: string;
  description: string;
  strategy_type: StrategyType;
  parameters: Record<string, unknown>;
  is_public: boolean;
  created_at: string;
  updated_at: string;
}

/** Selectable strategy fields. */
export const STRATEGY_FIELDS: FieldMap = Object.freeze({
  id: 't.id',
  user_id: 't.user_id',
  name: 't.name',
  description: 't.description',
  strategy_type: 't.strategy_type',
  parameters: 't.parameters',
  is_public: 't.is_public',
  created_at: isoTimestamp('t.created_at'),
  updated_at: isoTimestamp('t.updated_at'),
});

/** A new strategy. */
export const strategyCreateSchema = z.object({
  id: canonicalUuid.optional(),
  user_id: canonicalUuid.optional(),
  name: safeString(120).trim().min(1),
  description: safeString(2000).optional(),
  strategy_type: z.enum(STRATEGY_TYPES),
  parameters: boundedJsonObject(PARAMS_LIMITS).optional(),
  is_public: z.boolean().optional(),
}).strict();

/** Input of {@link StrategiesRepository.create}. */
export type StrategyCreate = z.input<typeof strategyCreateSchema>;

/** Changes to a strategy (owner and id are immutable). */
export const strategyUpdateSchema = z.object({
  name: safeString(120).trim().min(1).optional(),
  description: safeString(2000).optional(),
  strategy_type: z.enum(STRATEGY_TYPES).optional(),
  parameters: boundedJsonObject(PARAMS_LIMITS).optional(),
  is_public: z.boolean().optional(),
}).strict();

/** Input of {@link StrategiesRepository.update}. */
export type StrategyUpdate = z.input<typeof strategyUpdateSchema>;

/** Input of {@link StrategiesRepository.search}. */
export interface StrategySearchOptions {
  /** Text found in name or description (case-insensitive substring), 2..100 characters. */
  query: string;
  fields?: readonly string[] | string;
  filters?: { ownerId?: string; isPublic?: boolean; strategyType?: string };
  /**
   * Maximum results, 1..100.
   * @default 20
   */
  limit?: number;
}

const UPDATE_COLUMNS = ['name', 'description', 'strategy_type', 'parameters', 'is_public'] as const;

/** Filters and paging of {@link StrategiesRepository.list}. */
export interface StrategyListOptions extends PageOptions {
  fields?: readonly string[] | string;
  filters?: { ownerId?: string; isPublic?: boolean; strategyType?: string };
}

const TABLE = 'public.strategies';

/**
 * Data access for `public.strategies`.
 *
 * @example
 * ```ts
 * const strategies = new StrategiesRepository(db);
 * const page = await strategies.list(userCaller({ sub }), { filters: { isPublic: true } });
 * ```
 */
export class StrategiesRepository {
  #db: Database;
  constructor(db: Database) {
    this.#db = db;
  }

  /** A page of strategies, newest first. */
  async list(caller: Caller, options: StrategyListOptions = {}): Promise<Page<Partial<Strategy>>> {
    const selected = selectFields(STRATEGY_FIELDS, options.fields);
    const where = strategyWhere(options.filters);
    validatePage(options);
    return await runAs(
      this.#db,
      caller,
      (tx) =>
        keysetPage<Partial<Strategy>>(tx, {
          table: TABLE,
          fields: STRATEGY_FIELDS,
          selected,
          where,
          page: options,
        }),
    );
  }

  /**
   * Strategies whose name or description contains `query` (case-insensitive), newest first,
   * among those the caller may see (RLS). Strategies are few per user: no trigram index.
   */
  async search(caller: Caller, options: StrategySearchOptions): Promise<Partial<Strategy>[]> {
    const query = typeof options.query === 'string' ? options.query.trim() : options.query;
    if (typeof query !== 'string' || query.length < 2 || query.length > 100) {
      throw new DbValidationError(
        'query',
        `must be a string of 2 to 100 characters: received ${JSON.stringify(options.query)}`,
        options.query,
      );
    }
    const limit = parseLimit(options.limit);
    const selected = selectFields(STRATEGY_FIELDS, options.fields);
    const where = strategyWhere(options.filters);
    const pattern = where.param(`%${query.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    where.add(`(t.name ilike ${pattern} or t.description ilike ${pattern})`);
    const limitParam = where.param(limit);
    return await runAs(
      this.#db,
      caller,
      (tx) =>
        tx.query<Partial<Strategy>>(
          `select ${selectList(STRATEGY_FIELDS, selected)} from ${TABLE} t ${where.toSql()}
           order by t.created_at desc, t.id desc limit ${limitParam}`,
          where.params,
        ),
    );
  }

  /** One strategy or `null`. */
  async getById(
    caller: Caller,
    id: string,
    fields?: readonly string[] | string,
  ): Promise<Partial<Strategy> | null> {
    return await findById<Partial<Strategy>>(this.#db, caller, TABLE, STRATEGY_FIELDS, id, fields);
  }

  /** Creates a strategy owned by the caller (users) or `input.user_id` (service). */
  async create(
    caller: Caller,
    input: StrategyCreate,
    hooks: WriteHooks<Strategy> = {},
  ): Promise<Strategy> {
    const data = parseInput(strategyCreateSchema, input, 'strategy');
    if (caller.kind === 'service' && !data.user_id) {
      throw new DbValidationError(
        'strategy.user_id',
        'is required for service writes: received undefined',
        undefined,
      );
    }
    return await runAs(this.#db, caller, async (tx) => {
      const rows = await tx.query<Strategy>(
        `insert into ${TABLE} as t (id, user_id, name, description, strategy_type, parameters, is_public)
         values (coalesce($1::uuid, gen_random_uuid()), coalesce($2::uuid, auth.uid()), $3, $4, $5, $6::text::jsonb, $7)
         returning ${selectList(STRATEGY_FIELDS, Object.keys(STRATEGY_FIELDS))}`,
        [
          data.id ?? null,
          data.user_id ?? null,
          data.name,
          data.description ?? '',
          data.strategy_type,
          JSON.stringify(data.parameters ?? {}),
          data.is_public ?? false,
        ],
      );
      await hooks.afterWrite?.(tx, rows[0]);
      return rows[0];
    });
  }

  /** Updates the caller's strategy; `null` when it does not exist or is not the caller's. */
  async update(
    caller: Caller,
    id: string,
    patch: StrategyUpdate,
    hooks: WriteHooks<Strategy> = {},
  ): Promise<Strategy | null> {
    id = requireUuid('id', id);
    const data = parseInput(strategyUpdateSchema, patch, 'strategy') as Record<string, unknown>;
    const columns = UPDATE_COLUMNS.filter((column) => data[column] !== undefined);
    if (columns.length === 0) {
      throw new DbValidationError(
        'strategy',
        `needs at least one of ${UPDATE_COLUMNS.join(', ')}: received ${JSON.stringify(patch)}`,
        patch,
      );
    }
    const where = new WhereBuilder([id]);
    const sets = columns.map((column) =>
      column === 'parameters'
        ? `parameters = ${where.param(JSON.stringify(data.parameters))}::text::jsonb`
        : `${column} = ${where.param(data[column])}`
    );
    return await runAs(this.#db, caller, async (tx) => {
      const rows = await tx.query<Strategy>(
        `update ${TABLE} t set ${sets.join(', ')} where t.id = $1
         returning ${selectList(STRATEGY_FIELDS, Object.keys(STRATEGY_FIELDS))}`,
        where.params,
      );
      const strategy = rows[0] ?? null;
      if (strategy) await hooks.afterWrite?.(tx, strategy);
      return strategy;
    });
  }

  /** Deletes the caller's strategy (robots keep running: strategy_id is set null). */
  async delete(
    caller: Caller,
    id: string,
    hooks: WriteHooks<{ id: string }> = {},
  ): Promise<boolean> {
    id = requireUuid('id', id);
    return await runAs(this.#db, caller, async (tx) => {
      const gone = (await tx.query(`delete from ${TABLE} t where t.id = $1 returning t.id`, [id]))
        .length > 0;
      if (gone) await hooks.afterWrite?.(tx, { id });
      return gone;
    });
  }
}

/** Validated strategy filters as SQL conditions over alias `t`. */
function strategyWhere(filters: StrategyListOptions['filters'] = {}): WhereBuilder {
  const where = new WhereBuilder();
  if (filters.ownerId !== undefined) {
    where.add(`t.user_id = ${where.param(requireUuid('filters.ownerId', filters.ownerId))}::uuid`);
  }
  if (filters.isPublic !== undefined) {
    where.add(filters.isPublic === true ? 't.is_public' : 'not t.is_public');
  }
  if (filters.strategyType !== undefined) {
    if (!(STRATEGY_TYPES as readonly string[]).includes(filters.strategyType)) {
      throw new DbValidationError(
        'filters.strategyType',
        `must be one of ${STRATEGY_TYPES.join(', ')}: received ${
          JSON.stringify(filters.strategyType)
        }`,
        filters.strategyType,
      );
    }
    where.add(`t.strategy_type = ${where.param(filters.strategyType)}`);
  }
  return where;
}
