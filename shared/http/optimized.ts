/**
 * Reads and writes of one resource through the optimizer, the way every function does them:
 *
 * - `read(c, op, { cacheKey, tags })`: cached under a caller-scoped key, every optimizer layer
 *   (cache, dedup, throttle, breaker, retry, pool), answered with `x-cache`, `Server-Timing`,
 *   `cache-control: private, no-store`, a strong `ETag` and `304` on `If-None-Match`;
 * - `write(op, { tags })`: tried once, never cached; the repository runs `afterWrite` inside its
 *   own transaction, where the tags it made stale are computed and recorded in the invalidation
 *   outbox (`enqueueInvalidation(tx, tags)`); after the commit they are invalidated with
 *   `optimizer.invalidateTags(tags, { outboxId, db })`, which deletes the outbox row once the
 *   store confirmed (or leaves it for the next drain).
 *
 * @module
 */
import type { Context } from 'hono';
import { setMetric } from 'hono/timing';
import type { Database, SqlExecutor } from '../db/types.ts';
import type { WriteHooks } from '../db/hooks.ts';
import {
  type AdvancedBackendOptimizer,
  advancedBackendOptimizer,
  type OptimizedResult,
} from '../optimizer/mod.ts';
import { getDatabase } from '../db/mod.ts';
import { enqueueInvalidation, MAX_OUTBOX_TAGS } from '../optimizer/cache/outbox.ts';
import type { ApiError } from './errors.ts';
import { conditionalJson } from './json_response.ts';
import { answerHeader } from './answer.ts';
import type { AuthContext } from './auth.ts';
import { HitLane } from './hit_lane.ts';

/** Options of {@link optimizedResource}. */
export interface OptimizedResourceOptions<R> {
  /** Builds the repository over a database (once per database). */
  repository: (db: Database) => R;
  /** Table read and written, for query-plan analysis and metrics. */
  table: string;
  /** Throttle, breaker and pool key. @default table + '_db' */
  resourceKey?: string;
  /** The database (created once per isolate). @default getDatabase */
  db?: () => Promise<Database>;
  /** The optimizer. @default advancedBackendOptimizer */
  optimizer?: AdvancedBackendOptimizer;
}

/** Options of one cached read. */
export interface ReadOptions<T> {
  /** Caller-scoped cache key (`userKey(...)` / `scopedKey('public', ...)`), canonical parts. */
  cacheKey: string;
  /** Tags whose invalidation drops this entry. */
  tags: string[];
  /** Filters, for query-plan analysis. */
  filters?: Record<string, unknown>;
  /** Keys to pre-warm in the background. */
  dependencies?: string[];
  /** When the value is `null`/`undefined`: the error to answer (e.g. a 404). */
  whenMissing?: (value: T) => ApiError;
}

/** Options of one write. */
export interface WriteOptions<Row> {
  /** The cache tags the written row makes stale; computed inside the write's transaction. */
  tags: (row: Row) => string[];
}

/** What {@link optimizedResource} returns. */
export interface OptimizedResource<R> {
  /** The repository and database (for reads a route makes outside the cache). */
  open(): Promise<{ db: Database; repo: R }>;
  /** A cached read answered as JSON with ETag (or 304). */
  read<T>(
    c: Context,
    operation: (repo: R) => Promise<T>,
    options: ReadOptions<T>,
  ): Promise<Response>;
  /** A cached read's value and how it was served (headers already set on `c`). */
  readValue<T>(
    c: Context,
    operation: (repo: R) => Promise<T>,
    options: Omit<ReadOptions<T>, 'whenMissing'>,
  ): Promise<T>;
  /**
   * The answer of a cached read's value ({@link readValue}): JSON with ETag (or 304), the hit
   * lane told, and a value that cannot be serialized dropped from the cache. `dependencies`
   * gives the keys the read declares at each later hit.
   */
  respond(
    c: Context,
    value: unknown,
    read: { cacheKey: string; tags: string[]; dependencies?: () => string[] | undefined },
  ): Promise<Response>;
  /** A write: once, uncached; stale tags invalidated after the commit. */
  write<T, Row>(
    operation: (repo: R, hooks: Required<WriteHooks<Row>>) => Promise<T>,
    options: WriteOptions<Row>,
  ): Promise<T>;
}

/** `x-cache`, `Server-Timing` and `cache-control` of a read. */
function cacheHeaders(c: Context, result: OptimizedResult<unknown>): void {
  const cache = result.cache;
  answerHeader(
    c,
    'x-cache',
    cache ? `${cache.status}; tier=${cache.tier}; reason=${cache.reason}` : 'bypass',
  );
  setMetric(
    c,
    'optimizer',
    result.durationMs,
    cache ? `${cache.status} ${cache.tier}` : 'uncached',
  );
  // The optimizer is the cache: browsers and CDNs would not see its invalidations. ETags still
  // let a client revalidate for free (304).
  answerHeader(c, 'cache-control', 'private, no-store');
}

