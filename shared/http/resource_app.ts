/**
 * The plumbing every resource function (`robots`, `strategies`) shares, so that each `app.ts`
 * holds only its routes, keys and tags:
 *
 * - {@link ResourceAppDependencies} and {@link createResourceApp}: the app with authentication,
 *   the per-caller rate limit, "writes need a user" and the body limit, in that order;
 * - {@link resourceRequests}, {@link nonEmptyPatch}: the query schemas, the id parameter, the
 *   404 of an id the caller cannot see, and the `PATCH` body rule;
 * - {@link callerScopedReads}: the search and the read by id, keyed and tagged by who asks;
 * - {@link prewarmingWriter}: a write through `optimizedResource` that also invalidates the
 *   exact pre-warmable keys it made stale (a loader knows no tags, so a tag would miss them).
 *
 * The listing reads their loaders share too (paging, public listing): `resource_reads.ts`.
 *
 * @module
 */
import type { Context, Hono, MiddlewareHandler } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { z } from 'zod';
import type { Caller } from '../db/caller.ts';
import type { WriteHooks } from '../db/hooks.ts';
import type { Database } from '../db/types.ts';
import type { AdvancedBackendOptimizer } from '../optimizer/mod.ts';
import { type KeyPart, scopedKey, userKey } from '../optimizer/keys.ts';
import type { ListingFilters } from './resource_reads.ts';
import { createFunctionApp, type FunctionEnv } from './app.ts';
import { authenticateWith, type AuthOptions, type AuthVariables, callerResolver } from './auth.ts';
import { callerOf, writesNeedUser } from './caller.ts';
import { ApiError } from './errors.ts';
import type { OptimizedResource } from './optimized.ts';
import { callerRateLimit, type RateLimitOptions } from './rate_limit.ts';
import { HitLane } from './hit_lane.ts';
import { processEnv } from '../runtime/env.ts';
import type { FieldMap } from '../db/pagination.ts';
import { bodyLimitOf, idParams, listingQuerySchemas, validParams } from './validate.ts';

/** What a resource app runs on; tests pass their own. */
export interface ResourceAppDependencies {
  /** Per-caller rate limiting (`QF_RATELIMIT_*`). @default from the environment */
  rateLimit?: RateLimitOptions;
  /** The database (created once per isolate). @default getDatabase */
  db?: () => Promise<Database>;
  /** The optimizer reads go through. @default advancedBackendOptimizer */
  optimizer?: AdvancedBackendOptimizer;
  /**
   * Authentication options: the JWT secret's environment, a verifier of its own (tests).
   * @default the process environment and the isolate's verifier
   */
  auth?: Pick<AuthOptions, 'env' | 'verifier'>;
  /**
   * Largest request body, bytes.
   * @default 65536
   */
  maxBodyBytes?: number;
  /**
   * Answer repeated cached reads before Hono's chain (`hit_lane.ts`).
   * @default true unless `QF_HIT_LANE=false`
   */
  hitLane?: boolean;
}

/** The Hono environment of a resource app: the base variables and `auth`. */
export type ResourceEnv = FunctionEnv & { Variables: AuthVariables };

/** Largest request body of a resource app when none is given, bytes. */
export const DEFAULT_MAX_BODY_BYTES = 65_536;

/**
 * A function app (`createFunctionApp(name)`) with the middleware every resource route runs
 * behind: `authenticate`, the per-caller rate limit (one caller's flood never starves another),
 * `writesNeedUser`, then `bodyLimit` (by default {@link bodyLimitOf} `deps.maxBodyBytes`); and,
 * unless `deps.hitLane` is false, the hit lane (`hit_lane.ts`) in front of its `fetch`.
 *
 * @example
 * ```ts
 * const app = createResourceApp('strategies', deps);
 * app.get('/', validQuery(list), (c) => strategies.read(c, ...));
 * ```
 */
