/**
 * The local dev server (`npm start`, `deno task serve`): every function under
 * `supabase/functions/<name>/app.ts` served at `http://127.0.0.1:54321/functions/v1/<name>/...`,
 * routed as Supabase's gateway does (the function sees `/<name>/...`).
 *
 * With no environment it runs on embedded defaults: the memory key-value store and PGlite kept in
 * `.data/pglite` (`QF_LOCAL_DATA_DIR`), new migrations applied at each start, the seed on the
 * first; `--reset` or `QF_LOCAL_DB_RESET=1` starts it empty. It also answers Supabase Auth's
 * email/password API at `/auth/v1/` (scripts/local_auth.ts; dev only). `UPSTASH_REDIS_REST_URL` +
 * `UPSTASH_REDIS_REST_TOKEN` switch to Upstash Redis; `SUPABASE_DB_URL` (or `DATABASE_URL`) to
 * that Postgres. `supabase/functions/.env` is loaded when present (the variables already set
 * win). `PORT` (default 54321) and `HOST` (default 127.0.0.1) move it.
 *
 * @module
 */
import { parse as parseDotenv } from 'dotenv';
import type { Hono } from 'hono';
import type { Database } from '../shared/db/types.ts';
import type { KeyValueStore } from '../shared/store/types.ts';

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

/** Prints one line saying what failed and what to change, and exits non-zero (no stack). */
function failStart(message: string): never {
  console.error(`dev server: ${message}`);
  Deno.exit(1);
}

/** A URL with its password hidden, for error lines. */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.href;
  } catch {
    return '(not a URL)';
  }
}

const errorText = (error: unknown) => error instanceof Error ? error.message : String(error);

/** Fails fast, before the database loads, when the port is taken. */
function checkPortFree(hostname: string, port: number): void {
  if (port === 0) return;
  try {
    Deno.listen({ hostname, port }).close();
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      const alternative = port === 54321 ? 54331 : port < 65535 ? port + 1 : port - 1;
      const who = port === 54321
        ? 'another dev server, or `supabase start`, whose API uses 54321'
        : 'another dev server or program';
      failStart(
        `port ${port} on ${hostname} is already in use (${who}). Stop it, or choose another` +
          ` port: PORT=${alternative} npm start`,
      );
    }
    if (error instanceof Deno.errors.PermissionDenied) {
      failStart(`may not listen on ${hostname}:${port}: choose a port above 1023 with PORT=...`);
    }
    throw error;
  }
}

/** The dev server's data folder (`QF_LOCAL_DATA_DIR`, default `.data/pglite` in the repo). */
export function localDataDir(env = (name: string) => Deno.env.get(name)): string {
  const dir = env('QF_LOCAL_DATA_DIR');
  if (dir === 'memory://') return dir;
  return dir
    ? new URL(dir, new URL(`file://${Deno.cwd()}/`)).pathname
    : new URL('.data/pglite', root).pathname;
}

/**
 * The database: Postgres on `SUPABASE_DB_URL` / `DATABASE_URL` (checked with one query), else
 * PGlite in the data folder, emptied first on `--reset` / `QF_LOCAL_DB_RESET=1`.
 */
async function openDatabase(reset: boolean): Promise<{ db: Database; note: string }> {
  const { createPostgresDatabase, setDatabase } = await import('../shared/db/mod.ts');
  const variable = Deno.env.get('SUPABASE_DB_URL') ? 'SUPABASE_DB_URL' : 'DATABASE_URL';
  const url = Deno.env.get(variable);
  if (url) {
    let db: Database;
    try {
      db = createPostgresDatabase(url, { connectTimeoutMs: 5_000 });
    } catch (error) {
      failStart(
        `${variable} is not a usable Postgres URL (${errorText(error)}). ` +
          `Fix it (postgresql://user:password@host:5432/postgres) or unset it to use the embedded database.`,
      );
    }
    const ping = await db.ping();
    // Nothing listening, or no answer in time: the database may be starting (`supabase start`,
    // a restart), so serve anyway, as deployed functions do (reads answer 503 db_unavailable
    // until it answers), and say so once. Anything else (wrong password, no such database) is
    // a mistake to fix before starting.
    const unreachable = /^Database unavailable \((connect|timeout|connection-lost)\b/;
    if (!ping.ok && unreachable.test(ping.reason ?? '')) {
      console.error(
        `dev server: cannot reach the database at ${variable}=${redactUrl(url)} yet ` +
          `(${ping.reason}); serving anyway: database reads answer 503 until it answers. ` +
          `Check the host and port, or unset ${variable} to use the embedded database.`,
      );
    } else if (!ping.ok) {
      await db.close().catch(() => {});
      failStart(
        `cannot use the database at ${variable}=${redactUrl(url)}: ${ping.reason}. ` +
          `Check the host, port, user and password, or unset ${variable} to use the embedded database.`,
      );
    }
    setDatabase(db);
    return { db, note: '' };
  }
  const dataDir = localDataDir();
  if (dataDir !== 'memory://') await lockDataDir(dataDir);
  if (reset && dataDir !== 'memory://') {
    await Deno.remove(dataDir, { recursive: true }).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }
  if (dataDir !== 'memory://') await Deno.mkdir(dataDir, { recursive: true });
  const { createEmbeddedDatabase } = await import('./pglite.ts');
  let note = '';
  let db: Database;
  try {
    db = await createEmbeddedDatabase({
      dataDir,
      onStart: ({ fresh, applied }) => {
        const where = dataDir === 'memory://' ? 'in memory' : relative(dataDir);
        note = fresh
          ? `${where} (new: ${applied.length} migrations and the seed applied)`
          : `${where} (kept; ${
            applied.length ? `applied ${applied.join(', ')}` : 'no new migrations'
          })`;
      },
    });
  } catch (error) {
    failStart(
      `the embedded database in ${dataDir} did not open: ${errorText(error)}. ` +
        'Start clean with `npm start -- --reset` (deletes its data) or set QF_LOCAL_DATA_DIR to another folder.',
    );
  }
  setDatabase(db);
  return { db, note };
}

/**
 * Takes an exclusive lock on `<dataDir>.lock` for the life of the process: PGlite is one
 * process's database, and a second dev server on the same folder would corrupt it. The kernel
 * drops the lock when the process ends, however it ends.
 */
async function lockDataDir(dataDir: string): Promise<void> {
  const path = `${dataDir.replace(/\/+$/, '')}.lock`;
  await Deno.mkdir(new URL('.', new URL(`file://${path}`)), { recursive: true });
  const file = await Deno.open(path, { create: true, write: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const locked = await Promise.race([
    file.lock(true).then(() => true),
    new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), 500)),
  ]);
  clearTimeout(timer);
  if (!locked) {
    failStart(
      `another dev server is using the data folder ${relative(dataDir)}. Stop it, or give this` +
        ' one its own folder: QF_LOCAL_DATA_DIR=.data/other npm start',
    );
  }
}

