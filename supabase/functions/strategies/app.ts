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
import { requireUser } from '@shared/http/caller.ts';
import { jsonResponse } from '@shared/http/json_response.ts';
import { optimizedResource } from '@shared/http/optimized.ts';
import {
  callerScopedReads,
  createResourceApp,
  nonEmptyPatch,
  prewarmingWriter,
  type ResourceAppDependencies,
  resourceRequests,
} from '@shared/http/resource_app.ts';
import { pageOf } from '@shared/http/resource_reads.ts';
import { validJson, validQuery } from '@shared/http/validate.ts';
import { lazySchema } from '@shared/db/validate.ts';
import {
  getDatabase,
  StrategiesRepository,
  STRATEGY_FIELDS,
  strategyCreateSchema,
  strategyUpdateSchema,
  type StrategyWrite,
  type WriteHooks,
} from '@shared/db/mod.ts';
import { advancedBackendOptimizer } from '@shared/optimizer/mod.ts';
import {
  loadPublicStrategies,
  prewarmableKeysOf,
  PUBLIC_STRATEGIES_TAG,
  publicStrategiesListKey,
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
export type StrategiesDependencies = ResourceAppDependencies;

// ---------------------------------------------------------------------------------------------
// Input schemas: the same rules as robots'. Unknown parameters and fields are refused.

const {
  list: listQuerySchema,
  search: searchQuerySchema,
  detail: detailQuerySchema,
  id: strategyId,
  notFound,
} = resourceRequests('strategy', STRATEGY_FIELDS);

/**
 * Body of `POST /strategies`: the owner is the caller, the id is the database's. Built on first
 * use, as every schema here (`lazySchema`: a cold start builds only what its first request needs).
 */
export const createBodySchema = lazySchema(
  'strategies.createBody',
  () => strategyCreateSchema.omit({ id: true, user_id: true }).strict(),
);

/** Body of `PATCH /strategies/:id`: at least one field. */
export const updateBodySchema = lazySchema(
  'strategies.updateBody',
  () => nonEmptyPatch(strategyUpdateSchema),
);

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

  // A write, then the exact pre-warmable keys it made stale, computed from the same row as
  // its tags.
  const writeInvalidating = prewarmingWriter(strategies, optimizer);
  const write = <T>(
    operation: (
      repo: StrategiesRepository,
      hooks: Required<WriteHooks<StrategyWrite>>,
    ) => Promise<T>,
  ): Promise<T> => writeInvalidating(operation, strategyWriteTags, prewarmableKeysOf);

  // Search over what the caller may see (own and public strategies for users, public for anon) and
  // one by id, keyed and tagged by who asks.
  const reads = callerScopedReads(strategies, {
    name: 'strategies',
    tags: { user: userStrategiesTag, public: PUBLIC_STRATEGIES_TAG, item: strategyTag },
    notFound,
  });

  const app = createResourceApp('strategies', deps);

  // Own strategies.
  app.get('/', validQuery(listQuerySchema), (c) => {
    const { caller, userId } = requireUser(c);
    const query = c.req.valid('query');
    return strategies.read(c, (repo) =>
      repo.list(caller, {
        ...pageOf(query),
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
  app.get('/search', validQuery(searchQuerySchema), (c) => reads.search(c, c.req.valid('query')));

  app.get(
    '/:id',
    strategyId,
    validQuery(detailQuerySchema),
    (c) => reads.detail(c, c.req.valid('param').id, c.req.valid('query')),
  );

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
