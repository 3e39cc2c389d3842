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
import { requestId, type RequestIdVariables } from 'hono/request-id';
import { timing, type TimingVariables } from 'hono/timing';
import { instanceId, markRequest } from '../runtime/instance.ts';
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

const instanceHeaders = createMiddleware<FunctionEnv>(async function instanceHeaders(c, next) {
  c.set('coldStart', markRequest());
  c.header('x-instance-id', instanceId);
  await next();
});

const corsPreflight = cors({
  origin: '*',
  allowHeaders: ALLOWED_HEADERS,
  exposeHeaders: EXPOSED_HEADERS,
  allowMethods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
  maxAge: 86_400,
});
const EXPOSED_HEADERS_VALUE = EXPOSED_HEADERS.join(',');

/**
 * CORS. Preflights (OPTIONS) go to Hono's `cors`. Other requests get the same two headers through
 * `c.header` before the handler: Hono's `cors` writes `c.res.headers` first, which creates a
 * placeholder response that Hono then copies header by header into the handler's response, twice
 * (about 15% of the CPU of a cached hit, docs/performance.md). A handler answering a raw
 * `Response` (not through `c.json`/`c.body`) does not see prepared headers: the check after
 * `next()` adds the CORS and id headers to it.
 */
const corsHeaders = createMiddleware<FunctionEnv>(async function corsHeaders(c, next) {
  if (c.req.method === 'OPTIONS') return await corsPreflight(c, next);
  c.header('access-control-allow-origin', '*');
  c.header('access-control-expose-headers', EXPOSED_HEADERS_VALUE);
  await next();
  if (!c.res.headers.has('access-control-allow-origin')) {
    c.header('access-control-allow-origin', '*');
    c.header('access-control-expose-headers', EXPOSED_HEADERS_VALUE);
    if (!c.res.headers.has('x-request-id')) c.header('x-request-id', c.get('requestId'));
    if (!c.res.headers.has('x-instance-id')) c.header('x-instance-id', instanceId);
  }
});

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
  const app = new Hono<E>().basePath(`/${name}`);
  // Ids first so every response, errors and CORS preflights included, carries them.
  app.use('*', requestId({ headerName: 'x-request-id' }));
  app.use('*', instanceHeaders as never);
  // Timing outside CORS: a raw Response gets mutable headers from corsHeaders before timing adds
  // Server-Timing to it.
  app.use('*', timing({ autoEnd: true, crossOrigin: true }));
  app.use('*', corsHeaders as never);
  app.use('*', warmupPing(name) as never);
  app.onError(onError);
  app.notFound(onNotFound);
  return app;
}