const relative = (path: string) => {
  const base = Deno.cwd() + '/';
  return path.startsWith(base) ? path.slice(base.length) : path;
};

/** The key-value store, with Upstash credentials checked by one PING. */
async function openStore(): Promise<KeyValueStore> {
  const { getStore, UpstashStore } = await import('../shared/store/mod.ts');
  let store: KeyValueStore;
  try {
    store = getStore();
  } catch (error) {
    failStart(
      `${
        errorText(error)
      }. Set both UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN, or neither for the in-memory store.`,
    );
  }
  if (store instanceof UpstashStore) {
    const url = Deno.env.get('UPSTASH_REDIS_REST_URL') ?? '';
    try {
      const timeout = new Promise<never>((_, reject) => {
        const timer = setTimeout(() => reject(new Error('no answer within 5 s')), 5_000);
        Deno.unrefTimer(timer);
      });
      await Promise.race([store.redis.ping(), timeout]);
    } catch (error) {
      failStart(
        `Upstash Redis at UPSTASH_REDIS_REST_URL=${redactUrl(url)} did not answer PING: ${
          errorText(error)
        }. Check UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN (the REST URL and token of your database in the Upstash console), or unset both for the in-memory store.`,
      );
    }
  }
  return store;
}

/**
 * Wraps the gateway so `/auth/v1/...` (but the JWKS) goes to the local Supabase Auth.
 * Development only: deployed functions use the project's Supabase Auth.
 */
export function withLocalAuth(handler: Deno.ServeHandler, auth: Hono): Deno.ServeHandler {
  return (request, info) => {
    const { pathname } = new URL(request.url);
    if (pathname.startsWith('/auth/v1/') && pathname !== LOCAL_JWKS_PATH) {
      return auth.fetch(request);
    }
    return handler(request, info);
  };
}

/** The banner's sign-in lines: where supabase-js signs in, and the seeded demo users. */
function localSignInBanner(base: string, enabled: boolean): string[] {
  if (!enabled) {
    return ['  sign-in:          the Supabase Auth of SUPABASE_URL (local auth is off)'];
  }
  return [
    `  sign-in:          ${new URL(base).origin}/auth/v1 (email + password for supabase-js;` +
    ' dev server only, never deployed)',
    '  demo users:       alice@example.com, bob@example.com, carol@example.com,' +
    ' password quantforge-demo',
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
  checkPortFree(hostname, port);
  const reset = Deno.args.includes('--reset') || Deno.env.get('QF_LOCAL_DB_RESET') === '1';
  // Imported after .env is loaded: modules read the environment when first used.
  const jwks = await configureLocalAuth();
  const started = performance.now();
  const store = await openStore();
  const { db, note: dbNote } = await openDatabase(reset);
  const functions = await discoverFunctions();
  const localAuth = Deno.env.get('SUPABASE_URL')
    ? undefined
    : (await import('./local_auth.ts')).createLocalAuth({ db });
  const controller = new AbortController();
  const gateway = createGateway(functions);
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      port,
      hostname,
      signal: controller.signal,
      onListen: () => {},
    }, withLocalJwks(localAuth ? withLocalAuth(gateway, localAuth) : gateway, jwks));
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) checkPortFree(hostname, port);
    throw error;
  }
  const base = `http://${hostname}:${server.addr.port}/functions/v1`;
  const authLines = [...await localAuthBanner(base), ...localSignInBanner(base, !!localAuth)];
  const lines = [
    `QuantForge Edge Optimizer dev server ready in ${Math.round(performance.now() - started)} ms`,
    ...(loaded.length
      ? [`  env:      loaded ${loaded.join(', ')} from supabase/functions/.env`]
      : []),
    `  store:    ${store.backend}`,
    `  database: ${db.backend}${dbNote ? ` ${dbNote}` : ''}`,
    ...authLines,
    '  functions:',
    ...functions.map((f) => `    ${base}/${f.name}`),
    'Ctrl-C stops it.',
  ];
  // Supabase Cron's schedules, in-process (scripts/local_cron.ts; LOCAL_CRON=off disables).
  const cron = (await import('./local_cron.ts')).startLocalCronFromEnv(
    base,
    functions.map((f) => f.name),
  );
  // Listening for Ctrl-C before the banner says it works: a stop right after it exits cleanly.
  const stop = async () => {
    await cron?.stop();
    controller.abort();
    await server.finished;
    await db.close();
    Deno.exit(0);
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) Deno.addSignalListener(signal, stop);
  console.log(lines.join('\n'));
  await server.finished;
}

if (import.meta.main) await main();
