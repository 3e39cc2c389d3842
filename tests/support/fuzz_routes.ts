/**
 * Route discovery for the fuzz and isolation suites: every route of every function the dev
 * server serves, as Hono registered it.
 *
 * @module
 */

/** A route of a served function, as Hono registered it (`/robots/:id`). */
export interface Route {
  fn: string;
  method: string;
  path: string;
}

/**
 * The routes of every function in `supabase/functions/`, read from the apps themselves in a
 * child process (importing the apps here would start their timers inside the test).
 *
 * @example
 * ```ts
 * const routes = await discoverRoutes(); // [{ fn: 'robots', method: 'GET', path: '/robots/:id' }, ...]
 * ```
 */
export async function discoverRoutes(): Promise<Route[]> {
  const root = new URL('../../', import.meta.url).pathname;
  const code = `
    import { discoverFunctions } from './scripts/dev-server.ts';
    const fns = await discoverFunctions();
    console.log(JSON.stringify(fns.flatMap((f) =>
      f.app.routes.filter((r) => r.method !== 'ALL')
        .map((r) => ({ fn: f.name, method: r.method, path: r.path })))));
    Deno.exit(0);`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ['eval', '--ext=ts', code],
    cwd: root,
    env: { DENO_NO_PACKAGE_JSON: '1', NO_COLOR: '1' },
    clearEnv: false,
    stdout: 'piped',
    stderr: 'piped',
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim().split('\n').at(-1) ?? '';
  if (out.code !== 0 || !text.startsWith('[')) {
    throw new Error(`route discovery failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  const routes = JSON.parse(text) as Route[];
  const seen = new Set<string>();
  return routes.filter((r) => {
    // The optimizer's dashboard page and its static assets (HTML, JS, CSS; query strings ignored)
    // are not JSON API routes: tests/integration/dashboard_test.ts covers them.
    if (r.fn === 'optimizer' && r.path.startsWith('/optimizer/dashboard')) return false;
    const key = `${r.method} ${r.path}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
