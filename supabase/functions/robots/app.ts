/**
 * `robots`: the frontend's API for trading robots.
 *
 * | route | who | what |
 * |---|---|---|
 * | `GET /robots` | signed-in user | the caller's own robots, keyset-paginated |
 * | `GET /robots/public` | anyone (anon key) | public robots, keyset-paginated |
 * | `GET /robots/search?q=` | anyone | trigram search over what the caller may see |
 * | `GET /robots/:id` | anyone | one robot the caller may see (own or public) |
 * | `POST /robots` | signed-in user | create a robot owned by the caller |
 * | `POST /robots/batch` | signed-in user | create up to 100 robots in one transaction |
 * | `PATCH /robots/:id` | owner | change a robot |
 * | `DELETE /robots/:id` | owner | delete a robot |
 *
 * Reads go through the optimizer with keys scoped to the caller (`u=<id>:robots:...`, or
 * `pub:robots:...` for what every caller sees alike) and answer `x-cache`, `Server-Timing` and
 * `ETag`. Writes are never cached or retried and invalidate the tags of what they change.
 * Validation, callers, error mapping and the optimizer wrappers live in `shared/http/`.
 *
 * Listings declare the public strategies they reference as `dependencies` (`keys.ts`), which
 * the cache pre-warms in the background through the loaders `_shared/loaders.ts` registers
 * once per isolate (here and in warmup). The whole API: docs/robots-api.md.
 *
 * @module
 */
import type { Context } from 'hono';
import { z } from 'zod';
import { requireUser } from '@shared/http/caller.ts';
import { ApiError } from '@shared/http/errors.ts';
import { jsonResponse } from '@shared/http/json_response.ts';
import { runInBackground } from '@shared/runtime/background.ts';
import { optimizedResource } from '@shared/http/optimized.ts';
import {
  callerScopedReads,
  createResourceApp,
  DEFAULT_MAX_BODY_BYTES,
  nonEmptyPatch,
  prewarmingWriter,
  type ResourceAppDependencies,
  resourceRequests,
} from '@shared/http/resource_app.ts';
import { pageOf } from '@shared/http/resource_reads.ts';
import { bodyLimitOf, issuesMessage, validJson, validQuery } from '@shared/http/validate.ts';
import { lazySchema } from '@shared/db/validate.ts';
import {
  getDatabase,
  type Robot,
  ROBOT_FIELDS,
  robotCreateSchema,
  RobotsRepository,
  robotUpdateSchema,
  type WriteHooks,
} from '@shared/db/mod.ts';
import type { DeletedRobot } from '@shared/db/robots/repository.ts';
import { advancedBackendOptimizer, scopedTag, userKey } from '@shared/optimizer/mod.ts';
import { registerApiLoaders } from '../_shared/loaders.ts';
import {
  loadPublicRobots,
  prewarmableRobotKeys,
  publicRobotsListKey,
  strategyDependencies,
} from './keys.ts';

export {
  loadPublicRobots,
  MAX_STRATEGY_DEPENDENCIES,
  prewarmableRobotKeys,
  publicRobotsListKey,
  registerRobotLoaders,
  type RobotListQuery,
  strategyDependencies,
} from './keys.ts';

/** Most listing keys whose dependencies an isolate remembers (oldest forgotten first). */
const MAX_REMEMBERED_LISTINGS = 1000;

/** What the robots app runs on; tests pass their own. */
export interface RobotsDependencies extends ResourceAppDependencies {
  /**
   * Largest body of `POST /robots/batch`, bytes.
   * @default 1048576
   */
  maxBatchBodyBytes?: number;
}

/** Most robots one `POST /robots/batch` creates; more is a 413. */
export const MAX_BATCH_ROBOTS = 100;

/** The resource key of the robots table for throttle, breaker and pool. */
export const ROBOTS_RESOURCE_KEY = 'robots_db';

/** Tag of every cached read holding `userId`'s robots. */
export const userRobotsTag = (userId: string): string => scopedTag({ userId }, 'robots');
/** Tag of every cached read holding public robots (the public listing, searches). */
export const PUBLIC_ROBOTS_TAG: string = scopedTag('public', 'robots');
/** Tag of every cached read of one robot by id, whoever cached it. */
export const robotTag = (id: string): string => scopedTag('public', `robot:${id}`);

// ---------------------------------------------------------------------------------------------
// Input schemas: unknown parameters and fields are rejected, never ignored.

const {
  list: listQuerySchema,
  search: searchQuerySchema,
  detail: detailQuerySchema,
  id: robotId,
  notFound,
} = resourceRequests('robot', ROBOT_FIELDS);

/**
 * Body of `POST /robots`: the owner is the caller, the id is the database's. Built on first use,
 * as every schema here (`lazySchema`: a cold start builds only what its first request needs).
 */
export const createBodySchema = lazySchema(
  'robots.createBody',
  () => robotCreateSchema.omit({ id: true, user_id: true }).strict(),
);

