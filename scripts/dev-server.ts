/**
 * The local dev server (`npm start`, `deno task serve`): every function under
 * `supabase/functions/<name>/app.ts` served at `http://127.0.0.1:54321/functions/v1/<name>/...`,
 * routed as Supabase's gateway does (the function sees `/<name>/...`).
 *
 * With no environment it runs on embedded defaults: the memory key-value store and PGlite with
 * the bootstrap SQL, every migration and the seed applied. `UPSTASH_REDIS_REST_URL` +
 * `UPSTASH_REDIS_REST_TOKEN` switch to Upstash Redis; `SUPABASE_DB_URL` (or `DATABASE_URL`) to
 * that Postgres. `supabase/functions/.env` is loaded when present (the variables already set
 * win). `PORT` (default 54321) and `HOST` (default 127.0.0.1) move it.
 *
 * @module
 */
import { parse as parseDotenv } from 'dotenv';
import type { Hono } from 'hono';

const root = new URL('../', import.meta.url);
const functionsDir = new URL('supabase/functions/', root);

interface FunctionApp {
  name: string;
  app: Hono;
}

/** Loads `supabase/functions/.env` into the environment, without overriding what is set. */
export async function loadDotenv(path = new URL('.env', functionsDir)): Promise<string[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  const loaded: string[] = [];
  for (const [name, value] of Object.entries(parseDotenv(text))) {
    if (Deno.env.get(name) === undefined) {
      Deno.env.set(name, value);
      loaded.push(name);
    }
  }
  return loaded;
}

/** Every function folder with an `app.ts` exporting `app`, sorted by name. */
export async function discoverFunctions(dir: URL = functionsDir): Promise<FunctionApp[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isDirectory || entry.name.startsWith('_') || entry.name.startsWith('.')) continue;
    try {
      await Deno.stat(new URL(`${entry.name}/app.ts`, dir));
      names.push(entry.name);
    } catch {
      // A folder without app.ts is not a function (shared helpers, fixtures).
    }
  }
  names.sort();
  const apps: FunctionApp[] = [];
  for (const name of names) {
    const module = await import(new URL(`${name}/app.ts`, dir).href);
    if (!module.app || typeof module.app.fetch !== 'function') {
      throw new Error(`supabase/functions/${name}/app.ts must export 'app' (a Hono app)`);
    }
    apps.push({ name, app: module.app as Hono });
  }
  return apps;
}

/** Methods no function answers; `new Request()` refuses to rebuild TRACE, TRACK and CONNECT. */
const REFUSED_METHODS = new Set(['TRACE', 'TRACK', 'CONNECT']);

/** The caller's `x-request-id` when it looks like one, else a new uuid. */
function requestIdOf(request: Request): string {
  const given = request.headers.get('x-request-id');
  return given && /^[\w.:-]{1,128}$/.test(given) ? given : crypto.randomUUID();
}

/** A JSON error answered by the gateway itself, with the ids and CORS a function would send. */
function gatewayError(
  requestId: string,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return Response.json({ error: { code, message, requestId } }, {
    status,
    headers: {
      'access-control-allow-origin': '*',
      'access-control-expose-headers': 'x-request-id',
      'x-request-id': requestId,
      ...headers,
    },
  });
}

/**
 * The gateway: `/functions/v1/<name>/rest` goes to `<name>`'s app as `/<name>/rest`. Every
 * answer it makes itself is JSON with an `x-request-id` (passed on to the function too): 404 for
 * an unknown path or function, 405 for TRACE/TRACK/CONNECT, 400 for a request it cannot rebuild,
 * 500 (no details) if a function throws instead of answering.
 *
 * @example
 * ```ts
 * const handler = createGateway(await discoverFunctions());
 * Deno.serve({ port: 54321 }, handler);
 * ```
 */
export function createGateway(functions: FunctionApp[]): Deno.ServeHandler {
  const byName = new Map(functions.map((f) => [f.name, f.app]));
  const names = () => [...byName.keys()].join(', ');
  return async (request, info) => {
    const requestId = requestIdOf(request);
    if (REFUSED_METHODS.has(request.method.toUpperCase())) {
      return gatewayError(
        requestId,
        405,
        'method_not_allowed',
        `Method ${request.method} is not allowed`,
        { allow: 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS' },
      );
    }
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      return gatewayError(requestId, 400, 'bad_request', 'The request URL cannot be parsed');
    }
    const match = /^\/functions\/v1\/([^/]+)(\/.*)?$/.exec(url.pathname);
    if (!match) {
      return gatewayError(
        requestId,
        404,
        'function_not_found',
        `No route for this path: functions are served at /functions/v1/<name> (${names()})`,
      );
    }
    const app = byName.get(match[1]);
    if (!app) {
      return gatewayError(
        requestId,
        404,
        'function_not_found',
        `No function of that name. Functions here: ${names()}`,
      );
    }
    url.pathname = `/${match[1]}${match[2] ?? ''}`;
    let forwarded: Request;
    try {
      const headers = new Headers(request.headers);
      headers.set('x-request-id', requestId);
      forwarded = new Request(url, {
        method: request.method,
        headers,
        body: request.body,
        signal: request.signal,
        redirect: 'manual',
      });
    } catch {
      return gatewayError(requestId, 400, 'bad_request', 'The request cannot be forwarded');
    }
    try {
      return await app.fetch(forwarded, { remoteAddr: info.remoteAddr });
    } catch (error) {
      console.error(`[quantforge] gateway: ${match[1]} threw (request ${requestId}):`, error);
      return gatewayError(requestId, 500, 'internal_error', 'Internal error');
    }
  };
}

