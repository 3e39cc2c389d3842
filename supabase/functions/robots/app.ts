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
 * | `PATCH /robots/:id` | owner | change a robot |
 * | `DELETE /robots/:id` | owner | delete a robot |
 *
 * Reads go through the optimizer with keys scoped to the caller (`u=<id>:robots:...`, or
 * `pub:robots:...` for what every caller sees alike) and answer `x-cache` and `Server-Timing`.
 * Writes are never cached or retried and invalidate the tags of what they change.
 *
 * @module
 */
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { setMetric } from 'hono/timing';
import { z } from 'zod';
import { createFunctionApp, type FunctionEnv } from '@shared/http/app.ts';
import { authenticate, type AuthOptions, type AuthVariables } from '@shared/http/auth.ts';
import { ApiError } from '@shared/http/errors.ts';
import {
  type Caller,
  type Database,
  decodeCursor,
  getDatabase,
  MAX_PAGE_LIMIT,
  ROBOT_FIELDS,
  robotCreateSchema,
  RobotsRepository,
  robotUpdateSchema,
  selectFields,
  STRATEGY_TYPES,
  userCaller,
} from '@shared/db/mod.ts';
import {
  type AdvancedBackendOptimizer,
  advancedBackendOptimizer,
  type OptimizedResult,
  scopedKey,
  scopedTag,
  userKey,
} from '@shared/optimizer/mod.ts';

