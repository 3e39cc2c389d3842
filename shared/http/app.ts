/**
 * The common shape of every function's Hono app: the `/<name>` base path (Supabase keeps the
 * function name in the path), request and instance ids on every response, CORS for browsers and
 * supabase-js, `Server-Timing`, and JSON errors.
 *
 * @module
 */
import { Hono } from 'hono';
import { cors } from 'hono/cors';
import { createMiddleware } from 'hono/factory';
import { getPath } from 'hono/utils/url';
import type { RequestIdVariables } from 'hono/request-id';
import type { TimingVariables } from 'hono/timing';
import { instanceId, markRequest } from '../runtime/instance.ts';
import { appendAnswerHeader, closeAnswer, openAnswer } from './answer.ts';
import { onError, onNotFound } from './errors.ts';
import { warmupPing } from './warmup_ping.ts';

/** Variables every function's context carries. */
export type BaseVariables = RequestIdVariables & TimingVariables & { coldStart: boolean };

/** The environment type of a function app. */
export type FunctionEnv = { Variables: BaseVariables };

/** Headers browsers may read on responses. */
export const EXPOSED_HEADERS = [
  'x-request-id',
  'x-instance-id',
  'x-cache',
  'retry-after',
  'ratelimit-limit',
  'ratelimit-remaining',
  'ratelimit-reset',
  'server-timing',
];

/** Request headers supabase-js and browsers send. */
export const ALLOWED_HEADERS = [
  'authorization',
  'x-client-info',
  'apikey',
  'content-type',
  'x-request-id',
  'x-cron-secret',
  'prefer',
  // supabase-js `createClient(url, key, { functions: { region } })` sends it on every invoke.
  'x-region',
];

const corsPreflight = cors({
  origin: '*',
  allowHeaders: ALLOWED_HEADERS,
  exposeHeaders: EXPOSED_HEADERS,
  allowMethods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
  maxAge: 86_400,
});
/** `access-control-expose-headers` of every answer. */
export const EXPOSED_HEADERS_VALUE: string = EXPOSED_HEADERS.join(',');
/** The headers every answer carries after its `x-request-id`, alike for every request. */
const SHARED_HEADERS: readonly (readonly [string, string])[] = [
  ['x-instance-id', instanceId],
  ['timing-allow-origin', '*'],
  ['access-control-allow-origin', '*'],
  ['access-control-expose-headers', EXPOSED_HEADERS_VALUE],
];
/** What Hono's `requestId` accepts from a caller (longer or other characters: a new id). */
const CALLER_REQUEST_ID = /^[\w\-=]{1,255}$/;

/**
 * The request id of an answer: the caller's `x-request-id` when it is 1-255 of
 * `[A-Za-z0-9_=-]` (what Hono's `requestId` accepts), else a new UUID.
 */
export function requestIdOf(given: string | null | undefined): string {
  return given && CALLER_REQUEST_ID.test(given) ? given : crypto.randomUUID();
}

/** `Server-Timing`'s closing entry (`hono/timing`'s format), `startedAt` from `performance.now()`. */
export function totalTiming(startedAt: number): string {
  return `total;dur=${(performance.now() - startedAt).toFixed(1)};desc="Total Response Time"`;
}

/** The `metric` variable of `hono/timing`, so its `setMetric` works in handlers. */
interface TimingMetric {
  headers: string[];
  timers: Map<string, { description?: string; start: number }>;
}

/**
 * The shared headers of every answer, in one middleware (it was four: Hono's `requestId`,
 * `timing` and `cors`, and one for the instance id; each cost a dispatch and its own header
 * work, about 15% of a cached hit's CPU together, docs/performance.md):
 *
 * - `x-request-id` (the caller's when it is 1-255 of `[A-Za-z0-9_=-]`, as Hono's `requestId`
 *   accepts, else a new UUID) and `x-instance-id`;
 * - CORS: `access-control-allow-origin: *` and the exposed headers. Preflights (OPTIONS) go to
 *   Hono's `cors`;
 * - `Server-Timing` (`hono/timing`'s format: the handler's `setMetric` entries, then `total`) and
 *   `Timing-Allow-Origin: *`.
 *
 * Outside preflights these headers are not prepared with `c.header` (Hono would copy them into
 * the handler's response, and Deno validate them twice): they are written onto the answer once,
 * by `answerBody` when a read builds it, else after `next()`, each unless the handler's answer
 * already has it (`answer.ts`). Hono's `cors` on every request cost more still: it writes
 * `c.res.headers` first, a placeholder response copied header by header into the handler's.
 */
const baseHeaders = createMiddleware<FunctionEnv>(async function baseHeaders(c, next) {
  const started = performance.now();
  const metric: TimingMetric = { headers: [], timers: new Map() };
  c.set('metric', metric as never);
  const id = requestIdOf(c.req.header('x-request-id'));
  c.set('requestId', id);
  c.set('coldStart', markRequest());
  if (c.req.method === 'OPTIONS') {
    c.header('x-request-id', id);
    c.header('x-instance-id', instanceId);
    c.header('timing-allow-origin', '*');
    // Hono's cors answers a preflight itself (a Response it returns), else calls next().
    const preflight = await corsPreflight(c, next);
    if (preflight) c.res = preflight;
    // Prepared headers reach every answer built by Hono; only a raw Response lacks them.
    if (!c.res.headers.has('access-control-allow-origin')) {
      appendAnswerHeader(c, 'access-control-allow-origin', '*');
      appendAnswerHeader(c, 'access-control-expose-headers', EXPOSED_HEADERS_VALUE);
      appendAnswerHeader(c, 'timing-allow-origin', '*');
      if (!c.res.headers.has('x-request-id')) appendAnswerHeader(c, 'x-request-id', id);
      if (!c.res.headers.has('x-instance-id')) appendAnswerHeader(c, 'x-instance-id', instanceId);
    }
  } else {
    // Written once onto the answer (`answer.ts`), not prepared for Hono to copy into it.
    openAnswer(c, id, SHARED_HEADERS);
    await next();
    closeAnswer(c);
  }
  metric.headers.push(totalTiming(started));
  appendAnswerHeader(c, 'server-timing', metric.headers.join(','));
});

/** The public URL's prefix of every function (`/functions/v1/<name>/...`). */
const PUBLIC_PREFIX = '/functions/v1/';

/**
 * The path a function routes on: Hono's, without the public `/functions/v1` prefix when a
 * request still has it (the dev server hands requests over as they came, without rebuilding them
 * under `/<name>/...` as Supabase's gateway does; docs/performance.md).
 */
export function functionPath(request: Request): string {
  const path = getPath(request);
  return path.startsWith(PUBLIC_PREFIX) ? path.slice(PUBLIC_PREFIX.length - 1) : path;
}

/**
 * Creates a function's app with the shared middleware.
 *
 * @example
 * ```ts
 * export const app = createFunctionApp('health');
 * app.get('/', (c) => c.json({ status: 'ok' })); // GET /functions/v1/health
 * ```
 */
export function createFunctionApp<E extends FunctionEnv = FunctionEnv>(name: string): Hono<E> {
  if (!/^[a-z][a-z0-9_-]*$/.test(name)) {
    throw new TypeError(
      `function name must match /^[a-z][a-z0-9_-]*$/: received ${JSON.stringify(name)}`,
    );
  }
  const app = new Hono<E>({ getPath: functionPath }).basePath(`/${name}`);
  // First, so every response, errors and CORS preflights included, carries ids, CORS, timing.
  app.use('*', baseHeaders as never);
  app.use('*', warmupPing(name) as never);
  app.onError(onError);
  app.notFound(onNotFound);
  return app;
}