export function createResourceApp(
  name: string,
  deps: ResourceAppDependencies,
  bodyLimit: MiddlewareHandler = bodyLimitOf(deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES),
): Hono<ResourceEnv> {
  const app = createFunctionApp<ResourceEnv>(name);
  const resolveCaller = callerResolver({ env: deps.auth?.env, verifier: deps.auth?.verifier });
  const rateLimit = callerRateLimit(deps.rateLimit);
  app.use('*', authenticateWith(resolveCaller) as never);
  // Per caller (user id, else client address): one caller's flood never starves another. Turned
  // off (QF_RATELIMIT_ENABLED=false), its middleware only passes on: not registered at all.
  if (rateLimit.enabled) app.use('*', rateLimit.middleware as never);
  // `writesNeedUser` then `bodyLimit`, in one dispatch; a read without a body passes both
  // unchanged (a GET or HEAD needs no user, and a missing body is within any limit), so it
  // skips them (docs/performance.md, the miss path's third pass).
  app.use(
    '*',
    createMiddleware(async function writeChecks(c, next) {
      const method = c.req.method;
      if ((method === 'GET' || method === 'HEAD') && c.req.raw.body === null) return await next();
      // What bodyLimit returns is the chain's answer, as when it had a dispatch of its own.
      let answered: Response | void = undefined;
      await writesNeedUser(c, async () => {
        answered = await bodyLimit(c, next);
      });
      return answered;
    }) as never,
  );
  if (deps.hitLane ?? processEnv('QF_HIT_LANE') !== 'false') {
    // Repeated cached reads are answered before the chain above, with the same admission.
    app.fetch = new HitLane({ resolveCaller, rateLimit }).wrap(app.fetch);
  }
  return app;
}

/**
 * How a resource's requests are read: the query schemas of its listing, search and read by id
 * (`listingQuerySchemas(fields)`), the `:id` parameter (a uuid, 400 naming `<noun> id`
 * otherwise) and the 404 of an id the caller cannot see (missing, or another user's private row:
 * the same answer, so that ids do not leak).
 *
 * @example
 * ```ts
 * const { list, id: robotId, notFound } = resourceRequests('robot', ROBOT_FIELDS);
 * app.get('/:id', robotId, (c) => { throw notFound(c.req.valid('param').id); });
 * ```
 */
export function resourceRequests(noun: string, fields: FieldMap) {
  return {
    ...listingQuerySchemas(fields),
    id: validParams(idParams, `${noun} id`),
    notFound: (id: string): ApiError => notFoundError(noun, id),
  };
}

/**
 * The body schema of a `PATCH`: `schema`, refusing a patch that sets no field.
 *
 * @example
 * ```ts
 * export const updateBodySchema = nonEmptyPatch(robotUpdateSchema);
 * ```
 */
export function nonEmptyPatch<S extends z.ZodObject>(schema: S): S {
  return schema.refine(
    (patch) => Object.values(patch as object).some((value) => value !== undefined),
    { message: `needs at least one of ${Object.keys(schema.shape).join(', ')}` },
  );
}

/**
 * The 404 of a row the caller cannot see (missing, or another user's private row: the same
 * answer, so that ids do not leak).
 *
 * @example
 * ```ts
 * throw notFoundError('robot', id); // 404 not_found: No robot <id> visible to this caller
 * ```
 */
export function notFoundError(noun: string, id: string): ApiError {
  return new ApiError(404, 'not_found', `No ${noun} ${id} visible to this caller`);
}

/** A search query as validated (`listingQuerySchemas(...).search`). */
export interface SearchQuery {
  q: string;
  limit?: number;
  fields?: string;
  strategy_type?: string;
}

/** A repository with a search (robots, strategies). */
interface SearchRepository<Hit> {
  search(
    caller: Caller,
    options: { query: string; limit?: number; fields?: string; filters?: ListingFilters },
  ): Promise<Hit[]>;
}

/** The search over what `caller` may see, as a read operation answering `{ items }`. */
function searchVisible(
  caller: Caller,
  query: SearchQuery,
): <Hit>(repo: SearchRepository<Hit>) => Promise<{ items: Hit[] }> {
  return async (repo) => ({
    items: await repo.search(caller, {
      query: query.q,
      limit: query.limit,
      fields: query.fields,
      filters: query.strategy_type ? { strategyType: query.strategy_type } : undefined,
    }),
  });
}

/** The cache tags of a resource: what a write names to drop the reads it made stale. */
export interface ResourceTags {
  /** Tag of every cached read holding `userId`'s rows (own listing, own searches). */
  user(userId: string): string;
  /** Tag of every cached read holding public rows (the public listing, searches). */
  public: string;
  /** Tag of every cached read of one row by id, whoever cached it. */
  item(id: string): string;
}

