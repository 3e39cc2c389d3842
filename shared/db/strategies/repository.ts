/**
 * Strategies repository: list with keyset pagination and filters, trigram search, get by id,
 * create, update, delete; same callers and RLS rules as the robots one (the listing and the
 * search are the shared `listing.ts`). Writes hand their hook a {@link StrategyWrite}: the row's
 * visibility before and after, and for deletes the robots whose `strategy_id` the foreign key
 * sets to null, so the caller can compute what cache entries went stale inside the write's
 * transaction.
 *
 * @module
 */
import { type Caller, runAs } from '../caller.ts';
import { DbValidationError } from '../errors.ts';
import type { ListingFilters } from '../filters.ts';
import type { WriteHooks } from '../hooks.ts';
import {
  type ListingPageOptions,
  ListingRepository,
  type ListingSearchOptions,
  type ListingTable,
  listingTableWhere,
  updateAssignments,
  type UpdateSpec,
} from '../listing.ts';
import { selectList, WhereBuilder } from '../pagination.ts';
import type { Database } from '../types.ts';
import { parseInput, requireUuid } from '../validate.ts';
import {
  type Strategy,
  STRATEGY_FIELDS,
  type StrategyCreate,
  strategyCreateSchema,
  type StrategyUpdate,
  strategyUpdateSchema,
} from './schema.ts';

/** Filters of {@link StrategiesRepository.list} and {@link StrategiesRepository.search}. */
export type StrategyFilters = Pick<ListingFilters, 'ownerId' | 'isPublic' | 'strategyType'>;

/** Filters and paging of {@link StrategiesRepository.list}. */
export interface StrategyListOptions extends ListingPageOptions {
  filters?: StrategyFilters;
}

/** Input of {@link StrategiesRepository.search}. */
export interface StrategySearchOptions extends ListingSearchOptions {
  filters?: StrategyFilters;
}

/** A search hit: the selected fields plus the trigram similarity score (0..1). */
export type StrategySearchHit = Partial<Strategy> & { score: number };

/** The visibility of a strategy: what decides which cached reads hold it. */
export type StrategyVisibility = Pick<Strategy, 'id' | 'user_id' | 'is_public' | 'strategy_type'>;

/** A robot a strategy write changed (deletes set `strategy_id` to null). */
export interface DependentRobot {
  id: string;
  user_id: string;
  is_public: boolean;
}

/**
 * What a strategy write's `afterWrite` hook receives, inside the write's transaction: the
 * strategy's visibility after the write (as it was, for deletes; `id` is canonical, as every
 * repository's hook row), what it was before, and the robots the write changed.
 */
export interface StrategyWrite extends StrategyVisibility {
  /** Its visibility before the write; `null` for creates. */
  previous: Pick<Strategy, 'is_public' | 'strategy_type'> | null;
  /** Robots whose rows the write changed: deletes null their `strategy_id`. */
  robots: DependentRobot[];
  /** Whether more robots changed than {@link StrategyWrite.robots} lists. */
  robotsTruncated: boolean;
}

/** Options of {@link StrategiesRepository}. */
export interface StrategiesRepositoryOptions {
  /**
   * Largest number of dependent robots a delete reports to its hook; beyond it
   * `robotsTruncated` is set.
   * @default 1000
   */
  maxDependentRobots?: number;
}

/** What an update may set. */
const STRATEGY_UPDATE: UpdateSpec = {
  schema: strategyUpdateSchema,
  what: 'strategy',
  jsonColumn: 'parameters',
};
const TABLE = 'public.strategies';
const VISIBILITY = 't.id, t.user_id, t.is_public, t.strategy_type';

/** The strategies listing: its filters in the order `public.search_strategies` takes them. */
const STRATEGIES: ListingTable = {
  table: TABLE,
  fields: STRATEGY_FIELDS,
  filters: ['ownerId', 'isPublic', 'strategyType'],
  searchFunction: 'public.search_strategies',
};

/** Validated filters as SQL conditions over alias `t` (the shared `listingWhere`). */
export function strategyWhere(filters: StrategyFilters = {}): WhereBuilder {
  return listingTableWhere(STRATEGIES, filters);
}

/**
 * Data access for `public.strategies`.
 *
 * @example
 * ```ts
 * const strategies = new StrategiesRepository(db);
 * const page = await strategies.list(userCaller({ sub }), { filters: { isPublic: true } });
 * ```
 */
export class StrategiesRepository extends ListingRepository<Strategy, StrategyFilters> {
  #db: Database;
  #maxDependentRobots: number;