/** What the robots app runs on; tests pass their own. */
export interface RobotsDependencies {
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

type RobotsEnv = FunctionEnv & { Variables: AuthVariables };

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

const uuid = z.guid({ message: 'must be a uuid' });

const fieldsParam = z.string().max(500).superRefine((value, ctx) => {
  try {
    selectFields(ROBOT_FIELDS, value);
  } catch (error) {
    ctx.addIssue({
      code: 'custom',
      message: (error as Error).message.replace(/^'fields' /, ''),
    });
  }
});

const limitParam = z.string().regex(/^\d+$/, 'must be an integer').transform(
  Number,
).pipe(
  z.number().int().min(1).max(MAX_PAGE_LIMIT),
);

const cursorParam = z.string().max(500).superRefine((value, ctx) => {
  try {
    decodeCursor(value);
  } catch {
    ctx.addIssue({
      code: 'custom',
      message: 'is not a cursor returned by this API',
    });
  }
});

const listQuerySchema = z.object({
  limit: limitParam.optional(),
  cursor: cursorParam.optional(),
  fields: fieldsParam.optional(),
  strategy_type: z.enum(STRATEGY_TYPES).optional(),
  total: z.enum(['exact', 'estimated', 'none']).optional(),
}).strict();

const searchQuerySchema = z.object({
  q: z.string().trim().min(2).max(100),
  limit: limitParam.optional(),
  fields: fieldsParam.optional(),
  strategy_type: z.enum(STRATEGY_TYPES).optional(),
}).strict();

const detailQuerySchema = z.object({ fields: fieldsParam.optional() }).strict();

/** Body of `POST /robots`: the owner is the caller, the id is the database's. */
export const createBodySchema = robotCreateSchema.omit({
  id: true,
  user_id: true,
}).strict();

/** Body of `PATCH /robots/:id`: at least one field. */
export const updateBodySchema = robotUpdateSchema.refine(
  (patch) => Object.values(patch).some((value) => value !== undefined),
  {
    message: `needs at least one of ${Object.keys(robotUpdateSchema.shape).join(', ')}`,
  },
);

function issuesMessage(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length ? `'${i.path.join('.')}' ` : ''}${i.message}`)
    .join('; ');
}

function parseWith<S extends z.ZodType>(
  schema: S,
  input: unknown,
  code: string,
  what: string,
): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) {
    throw new ApiError(
      400,
      code,
      `Invalid ${what}: ${issuesMessage(result.error)}`,
      {
        details: result.error.issues.map((i) => ({
          path: i.path,
          message: i.message,
        })),
      },
    );
  }
  return result.data;
}

function parseQuery<S extends z.ZodType>(c: Context, schema: S): z.output<S> {
  const url = new URL(c.req.url);
  const query: Record<string, string> = {};
  for (const [name, value] of url.searchParams) {
    if (Object.hasOwn(query, name)) {
      throw new ApiError(
        400,
        'invalid_query',
        `Invalid query: '${name}' is given more than once`,
      );
    }
    query[name] = value;
  }
  return parseWith(schema, query, 'invalid_query', 'query');
}

function parseId(c: Context): string {
  return parseWith(uuid, c.req.param('id'), 'invalid_id', 'robot id');
}

async function parseBody<S extends z.ZodType>(
  c: Context,
  schema: S,
): Promise<z.output<S>> {
  const text = await c.req.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new ApiError(
      400,
      'invalid_json',
      `Request body is not valid JSON: ${(error as Error).message}`,
    );
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ApiError(
      400,
      'invalid_body',
      `Invalid body: must be a JSON object`,
    );
  }
  return parseWith(schema, body, 'invalid_body', 'body');
}

// ---------------------------------------------------------------------------------------------
// Callers, database errors, cache headers.

/** The signed-in user's id, or 401. */
function requireUser(c: Context<RobotsEnv>): string {
  const auth = c.get('auth');
  if (auth.role !== 'authenticated' || !auth.userId) {
    throw new ApiError(
      401,
      'login_required',
      'This route needs a signed-in user JWT',
    );
  }
  return auth.userId;
}

/** How the database sees the caller: the signed-in user, else `anon` (public rows only). */
function callerOf(c: Context<RobotsEnv>): { caller: Caller; userId?: string } {
  const auth = c.get('auth');
  if (auth.role === 'authenticated' && auth.userId) {
    return {
      caller: userCaller({ ...auth.claims, role: 'authenticated' }),
      userId: auth.userId,
    };
  }
  return { caller: userCaller({ role: 'anon' }) };
}

/** Postgres errors a caller's write can cause, as 4xx answers instead of 500s. */
function translateWriteError(error: unknown): never {
  const code = (error as { code?: unknown })?.code;
  if (code === '23503') {
    throw new ApiError(
      400,
      'invalid_reference',
      "'strategy_id' does not name an existing strategy",
    );
  }
  if (code === '23514' || code === '22P02' || code === '22001') {
    throw new ApiError(
      400,
      'invalid_body',
      `Invalid body: ${(error as Error).message}`,
    );
  }
  if (code === '42501') {
    throw new ApiError(
      403,
      'forbidden',
      'Row level security rejected this write',
    );
  }
  throw error;
}

function notFound(id: string): ApiError {
  return new ApiError(
    404,
    'not_found',
    `No robot ${id} visible to this caller`,
  );
}

/** `x-cache`, `Server-Timing` and `cache-control` of a read. */
function cacheHeaders(
  c: Context<RobotsEnv>,
  result: OptimizedResult<unknown>,
): void {
  const cache = result.cache;
  c.header(
    'x-cache',
    cache ? `${cache.status}; tier=${cache.tier}; reason=${cache.reason}` : 'bypass',
  );
  setMetric(
    c,
    'optimizer',
    result.durationMs,
    cache ? `${cache.status} ${cache.tier}` : 'uncached',
  );
  // The optimizer is the cache: browsers and CDNs would not see its invalidations.
  c.header('cache-control', 'private, no-store');
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
  const repositories = new WeakMap<Database, RobotsRepository>();
  const robots = async (): Promise<
    { db: Database; repo: RobotsRepository }
  > => {
    const db = await openDb();
    let repo = repositories.get(db);
    if (!repo) repositories.set(db, repo = new RobotsRepository(db));
    return { db, repo };
  };

  /** A cached read through every optimizer layer. */
  const read = async <T>(
    c: Context<RobotsEnv>,
    operation: (repo: RobotsRepository) => Promise<T>,
    options: {
      cacheKey: string;
      tags: string[];
      filters: Record<string, unknown>;
    },
  ): Promise<T> => {
    const { db, repo } = await robots();
    const result = await optimizer.executeOptimizedOperationDetailed(
      db,
      () => operation(repo),
      {
        cacheKey: options.cacheKey,
        table: 'robots',
        filters: options.filters,
        resourceKey: ROBOTS_RESOURCE_KEY,
        tags: options.tags,
      },
    );
    cacheHeaders(c, result);
    return result.value;
  };

  /** A write: tried once, never cached; then the tags it made stale are dropped. */
  const write = async <T>(
    operation: (repo: RobotsRepository) => Promise<T>,
    staleTags: (value: T) => string[],
  ): Promise<T> => {
    const { db, repo } = await robots();
    let value: T;
    try {
      value = await optimizer.executeOptimizedOperation(
        db,
        () => operation(repo),
        {
          table: 'robots',
          resourceKey: ROBOTS_RESOURCE_KEY,
          idempotent: false,
        },
      );
    } catch (error) {
      translateWriteError(error);
    }
    await Promise.all(
      [...new Set(staleTags(value))].map((tag) => optimizer.invalidateTag(tag)),
    );
    return value;
  };

  const app = createFunctionApp<RobotsEnv>('robots');
  app.use('*', authenticate({ env: deps.auth?.env }) as never);
  app.use(
    '*',
    bodyLimit({
      maxSize: deps.maxBodyBytes ?? 65_536,
      onError: () => {
        throw new ApiError(
          413,
          'payload_too_large',
          'Request body is too large',
        );
      },
    }),
  );

  // Own robots.
  app.get('/', async (c) => {
    const userId = requireUser(c);
    const query = parseQuery(c, listQuerySchema);
    const { caller } = callerOf(c);
    const page = await read(
      c,
      (repo) =>
        repo.list(caller, {
          limit: query.limit,
          cursor: query.cursor,
          fields: query.fields,
          total: query.total,
          filters: { ownerId: userId, strategyType: query.strategy_type },
        }),
      {
        cacheKey: userKey(userId, 'robots', 'list', query),
        tags: [userRobotsTag(userId)],
        filters: { user_id: userId, strategy_type: query.strategy_type },
      },
    );
    return c.json(page);
  });

  // Public robots: the same for every caller, so read as anon under one `pub:` key.
  app.get('/public', async (c) => {
    const query = parseQuery(c, listQuerySchema);
    const page = await read(
      c,
      (repo) =>
        repo.list(userCaller({ role: 'anon' }), {
          limit: query.limit,
          cursor: query.cursor,
          fields: query.fields,
          total: query.total,
          filters: { isPublic: true, strategyType: query.strategy_type },
        }),
      {
        cacheKey: scopedKey('public', 'robots', 'list', query),
        tags: [PUBLIC_ROBOTS_TAG],
        filters: { is_public: true, strategy_type: query.strategy_type },
      },
    );
    return c.json(page);
  });

  // Search over what the caller may see: own and public robots for users, public for anon.
  app.get('/search', async (c) => {
    const query = parseQuery(c, searchQuerySchema);
    const { caller, userId } = callerOf(c);
    const items = await read(
      c,
      (repo) =>
        repo.search(caller, {
          query: query.q,
          limit: query.limit,
          fields: query.fields,
          filters: query.strategy_type ? { strategyType: query.strategy_type } : undefined,
        }),
      {
        cacheKey: userId
          ? userKey(userId, 'robots', 'search', query)
          : scopedKey('public', 'robots', 'search', query),
        tags: userId ? [userRobotsTag(userId), PUBLIC_ROBOTS_TAG] : [PUBLIC_ROBOTS_TAG],
        filters: { q: query.q, strategy_type: query.strategy_type },
      },
    );
    return c.json({ items });
  });

  app.get('/:id', async (c) => {
    const id = parseId(c);
    const query = parseQuery(c, detailQuerySchema);
    const { caller, userId } = callerOf(c);
    const robot = await read(
      c,
      (repo) => repo.getById(caller, id, query.fields),
      {
        cacheKey: userId
          ? userKey(userId, 'robots', 'get', id, query)
          : scopedKey('public', 'robots', 'get', id, query),
        // Any write to this robot drops every caller's copy (e.g. it turned private).
        tags: userId ? [userRobotsTag(userId), robotTag(id)] : [robotTag(id)],
        filters: { id },
      },
    );
    if (!robot) throw notFound(id);
    return c.json(robot);
  });

  app.post('/', async (c) => {
    const userId = requireUser(c);
    const body = await parseBody(c, createBodySchema);
    const { caller } = callerOf(c);
    const robot = await write(
      (repo) => repo.create(caller, body),
      (created) => [
        userRobotsTag(userId),
        robotTag(created.id),
        ...(created.is_public ? [PUBLIC_ROBOTS_TAG] : []),
      ],
    );
    c.header('location', `/functions/v1/robots/${robot.id}`);
    return c.json(robot, 201);
  });

  app.patch('/:id', async (c) => {
    const userId = requireUser(c);
    const id = parseId(c);
    const patch = await parseBody(c, updateBodySchema);
    const { caller } = callerOf(c);
    const robot = await write(
      (repo) => repo.update(caller, id, patch),
      (updated) =>
        updated
          ? [
            userRobotsTag(userId),
            robotTag(id),
            // Public now, or public before (only a change of is_public can make it private).
            ...(updated.is_public || patch.is_public !== undefined ? [PUBLIC_ROBOTS_TAG] : []),
          ]
          : [],
    );
    if (!robot) throw notFound(id);
    return c.json(robot);
  });

  app.delete('/:id', async (c) => {
    const userId = requireUser(c);
    const id = parseId(c);
    const { caller } = callerOf(c);
    // The repository's delete says only whether a row went: read is_public first (as the
    // caller, so another user's robot is a 404 here too) to know if the public listing is stale.
    const { repo } = await robots();
    const before = await repo.getById(caller, id, ['is_public', 'user_id']);
    if (!before || before.user_id !== userId) throw notFound(id);
    const deleted = await write(
      (repo) => repo.delete(caller, id),
      (gone) =>
        gone
          ? [
            userRobotsTag(userId),
            robotTag(id),
            ...(before.is_public ? [PUBLIC_ROBOTS_TAG] : []),
          ]
          : [],
    );
    if (!deleted) throw notFound(id);
    return c.body(null, 204);
  });

  return app;
}

/** The deployed app: the isolate's database and optimizer. */
export const app = createRobotsApp();