/**
 * The read and write wrappers of one resource.
 *
 * @example
 * ```ts
 * const robots = optimizedResource({ table: 'robots', repository: (db) => new RobotsRepository(db) });
 * app.get('/public', validQuery(listQuery), (c) =>
 *   robots.read(c, (repo) => repo.list(ANON_CALLER, { filters: { isPublic: true } }), {
 *     cacheKey: scopedKey('public', 'robots', 'list', c.req.valid('query')),
 *     tags: [PUBLIC_ROBOTS_TAG],
 *   }));
 * ```
 */
export function optimizedResource<R>(options: OptimizedResourceOptions<R>): OptimizedResource<R> {
  const openDb = options.db ?? getDatabase;
  const optimizer = options.optimizer ?? advancedBackendOptimizer;
  const table = options.table;
  const resourceKey = options.resourceKey ?? `${table}_db`;
  const repositories = new WeakMap<Database, R>();

  const open = async () => {
    const db = await openDb();
    let repo = repositories.get(db);
    if (!repo) repositories.set(db, repo = options.repository(db));
    return { db, repo };
  };

  const readValue = async <T>(
    c: Context,
    operation: (repo: R) => Promise<T>,
    read: Omit<ReadOptions<T>, 'whenMissing'>,
  ): Promise<T> => {
    const { db, repo } = await open();
    const result = await optimizer.executeOptimizedOperationDetailed(db, () => operation(repo), {
      cacheKey: read.cacheKey,
      table,
      filters: read.filters,
      resourceKey,
      tags: read.tags,
      dependencies: read.dependencies,
    });
    cacheHeaders(c, result);
    return result.value;
  };

  const respond: OptimizedResource<R>['respond'] = async (c, value, read) => {
    try {
      // With caching off no later request answers this value again: its text is not kept, and
      // the hit lane, which could never answer (`memoryHit` is always undefined), gets no entry
      // (docs/performance.md, the miss path's third pass).
      const caching = optimizer.config.enablePredictiveCaching;
      const response = conditionalJson(c, value, caching);
      if (caching && value !== null && typeof value === 'object') {
        // The next identical request may be answered by the hit lane (`hit_lane.ts`).
        HitLane.remember(c.req.raw, c.get('auth') as AuthContext | undefined, {
          optimizer,
          cacheKey: read.cacheKey,
          tags: read.tags,
          dependencies: read.dependencies,
          value,
        });
      }
      return response;
    } catch (error) {
      // A value that cannot be serialized must not stay cached and fail every later request
      // (the schemas bound what users store; this is the last guard): drop it, answer 500 once.
      await optimizer.invalidate(read.cacheKey).catch(() => false);
      throw error;
    }
  };

  return {
    open,
    readValue,
    respond,
    async read(c, operation, read) {
      const value = await readValue(c, operation, read);
      if ((value === null || value === undefined) && read.whenMissing) {
        throw read.whenMissing(value);
      }
      const declared = read.dependencies;
      return await respond(c, value, { ...read, dependencies: declared && (() => declared) });
    },
    async write<T, Row>(
      operation: (repo: R, hooks: Required<WriteHooks<Row>>) => Promise<T>,
      write: WriteOptions<Row>,
    ): Promise<T> {
      const { db, repo } = await open();
      // One entry per row written: its stale tags and the outbox row recording them.
      const invalidations: { tags: string[]; outboxId?: string }[] = [];
      const hooks: Required<WriteHooks<Row>> = {
        afterWrite: async (tx: SqlExecutor, row: Row) => {
          const tags = [...new Set(write.tags(row))];
          if (tags.length === 0) return;
          // Recorded in the SAME transaction as the write: if the store is unreachable after
          // the commit, the invalidation survives this isolate (shared/optimizer/cache/outbox.ts).
          // A failure here rolls the write back.
          const outboxId = tags.length <= MAX_OUTBOX_TAGS
            ? await enqueueInvalidation(tx, tags)
            : undefined;
          invalidations.push({ tags, outboxId });
        },
      };
      const value = await optimizer.executeOptimizedOperation(
        db,
        () => operation(repo, hooks),
        { table, resourceKey, idempotent: false },
      );
      // After the commit: invalidate now; the outbox row goes once the store confirmed.
      await Promise.all(
        invalidations.map(({ tags, outboxId }) =>
          optimizer.invalidateTags(tags, outboxId === undefined ? {} : { outboxId, db })
        ),
      );
      return value;
    },
  };
}
