/**
 * `strategies`: the frontend's API for trading strategies (the definitions robots are built on).
 *
 * | route | who | what |
 * |---|---|---|
 * | `GET /strategies` | signed-in user | the caller's own strategies, keyset-paginated |
 * | `GET /strategies/public` | anyone | public strategies, keyset-paginated |
 * | `GET /strategies/search?q=` | anyone | trigram search over what the caller may see |
 * | `GET /strategies/:id` | anyone | one strategy the caller may see (own or public) |
 * | `POST /strategies` | signed-in user | create a strategy owned by the caller |
 * | `PATCH /strategies/:id` | owner | change a strategy |
 * | `DELETE /strategies/:id` | owner | delete a strategy (robots built on it keep running) |
 *
 * Reads go through the optimizer under caller-scoped keys and answer `x-cache`, `Server-Timing`
 * and `ETag` (304 on `If-None-Match`); writes run once, compute the tags they make stale inside
 * their transaction and invalidate them after the commit. Keys, tags and loaders: `keys.ts`.
 * The whole API with examples: docs/strategies-api.md.
 *
 * @module
 */
import { createFunctionApp, type FunctionEnv } from '@shared/http/app.ts';
import { rateLimitByCaller, type RateLimitOptions } from '@shared/http/rate_limit.ts';
import { authenticate, type AuthOptions, type AuthVariables } from '@shared/http/auth.ts';
import { callerOf, requireUser, writesNeedUser } from '@shared/http/caller.ts';
import { ApiError } from '@shared/http/errors.ts';
import { jsonResponse } from '@shared/http/json_response.ts';
import { optimizedResource } from '@shared/http/optimized.ts';
import {
  bodyLimitOf,
  idParams,
  listingQuerySchemas,
  validJson,
  validParams,
  validQuery,
} from '@shared/http/validate.ts';
import {
  type Database,
  getDatabase,
  StrategiesRepository,
  STRATEGY_FIELDS,
  strategyCreateSchema,
  strategyUpdateSchema,
  type StrategyWrite,
  type WriteHooks,
} from '@shared/db/mod.ts';
import { type AdvancedBackendOptimizer, advancedBackendOptimizer } from '@shared/optimizer/mod.ts';
import {
  loadPublicStrategies,
  loadPublicStrategy,
  prewarmableKeysOf,
  PUBLIC_STRATEGIES_TAG,
  publicStrategiesListKey,
  publicStrategiesSearchKey,
  publicStrategyKey,
  registerStrategyLoaders,
  STRATEGIES_RESOURCE_KEY,
  strategyTag,
  strategyWriteTags,
  userStrategiesKey,
  userStrategiesTag,
} from './keys.ts';

export {
  loadPublicStrategies,
  loadPublicStrategy,
  prewarmableKeysOf,
  PUBLIC_ROBOTS_TAG,
  PUBLIC_STRATEGIES_TAG,
  publicStrategiesListKey,
  publicStrategiesSearchKey,
  publicStrategyKey,
  registerStrategyLoaders,
  robotTag,
  STRATEGIES_RESOURCE_KEY,
  type StrategyDetailQuery,
  type StrategyListQuery,
  strategyTag,
  strategyWriteTags,
  userRobotsTag,
  userStrategiesKey,
  userStrategiesTag,
} from './keys.ts';

/** What the strategies app runs on; tests pass their own. */
export interface StrategiesDependencies {
  /** Per-caller rate limiting (`QF_RATELIMIT_*`). @default from the environment */
  rateLimit?: RateLimitOptions;
  /** The database (created once per isolate). @default getDatabase */
  db?: () => Promise<Database>;
  /** The optimizer reads go through. @default advancedBackendOptimizer */
  optimizer?: AdvancedBackendOptimizer;
  /** Authentication options (the JWT secret's environment). @default process environment */
  auth?: Pick<AuthOptions, 'env'>;
  /**
   * Largest request body, bytes.
   * @default 65536
   */
  maxBodyBytes?: number;
}

type StrategiesEnv = FunctionEnv & { Variables: AuthVariables };

// ---------------------------------------------------------------------------------------------
// Input schemas: the same rules as robots'. Unknown parameters and fields are refused.

const {
  list: listQuerySchema,
  search: searchQuerySchema,
  detail: detailQuerySchema,
} = listingQuerySchemas(STRATEGY_FIELDS);

/** Body of `POST /strategies`: the owner is the caller, the id is the database's. */
export const createBodySchema = strategyCreateSchema.omit({ id: true, user_id: true }).strict();

/** Body of `PATCH /strategies/:id`: at least one field. */
export const updateBodySchema = strategyUpdateSchema.refine(
  (patch) => Object.values(patch).some((value) => value !== undefined),
  { message: `needs at least one of ${Object.keys(strategyUpdateSchema.shape).join(', ')}` },
);

const strategyId = validParams(idParams, 'strategy id');

function notFound(id: string): ApiError {
  return new ApiError(404, 'not_found', `No strategy ${id} visible to this caller`);
}

// ---------------------------------------------------------------------------------------------

/**
 * Builds the strategies app over the given database and optimizer, and registers the
 * strategies loaders on that optimizer.
 *
 * @example
 * ```ts
 * const app = createStrategiesApp({
 *   db: () => Promise.resolve(db),
 *   optimizer: new AdvancedBackendOptimizer({ store: new MemoryStore() }),
 * });
 * const res = await app.request('/strategies/public');
 * ```
 */