/** The local JWKS route of Supabase Auth, served next to the functions. */
export const LOCAL_JWKS_PATH = '/auth/v1/.well-known/jwks.json';

/**
 * Gives the functions the local auth configuration, as the Supabase CLI does for its local
 * stack: the CLI's local publishable and secret keys, and the JWKS of the checkout's ES256
 * signing key. Variables already set win (a real project's keys, its JWKS or SUPABASE_URL).
 * Returns the JWKS it serves.
 */
export async function configureLocalAuth(): Promise<{ keys: unknown[] }> {
  const { localJwks, LOCAL_PUBLISHABLE_KEY, LOCAL_SECRET_KEY } = await import('./local_keys.ts');
  const unset = (...names: string[]) => names.every((name) => !Deno.env.get(name));
  if (unset('SUPABASE_PUBLISHABLE_KEYS', 'SUPABASE_PUBLISHABLE_KEY')) {
    Deno.env.set('SUPABASE_PUBLISHABLE_KEYS', JSON.stringify({ default: LOCAL_PUBLISHABLE_KEY }));
  }
  if (unset('SUPABASE_SECRET_KEYS', 'SUPABASE_SECRET_KEY')) {
    Deno.env.set('SUPABASE_SECRET_KEYS', JSON.stringify({ default: LOCAL_SECRET_KEY }));
  }
  const jwks = await localJwks();
  if (unset('SUPABASE_JWKS', 'SUPABASE_JWKS_URL', 'SUPABASE_URL')) {
    Deno.env.set('SUPABASE_JWKS', JSON.stringify(jwks));
  }
  return jwks;
}

/** Wraps the gateway so `GET /auth/v1/.well-known/jwks.json` answers the local JWKS. */
export function withLocalJwks(handler: Deno.ServeHandler, jwks: unknown): Deno.ServeHandler {
  const body = JSON.stringify(jwks);
  return (request, info) => {
    if (new URL(request.url).pathname !== LOCAL_JWKS_PATH) return handler(request, info);
    return new Response(request.method === 'HEAD' ? null : body, {
      headers: {
        'content-type': 'application/json',
        'cache-control': 'public, max-age=600',
        'access-control-allow-origin': '*',
      },
    });
  };
}

/** The banner's auth lines: the keys to paste into a client, new generation first. */
async function localAuthBanner(base: string): Promise<string[]> {
  const { signLocalJwt, LOCAL_JWT_SECRET, readAuthConfig } = await import('../shared/http/auth.ts');
  const env = (name: string) => Deno.env.get(name);
  const config = readAuthConfig(env);
  const key = (name: string) => {
    const plural = env(`${name}S`);
    if (plural) {
      try {
        return JSON.parse(plural).default ?? '(named keys only)';
      } catch {
        return '(invalid JSON)';
      }
    }
    return env(name) ?? '(unset)';
  };
  const [anon, service] = await Promise.all([
    signLocalJwt({ role: 'anon' }),
    signLocalJwt({ role: 'service_role' }),
  ]);
  const origin = new URL(base).origin;
  return [
    `  publishable key:  ${key('SUPABASE_PUBLISHABLE_KEY')}`,
    `  secret key:       ${key('SUPABASE_SECRET_KEY')}`,
    `  jwks:             ${
      env('SUPABASE_JWKS')
        ? `${origin}${LOCAL_JWKS_PATH} (ES256, local signing key)`
        : config.jwksUrl ?? '(none)'
    }`,
    `  legacy jwt:       HS256 with ${
      env('SUPABASE_JWT_SECRET') ? 'SUPABASE_JWT_SECRET' : `the local secret '${LOCAL_JWT_SECRET}'`
    }`,
    `  legacy anon key:         ${anon}`,
    `  legacy service_role key: ${service}`,
  ];
}

async function main(): Promise<void> {
  const loaded = await loadDotenv();
  const port = Number(Deno.env.get('PORT') ?? 54321);
  const hostname = Deno.env.get('HOST') ?? '127.0.0.1';
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`PORT must be an integer from 0 to 65535: received ${Deno.env.get('PORT')}`);
    Deno.exit(2);
  }
  // Imported after .env is loaded: modules read the environment when first used.
  const { getStore } = await import('../shared/store/mod.ts');
  const { getDatabase } = await import('../shared/db/mod.ts');
  const jwks = await configureLocalAuth();
  const started = performance.now();
  const store = getStore();
  const db = await getDatabase();
  const functions = await discoverFunctions();
  const controller = new AbortController();
  const server = Deno.serve({
    port,
    hostname,
    signal: controller.signal,
    onListen: () => {},
  }, withLocalJwks(createGateway(functions), jwks));
  const base = `http://${hostname}:${server.addr.port}/functions/v1`;
  const authLines = await localAuthBanner(base);
  const lines = [
    `QuantForge Edge Optimizer dev server ready in ${Math.round(performance.now() - started)} ms`,
    ...(loaded.length
      ? [`  env:      loaded ${loaded.join(', ')} from supabase/functions/.env`]
      : []),
    `  store:    ${store.backend}`,
    `  database: ${db.backend}`,
    ...authLines,
    '  functions:',
    ...functions.map((f) => `    ${base}/${f.name}`),
    'Ctrl-C stops it.',
  ];
  console.log(lines.join('\n'));
  // Supabase Cron's schedules, in-process (scripts/local_cron.ts; LOCAL_CRON=off disables).
  const cron = (await import('./local_cron.ts')).startLocalCronFromEnv(
    base,
    functions.map((f) => f.name),
  );
  const stop = async () => {
    await cron?.stop();
    controller.abort();
    await server.finished;
    await db.close();
    Deno.exit(0);
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) Deno.addSignalListener(signal, stop);
  await server.finished;
}

if (import.meta.main) await main();
