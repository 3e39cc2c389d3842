/**
 * The servers bench/hot_path.ts runs as child processes (`deno run ... bench/hot_path.ts
 * --serve-<kind> <port> ...`): bare Hono, the robots app, the health app, and bare Hono calling
 * the robots repository (the miss path's reference).
 *
 * @module
 */

const serveOptions = (port: number) => ({ hostname: '127.0.0.1', port, onListen: () => {} });

/** Bare Hono: one route answering `c.json(body)` with the robots body, and `/health`. */
export async function serveBare(port: number, bodyFile: string): Promise<void> {
  const { Hono } = await import('hono');
  const body = JSON.parse(await Deno.readTextFile(bodyFile));
  const app = new Hono();
  app.get('/robots/public', (c) => c.json(body));
  app.get('/health', (c) => c.json({ status: 'ok' }));
  Deno.serve(serveOptions(port), app.fetch);
}

/**
 * The robots app in `Deno.serve`. `localAuth` trusts the local signing key as the dev server
 * does; without `SUPABASE_DB_URL` it runs on an in-memory PGlite.
 */
export async function serveRobots(port: number, localAuth = true): Promise<void> {
  if (localAuth) {
    const { configureLocalAuth } = await import('../../scripts/dev/auth.ts');
    await configureLocalAuth();
  }
  if (!Deno.env.get('SUPABASE_DB_URL')) {
    const { setDatabase } = await import('../../shared/db/mod.ts');
    const { createEmbeddedDatabase } = await import('../../scripts/pglite.ts');
    setDatabase(await createEmbeddedDatabase({ dataDir: 'memory://' }));
  }
  const { app } = await import('../../supabase/functions/robots/app.ts');
  Deno.serve(serveOptions(port), app.fetch);
}

/** The health function's app in `Deno.serve`. */
export async function serveHealth(port: number): Promise<void> {
  const { app } = await import('../../supabase/functions/health/app.ts');
  Deno.serve(serveOptions(port), app.fetch);
}

/**
 * Bare Hono calling the same repository as the robots app's `GET /robots/:id` for an anonymous
 * caller (same driver, same pool, same SQL and transaction), without the optimizer or the
 * middleware: the reference of the miss path.
 */
export async function serveBareRepository(port: number): Promise<void> {
  const { Hono } = await import('hono');
  const { createPostgresDatabase, RobotsRepository } = await import('../../shared/db/mod.ts');
  const { ANON_CALLER } = await import('../../shared/http/caller.ts');
  const url = Deno.env.get('SUPABASE_DB_URL');
  if (!url) throw new Error('SUPABASE_DB_URL is required');
  const repo = new RobotsRepository(createPostgresDatabase(url));
  const app = new Hono();
  app.get('/robots/:id', async (c) => {
    const robot = await repo.getById(ANON_CALLER, c.req.param('id'));
    return robot ? c.json(robot) : c.json({ error: 'not found' }, 404);
  });
  Deno.serve(serveOptions(port), app.fetch);
}

/** Runs the server mode named by `args[0]`; false when `args` names none. */
export async function runServerMode(args: string[]): Promise<boolean> {
  const [mode, port, extra] = args;
  if (!mode?.startsWith('--serve-')) return false;
  // Exit cleanly on SIGINT/SIGTERM so `--cpu-prof` writes its profile.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    Deno.addSignalListener(signal, () => Deno.exit(0));
  }
  if (mode === '--serve-bare') await serveBare(Number(port), extra);
  else if (mode === '--serve-robots') await serveRobots(Number(port));
  else if (mode === '--serve-robots-cold') await serveRobots(Number(port), false);
  else if (mode === '--serve-health') await serveHealth(Number(port));
  else if (mode === '--serve-bare-repository') await serveBareRepository(Number(port));
  else throw new Error(`unknown server mode ${mode}`);
  return true;
}