/** How one cached read is keyed: `optimizedResource(...).read`'s options. */
export interface ScopedRead {
  /** `u=<userId>:<resource>:...` for a signed-in user, `pub:<resource>:...` for anyone else. */
  cacheKey: string;
  tags: string[];
  /** Filters, for query-plan analysis. */
  filters: Record<string, unknown>;
}

/** A repository with a search and a read by id (robots, strategies). */
interface ReadableRepository extends SearchRepository<unknown> {
  getById(caller: Caller, id: string, fields?: string): Promise<unknown>;
}

/** Options of {@link callerScopedReads}. */
export interface CallerScopedReadsOptions {
  /** The resource's name, the second part of its keys (`u=<id>:robots:...`). */
  name: string;
  /** Its cache tags. */
  tags: ResourceTags;
  /** The error of a row the caller cannot see (`resourceRequests(...).notFound`). */
  notFound: (id: string) => ApiError;
}

/**
 * The reads whose answer depends on the caller, keyed and tagged by who asks: a signed-in user
 * sees their own rows and the public ones (a key under `u=<id>`, their tag and the shared one),
 * anyone else only the public ones (a `pub:` key, alike for every anonymous caller, the key a
 * loader pre-warms).
 *
 * - `search(c, query)`: the search (`?q=`) over the caller's rows and the public ones;
 * - `detail(c, id, query)`: one row by id (the 404 when missing); any write to it drops every
 *   caller's copy (e.g. it turned private).
 *
 * @example
 * ```ts
 * const reads = callerScopedReads(robots, {
 *   name: 'robots',
 *   tags: { user: userRobotsTag, public: PUBLIC_ROBOTS_TAG, item: robotTag },
 *   notFound,
 * });
 * app.get('/search', validQuery(search), (c) => reads.search(c, c.req.valid('query')));
 * ```
 */
export function callerScopedReads<R extends ReadableRepository>(
  resource: Pick<OptimizedResource<R>, 'read'>,
  { name, tags, notFound }: CallerScopedReadsOptions,
): {
  search(c: Context, query: SearchQuery): Promise<Response>;
  detail(c: Context, id: string, query: { fields?: string }): Promise<Response>;
} {
  const keyOf = (userId: string | undefined, ...parts: KeyPart[]) =>
    userId ? userKey(userId, name, ...parts) : scopedKey('public', name, ...parts);
  return {
    search(c, query) {
      const { caller, userId } = callerOf(c);
      return resource.read(c, searchVisible(caller, query), {
        cacheKey: keyOf(userId, 'search', { ...query }),
        tags: userId ? [tags.user(userId), tags.public] : [tags.public],
        filters: { q: query.q, strategy_type: query.strategy_type },
      });
    },
    detail(c, id, query) {
      const { caller, userId } = callerOf(c);
      return resource.read(c, (repo) => repo.getById(caller, id, query.fields), {
        cacheKey: keyOf(userId, 'get', id, { ...query }),
        tags: userId ? [tags.user(userId), tags.item(id)] : [tags.item(id)],
        filters: { id },
        whenMissing: () => notFound(id),
      });
    },
  };
}

/**
 * A write through `resource` that also invalidates, after the commit, the exact pre-warmable
 * keys its row made stale: a loader knows no tags, so a key pre-warmed right after a tag
 * invalidation is stored untagged and a later tag invalidation would miss it. Both lists are
 * computed inside the write's transaction, from the same row. An invalidation the store does not
 * confirm stays pending in the cache (retried there); the write still answers.
 *
 * @example
 * ```ts
 * const write = prewarmingWriter(robots, optimizer);
 * await write((repo, hooks) => repo.create(caller, body, hooks), tagsOf, prewarmableKeysOf);
 * ```
 */
export function prewarmingWriter<R>(
  resource: Pick<OptimizedResource<R>, 'write'>,
  optimizer: Pick<AdvancedBackendOptimizer, 'invalidate'>,
) {
  return async <T, Row>(
    operation: (repo: R, hooks: Required<WriteHooks<Row>>) => Promise<T>,
    tags: (row: Row) => string[],
    prewarmable: (row: Row) => string[],
  ): Promise<T> => {
    const keys = new Set<string>();
    const value = await resource.write<T, Row>(operation, {
      tags: (row) => {
        for (const key of prewarmable(row)) keys.add(key);
        return tags(row);
      },
    });
    await Promise.all([...keys].map((key) => optimizer.invalidate(key).catch(() => false)));
    return value;
  };
}
