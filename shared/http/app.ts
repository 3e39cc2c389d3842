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
  app.use(
    '*',
    cors({
      origin: '*',
      allowHeaders: ALLOWED_HEADERS,
      exposeHeaders: EXPOSED_HEADERS,
      allowMethods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
      maxAge: 86_400,
    }),
  );
  app.use('*', timing({ autoEnd: true, crossOrigin: true }));
  app.use('*', warmupPing(name) as never);
  app.onError(onError);
  app.notFound(onNotFound);
  return app;
}