  constructor(db: Database, options: StrategiesRepositoryOptions = {}) {
    super(db, STRATEGIES);
    const { maxDependentRobots = 1000 } = options;
    if (
      !Number.isInteger(maxDependentRobots) || maxDependentRobots < 1 ||
      maxDependentRobots > 10_000
    ) {
      throw new RangeError(
        `'maxDependentRobots' must be an integer from 1 to 10000: received ${maxDependentRobots}`,
      );
    }
    this.#db = db;
    this.#maxDependentRobots = maxDependentRobots;
  }

  /** Creates a strategy owned by the caller (users) or `input.user_id` (service). */
  async create(
    caller: Caller,
    input: StrategyCreate,
    hooks: WriteHooks<StrategyWrite> = {},
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
      const strategy = rows[0];
      await hooks.afterWrite?.(tx, {
        ...visibilityOf(strategy),
        previous: null,
        robots: [],
        robotsTruncated: false,
      });
      return strategy;
    });
  }

  /**
   * Updates the caller's strategy; `null` when it does not exist or is not the caller's (RLS:
   * only owners update). The hook sees the visibility before and after.
   */
  async update(
    caller: Caller,
    id: string,
    patch: StrategyUpdate,
    hooks: WriteHooks<StrategyWrite> = {},
  ): Promise<Strategy | null> {
    const { sets, params } = updateAssignments(STRATEGY_UPDATE, id, patch);
    return await runAs(this.#db, caller, async (tx) => {
      // The old row, locked, in the same statement: what was public before the change.
      const rows = await tx.query<Strategy & { __was_public: boolean; __was_type: string }>(
        `with old as (
           select o.id, o.is_public, o.strategy_type from ${TABLE} o where o.id = $1 for update
         )
         update ${TABLE} t set ${sets.join(', ')} from old where t.id = old.id
         returning ${selectList(STRATEGY_FIELDS, Object.keys(STRATEGY_FIELDS))},
           old.is_public as "__was_public", old.strategy_type as "__was_type"`,
        params,
      );
      if (rows.length === 0) return null;
      const { __was_public, __was_type, ...strategy } = rows[0];
      await hooks.afterWrite?.(tx, {
        ...visibilityOf(strategy),
        previous: {
          is_public: __was_public,
          strategy_type: __was_type as Strategy['strategy_type'],
        },
        robots: [],
        robotsTruncated: false,
      });
      return strategy;
    });
  }

  /**
   * Deletes the caller's strategy; `false` when nothing was deleted. Robots built on it keep
   * running: the foreign key sets their `strategy_id` to null (whoever owns them), and the hook
   * lists them (at most `maxDependentRobots`), read after the strategy row is locked so that no
   * robot can start referencing it in between.
   */
  async delete(
    caller: Caller,
    id: string,
    hooks: WriteHooks<StrategyWrite> = {},
  ): Promise<boolean> {
    id = requireUuid('id', id);
    return await runAs(this.#db, caller, async (tx) => {
      // Locks the row (RLS: only the owner can), which blocks new references until commit.
      const [strategy] = await tx.query<StrategyVisibility>(
        `select ${VISIBILITY} from ${TABLE} t where t.id = $1 for update`,
        [id],
      );
      if (!strategy) return false;
      const probe = this.#maxDependentRobots + 1;
      const robots = caller.kind === 'user'
        ? await tx.query<DependentRobot>(
          'select d.id, d.user_id, d.is_public from private.strategy_dependent_robots($1::uuid, $2) d',
          [id, probe],
        )
        : await tx.query<DependentRobot>(
          `select r.id, r.user_id, r.is_public from public.robots r
           where r.strategy_id = $1::uuid order by r.id limit $2`,
          [id, probe],
        );
      const gone = (await tx.query(`delete from ${TABLE} t where t.id = $1 returning t.id`, [id]))
        .length > 0;
      if (!gone) return false;
      await hooks.afterWrite?.(tx, {
        ...strategy,
        previous: { is_public: strategy.is_public, strategy_type: strategy.strategy_type },
        robots: robots.slice(0, this.#maxDependentRobots),
        robotsTruncated: robots.length > this.#maxDependentRobots,
      });
      return true;
    });
  }
}

function visibilityOf(strategy: Strategy): StrategyVisibility {
  return {
    id: strategy.id,
    user_id: strategy.user_id,
    is_public: strategy.is_public,
    strategy_type: strategy.strategy_type,
  };
}
