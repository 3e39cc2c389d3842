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
import type { Database } from '../shared/db/types.ts';
import { openDatabase, openStore, startingDatabase } from './dev/backends.ts';
import { checkPortFree } from './dev/startup_errors.ts';
import { createGateway, discoverLazyFunctions } from './dev/gateway.ts';
import {
  configureLocalAuth,
  localAuthBanner,
  localSignInBanner,
  withLocalAuth,
  withLocalJwks,
} from './dev/auth.ts';

// The pieces live in scripts/dev/ (gateway, local auth, backends, start-up errors); what tests,
// benchmarks and tools import from here stays importable from here.
export { createGateway, discoverFunctions, forwardedUrl, type FunctionApp } from './dev/gateway.ts';
export { configureLocalAuth, LOCAL_JWKS_PATH, withLocalAuth, withLocalJwks } from './dev/auth.ts';
export { localDataDir, startingDatabase } from './dev/backends.ts';

const functionsDir = new URL('../supabase/functions/', import.meta.url);

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
  // Postgres is checked (one query) before serving. The embedded PGlite takes a second or more to
  // open, most of it running on this thread: the server first answers and loads the functions,
  // then opens it; until it is open, queries wait for it and health says it is starting (503)
  // instead of waiting out its timeout.
  const embedded = !Deno.env.get('SUPABASE_DB_URL') && !Deno.env.get('DATABASE_URL');
  const embeddedReady = Promise.withResolvers<Database>();
  let db: Database;
  let dbNote = '';
  if (embedded) {
    const { setDatabase } = await import('../shared/db/isolate.ts');
    db = startingDatabase(embeddedReady.promise);
    setDatabase(db);
  } else ({ db, note: dbNote } = await openDatabase(reset));
  // Each app is imported on its function's first request, and all of them right after listening.
  const functions = await discoverLazyFunctions();
  const localAuth = Deno.env.get('SUPABASE_URL')
    ? undefined
    : import('./local_auth.ts').then((module) => module.createLocalAuth({ db }));
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
  const listeningMs = Math.round(performance.now() - started);
  // A function that fails to import stops the start, as before.
  await Promise.all(functions.map((f) => f.load())).catch((error) => {
    console.error('dev server: a function failed to load:', error);
    Deno.exit(1);
  });
  if (embedded) {
    // openDatabase gives the functions the real database (setDatabase) once it is open.
    ({ db, note: dbNote } = await openDatabase(reset));
    embeddedReady.resolve(db);
  }
  const base = `http://${hostname}:${server.addr.port}/functions/v1`;
  const authLines = [...await localAuthBanner(base), ...localSignInBanner(base, !!localAuth)];
  const lines = [
    `QuantForge Edge Optimizer dev server ready in ${
      Math.round(performance.now() - started)
    } ms (answering after ${listeningMs} ms)`,
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