/** Body of `PATCH /robots/:id`: at least one field. */
export const updateBodySchema = lazySchema(
  'robots.updateBody',
  () => nonEmptyPatch(robotUpdateSchema),
);

/** Body of `POST /robots/batch`: the items are checked one by one (their index named). */
const batchBodySchema = lazySchema(
  'robots.batchBody',
  () => z.object({ robots: z.array(z.unknown()).min(1) }).strict(),
);

/** The batch's items, each validated as a `POST /robots` body: 413 past the bound, 400 naming the index. */
function batchItems(items: unknown[]): z.output<typeof createBodySchema>[] {
  if (items.length > MAX_BATCH_ROBOTS) {
    throw new ApiError(
      413,
      'payload_too_large',
      `A batch creates at most ${MAX_BATCH_ROBOTS} robots: received ${items.length}`,
    );
  }
  return items.map((item, index) => {
    const result = createBodySchema.safeParse(item);
    if (result.success) return result.data;
    throw new ApiError(
      400,
      'invalid_body',
      `Invalid robots[${index}]: ${issuesMessage(result.error)}`,
      {
        details: result.error.issues.map((i) => ({
          index,
          path: ['robots', index, ...i.path],
          message: i.message,
        })),
      },
    );
  });
}

// ---------------------------------------------------------------------------------------------

/**
 * Builds the robots app over the given database and optimizer.
 *
 * @example
 * ```ts
 * const app = createRobotsApp({
 *   db: () => Promise.resolve(db),
 *   optimizer: new AdvancedBackendOptimizer({ store: new MemoryStore() }),
 * });
 * const res = await app.request('/robots/public');
 * ```
 */
