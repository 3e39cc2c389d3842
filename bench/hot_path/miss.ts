/**
 * The miss path (issue 11, target 2): `GET /robots/:id` of random public robots among N generated
 * ones on a real PostgreSQL 15, the robots app with caching off (`QF_ENABLE_PREDICTIVE_CACHING=
 * false`, so every request queries) against bare Hono calling the same repository. Rounds
 * alternate the two; every non-2xx answer (a 429 from the adaptive throttle) is counted.
 *
 * @module
 */
import {
  benchEnv,
  freePort,
  median,
  runWrk,
  type Server,
  spawnServer,
  summarize,
  waitFor,
  type WrkResult,
} from './load.ts';

/** Options of {@link missPath}. */
export interface MissPathOptions {
  /** Postgres URL (superuser), migrations applied. */
  url: string;
  /** Robots generated (`public.generate_demo_robots`). */
  rows: number;
  rounds: number;
  seconds: number;
  /** bench/hot_path.ts itself (the server modes). */
  self: string;
}

/** Generates the robots (unless the table already holds enough) and picks public ids. */
async function prepare(url: string, rows: number): Promise<{ ids: string[]; generated: unknown }> {
  const { default: postgres } = await import('postgres');
  const sql = postgres(url, { max: 1, onnotice: () => {}, prepare: false });
  try {
    const [{ n }] = await sql<{ n: number }[]>`select count(*)::int as n from public.robots`;
    let generated: unknown = { existing: n };
    if (n < rows) {
      const { generateRobots } = await import('../../scripts/generate-robots.ts');
      await sql.end({ timeout: 5 });
      generated = await generateRobots(url, rows - n, 1000);
    }
    const again = postgres(url, { max: 1, onnotice: () => {}, prepare: false });
    try {
      const picked = await again<{ id: string }[]>`
        select id::text as id from public.robots tablesample system (5)
         where is_public limit 5000`;
      return { ids: picked.map((r) => r.id), generated };
    } finally {
      await again.end({ timeout: 5 });
    }
  } finally {
    await sql.end({ timeout: 5 }).catch(() => {});
  }
}

/** A wrk Lua script requesting `/robots/<random id>`. */
async function idScript(ids: string[]): Promise<string> {
  const path = await Deno.makeTempFile({ prefix: 'qf-miss-', suffix: '.lua' });
  await Deno.writeTextFile(
    path,
    `local ids = {${ids.map((id) => `"${id}"`).join(',')}}\n` +
      'math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))\n' +
      'request = function()\n' +
      '  return wrk.format(nil, "/robots/" .. ids[math.random(#ids)])\n' +
      'end\n',
  );
  return path;
}

/**
 * Runs the miss-path comparison.
 *
 * @example
 * ```ts
 * const result = await missPath({ url, rows: 1_000_000, rounds: 3, seconds: 5, self });
 * ```
 */
export async function missPath(options: MissPathOptions) {
  const { url, rows, rounds, seconds, self } = options;
  const { ids, generated } = await prepare(url, rows);
  if (ids.length === 0) throw new Error('no public robots to read');
  const script = await idScript(ids);
  const env = benchEnv({ SUPABASE_DB_URL: url, QF_ENABLE_PREDICTIVE_CACHING: 'false' });
  const barePort = freePort();
  const appPort = freePort();
  const servers: Server[] = [
    spawnServer([self, '--serve-bare-repository', String(barePort)], env, barePort),
    spawnServer([self, '--serve-robots-cold', String(appPort)], env, appPort),
  ];
  try {
    const probe = `/robots/${ids[0]}`;
    const t0 = performance.now();
    await waitFor(`http://127.0.0.1:${barePort}${probe}`, t0);
    await waitFor(`http://127.0.0.1:${appPort}${probe}`, t0);
    const sample = await fetch(`http://127.0.0.1:${appPort}${probe}`);
    await sample.body?.cancel();
    const xCache = sample.headers.get('x-cache');
    const results: Record<'bare' | 'app', WrkResult[]> = { bare: [], app: [] };
    await runWrk(`http://127.0.0.1:${barePort}`, 1, [], script);
    await runWrk(`http://127.0.0.1:${appPort}`, 1, [], script);
    for (let round = 0; round < rounds; round++) {
      results.bare.push(await runWrk(`http://127.0.0.1:${barePort}`, seconds, [], script));
      results.app.push(await runWrk(`http://127.0.0.1:${appPort}`, seconds, [], script));
      console.error(
        `miss round ${round + 1}/${rounds}: app ${Math.round(results.app.at(-1)!.rps)} rps` +
          ` (bare + repository ${Math.round(results.bare.at(-1)!.rps)})`,
      );
    }
    const bareMedian = median(results.bare.map((r) => r.rps));
    return {
      rows,
      generated,
      distinctIds: ids.length,
      rounds,
      secondsPerRun: seconds,
      xCache,
      summary: {
        bare_repository: summarize(results.bare, bareMedian),
        robots_app: summarize(results.app, bareMedian),
      },
    };
  } finally {
    for (const server of servers) await server.stop();
    await Deno.remove(script).catch(() => {});
  }
}