export function createStrategiesApp(deps: StrategiesDependencies = {}) {
  const optimizer = deps.optimizer ?? advancedBackendOptimizer;
  const openDb = deps.db ?? getDatabase;
  const strategies = optimizedResource({
    table: 'strategies',
    resourceKey: STRATEGIES_RESOURCE_KEY,
    repository: (db) => new StrategiesRepository(db),
    db: openDb,
    optimizer,
  });
  registerStrategyLoaders(optimizer, openDb);

  /**
   * A write, then the exact pre-warmable keys it made stale (loader-warmed entries may carry no
   * tags), computed from the same row the tags were.
   */
  const write = async <T>(
    operation: (
      repo: StrategiesRepository,
      hooks: Required<WriteHooks<StrategyWrite>>,
    ) => Promise<T>,
  ): Promise<T> => {
    const keys = new Set<string>();
    const value = await strategies.write<T, StrategyWrite>(operation, {
      tags: (row) => {
        for (const key of prewarmableKeysOf(row)) keys.add(key);
        return strategyWriteTags(row);
      },
    });
    await Promise.all([...keys].map((key) => optimizer.invalidate(key)));
    return value;
  };

  const app = createFunctionApp<StrategiesEnv>('strategies');
  app.use('*', authenticate({ env: deps.auth?.env }) as never);
  // Per caller (user id, else client address): one caller's flood never starves another.
  app.use('*', rateLimitByCaller(deps.rateLimit) as never);
  app.use('*', writesNeedUser as never);
  app.use('*', bodyLimitOf(deps.maxBodyBytes ?? 65_536) as never);

  // Own strategies.
  app.get('/', validQuery(listQuerySchema), (c) => {
    const { caller, userId } = requireUser(c);
    const query = c.req.valid('query');
    return strategies.read(c, (repo) =>
      repo.list(caller, {
        limit: query.limit,
        cursor: query.cursor,
        fields: query.fields,
        total: query.total,
        filters: { ownerId: userId, strategyType: query.strategy_type },
      }), {
      cacheKey: userStrategiesKey(userId, 'list', query),
      tags: [userStrategiesTag(userId)],
      filters: { user_id: userId, strategy_type: query.strategy_type },
    });
  });

  // Public strategies: the same for every caller, read as anon under one `pub:` key.
  app.get('/public', validQuery(listQuerySchema), (c) => {
    const query = c.req.valid('query');
    return strategies.read(c, (repo) => loadPublicStrategies(repo, query), {
      cacheKey: publicStrategiesListKey(query),
      tags: [PUBLIC_STRATEGIES_TAG],
      filters: { is_public: true, strategy_type: query.strategy_type },
    });
  });

  // Search over what the caller may see: own and public strategies for users, public for anon.
  app.get('/search', validQuery(searchQuerySchema), (c) => {
    const query = c.req.valid('query');
    const { caller, userId } = callerOf(c);
    return strategies.read(c, async (repo) => ({
      items: await repo.search(caller, {
        query: query.q,
        limit: query.limit,
        fields: query.fields,
        filters: query.strategy_type ? { strategyType: query.strategy_type } : undefined,
      }),
    }), {
      cacheKey: userId
        ? userStrategiesKey(userId, 'search', query)
        : publicStrategiesSearchKey(query),
      tags: userId ? [userStrategiesTag(userId), PUBLIC_STRATEGIES_TAG] : [PUBLIC_STRATEGIES_TAG],
      filters: { q: query.q, strategy_type: query.strategy_type },
    });
  });

  app.get('/:id', strategyId, validQuery(detailQuerySchema), (c) => {
    const { id } = c.req.valid('param');
    const query = c.req.valid('query');
    const { caller, userId } = callerOf(c);
    return strategies.read(
      c,
      (repo) =>
        userId ? repo.getById(caller, id, query.fields) : loadPublicStrategy(repo, id, query),
      {
        cacheKey: userId
          ? userStrategiesKey(userId, 'get', id, query)
          : publicStrategyKey(id, query),
        // Any write to this strategy drops every caller's copy (e.g. it turned private).
        tags: userId ? [userStrategiesTag(userId), strategyTag(id)] : [strategyTag(id)],
        filters: { id },
        whenMissing: () => notFound(id),
      },
    );
  });

  app.post('/', validJson(createBodySchema), async (c) => {
    const { caller } = requireUser(c);
    const body = c.req.valid('json');
    const strategy = await write((repo, hooks) => repo.create(caller, body, hooks));
    c.header('location', `/functions/v1/strategies/${strategy.id.toLowerCase()}`);
    return jsonResponse(c, strategy, 201);
  });

  app.patch('/:id', strategyId, validJson(updateBodySchema), async (c) => {
    const { caller } = requireUser(c);
    const { id } = c.req.valid('param');
    const patch = c.req.valid('json');
    const strategy = await write((repo, hooks) => repo.update(caller, id, patch, hooks));
    if (!strategy) throw notFound(id);
    return jsonResponse(c, strategy);
  });

  app.delete('/:id', strategyId, async (c) => {
    const { caller } = requireUser(c);
    const { id } = c.req.valid('param');
    const deleted = await write((repo, hooks) => repo.delete(caller, id, hooks));
    if (!deleted) throw notFound(id);
    return c.body(null, 204);
  });

  return app;
}

/** The deployed app: the isolate's database and optimizer. */
export const app = createStrategiesApp();