export function createRobotsApp(deps: RobotsDependencies = {}) {
  const openDb = deps.db ?? getDatabase;
  const optimizer = deps.optimizer ?? advancedBackendOptimizer;
  // Pre-warming needs loaders in this isolate: the strategies a listing declares, and the
  // public listing itself (once per optimizer).
  registerApiLoaders(optimizer, openDb);
  const robots = optimizedResource({
    table: 'robots',
    resourceKey: ROBOTS_RESOURCE_KEY,
    repository: (db) => new RobotsRepository(db),
    db: openDb,
    optimizer,
  });

  // A write through the shared layer, then the exact pre-warmable listing keys it made stale.
  const write = prewarmingWriter(robots, optimizer);

  // The strategies each listing key referenced last time: declared as its `dependencies` on
  // the next read (the cache pre-warms them on hits and misses alike). A listing's strategies
  // are known only once it is read: keys seen for the first time (or changed) are pre-warmed
  // right after the read instead, counted the same way.
  const remembered = new Map<string, string[]>();
  const listing = async (
    c: Context,
    operation: (repo: RobotsRepository) => Promise<{ items: Partial<Robot>[] }>,
    read: { cacheKey: string; tags: string[]; filters: Record<string, unknown> },
  ): Promise<Response> => {
    const declared = remembered.get(read.cacheKey);
    const page = await robots.readValue(c, operation, { ...read, dependencies: declared });
    const dependencies = strategyDependencies(page?.items);
    const learned = dependencies.filter((key) => !declared?.includes(key));
    if (learned.length > 0 || declared?.length !== dependencies.length) {
      remembered.delete(read.cacheKey);
      if (remembered.size >= MAX_REMEMBERED_LISTINGS) {
        remembered.delete(remembered.keys().next().value!);
      }
      remembered.set(read.cacheKey, dependencies);
    }
    if (learned.length > 0) {
      runInBackground(async () => {
        const report = await optimizer.cache.prewarm(learned);
        const started = learned.length -
          report.skipped.filter((s) => s.reason === 'fresh' || s.reason === 'no-loader').length;
        if (started > 0) optimizer.metrics.increment('cache.prewarm.dependency', started);
      }, 'robots dependency pre-warm');
    }
    return await robots.respond(c, page, {
      ...read,
      dependencies: () => remembered.get(read.cacheKey),
    });
  };

  // A batch carries up to 100 robots: its own, larger bound.
  const bodyLimitDefault = bodyLimitOf(deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
  const bodyLimitBatch = bodyLimitOf(deps.maxBatchBodyBytes ?? 1_048_576);
  // Search over what the caller may see (own and public robots for users, public for anon) and
  // one by id, keyed and tagged by who asks.
  const reads = callerScopedReads(robots, {
    name: 'robots',
    tags: { user: userRobotsTag, public: PUBLIC_ROBOTS_TAG, item: robotTag },
    notFound,
  });

  const app = createResourceApp(
    'robots',
    deps,
    (c, next) =>
      c.req.method === 'POST' && c.req.path.replace(/\/+$/, '').endsWith('/robots/batch')
        ? bodyLimitBatch(c, next)
        : bodyLimitDefault(c, next),
  );

  // Own robots.
  app.get('/', validQuery(listQuerySchema), (c) => {
    const { caller, userId } = requireUser(c);
    const query = c.req.valid('query');
    return listing(c, (repo) =>
      repo.list(caller, {
        ...pageOf(query),
        filters: { ownerId: userId, strategyType: query.strategy_type },
      }), {
      cacheKey: userKey(userId, 'robots', 'list', query),
      tags: [userRobotsTag(userId)],
      filters: { user_id: userId, strategy_type: query.strategy_type },
    });
  });

  // Public robots: the same for every caller, so read as anon under one `pub:` key.
  app.get('/public', validQuery(listQuerySchema), (c) => {
    const query = c.req.valid('query');
    return listing(c, (repo) => loadPublicRobots(repo, query), {
      cacheKey: publicRobotsListKey(query),
      tags: [PUBLIC_ROBOTS_TAG],
      filters: { is_public: true, strategy_type: query.strategy_type },
    });
  });

  // Search over what the caller may see: own and public robots for users, public for anon.
  app.get('/search', validQuery(searchQuerySchema), (c) => reads.search(c, c.req.valid('query')));

  app.get(
    '/:id',
    robotId,
    validQuery(detailQuerySchema),
    (c) => reads.detail(c, c.req.valid('param').id, c.req.valid('query')),
  );

  app.post('/', validJson(createBodySchema), async (c) => {
    const { caller, userId } = requireUser(c);
    const body = c.req.valid('json');
    const robot = await write(
      (repo, hooks: Required<WriteHooks<Robot>>) => repo.create(caller, body, hooks),
      (created) => [
        userRobotsTag(userId),
        robotTag(created.id),
        ...(created.is_public ? [PUBLIC_ROBOTS_TAG] : []),
      ],
      (created) => created.is_public ? prewarmableRobotKeys([created.strategy_type]) : [],
    );
    c.header('location', `/functions/v1/robots/${robot.id.toLowerCase()}`);
    return jsonResponse(c, robot, 201);
  });

  // Many robots in ONE transaction: all are created or none (a bad strategy_id or a taken id
  // rolls the batch back), so a client retries the whole batch, never a guessed remainder.
  app.post('/batch', validJson(batchBodySchema), async (c) => {
    const { caller, userId } = requireUser(c);
    const items = batchItems(c.req.valid('json').robots);
    const created = await write(
      (repo, hooks: Required<WriteHooks<Robot[]>>) =>
        repo.createMany(caller, items, hooks, MAX_BATCH_ROBOTS),
      // One outbox row for the whole batch. No per-robot tags: the ids are the server's, new,
      // so no read of them can be cached yet.
      (rows) => [
        userRobotsTag(userId),
        ...(rows.some((robot) => robot.is_public) ? [PUBLIC_ROBOTS_TAG] : []),
      ],
      (rows) => {
        const types = rows.filter((robot) => robot.is_public).map((robot) => robot.strategy_type);
        return types.length > 0 ? prewarmableRobotKeys(types) : [];
      },
    );
    return jsonResponse(c, { count: created.length, items: created }, 201);
  });

  app.patch('/:id', robotId, validJson(updateBodySchema), async (c) => {
    const { caller, userId } = requireUser(c);
    const { id } = c.req.valid('param');
    const patch = c.req.valid('json');
    // Public now, or public before (only a change of is_public can make it private).
    const touchesPublic = (updated: Robot) => updated.is_public || patch.is_public !== undefined;
    const robot = await write(
      (repo, hooks: Required<WriteHooks<Robot>>) => repo.update(caller, id, patch, hooks),
      (updated) => [
        userRobotsTag(userId),
        robotTag(id),
        ...(touchesPublic(updated) ? [PUBLIC_ROBOTS_TAG] : []),
      ],
      // A changed type leaves the old type's page stale too: which one is not known here.
      (updated) =>
        touchesPublic(updated)
          ? prewarmableRobotKeys(patch.strategy_type ? 'all' : [updated.strategy_type])
          : [],
    );
    if (!robot) throw notFound(id);
    return jsonResponse(c, robot);
  });

  app.delete('/:id', robotId, async (c) => {
    const { caller, userId } = requireUser(c);
    const { id } = c.req.valid('param');
    // The deleted row (RLS: only the caller's own) tells, inside the transaction, which reads
    // it staled; another user's robot deletes nothing and is a 404.
    const deleted = await write(
      (repo, hooks: Required<WriteHooks<DeletedRobot>>) => repo.delete(caller, id, hooks),
      (gone) => [
        userRobotsTag(userId),
        robotTag(id),
        ...(gone.is_public ? [PUBLIC_ROBOTS_TAG] : []),
      ],
      (gone) => gone.is_public ? prewarmableRobotKeys([gone.strategy_type]) : [],
    );
    if (!deleted) throw notFound(id);
    return c.body(null, 204);
  });

  return app;
}

/** The deployed app: the isolate's database and optimizer. */
export const app = createRobotsApp();
