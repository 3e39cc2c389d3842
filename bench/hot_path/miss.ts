/**
 * The miss path (issue 11, target 2): `GET /robots/:id` of random public robots among N generated
 * ones on a real PostgreSQL 15, the robots app with caching off (`QF_ENABLE_PREDICTIVE_CACHING=
 * false`, so every request queries) against bare Hono calling the same repository. Rounds
 * alternate the two; every non-2xx answer (a 429 from the adaptive throttle) is counted.
 *
 * The store the servers run on is explicit (`store`): `memory` (no Upstash variables, whatever
 * the parent's environment holds) or `upstash` (the runner's bridge when `UPSTASH_REDIS_REST_URL`
 * is set, else one started here), as `npm run bench` gives them. After the rounds, a short
 * counting run per server measures what one request costs: SQL statements (pg_stat_statements,
 * by statement) and store requests (a counting proxy in front of the bridge, by command). With
 * `profile`, both servers run with `--cpu-prof` (bench/cpuprofile_top.ts reads the files).
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
  /**
   * The servers' store: `upstash` (the bridge of the environment, else one started here) or
   * `memory`. @default `upstash` when `UPSTASH_REDIS_REST_URL` is set, else `memory`
   */
  store?: 'memory' | 'upstash';
  /** Seconds of the counting run per server (0: none). @default 2 */
  countSeconds?: number;
  /** Run both servers with `--cpu-prof` into this directory's `bare/` and `app/`. */
  profileDir?: string;
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
      // Up to 5,000 ids whatever the table's size: a 5% sample of 20,000 robots gave 183, so
      // 50 connections often asked for an id already in flight and the app's deduplication
      // answered a fifth of its requests without a query (bare Hono has none).
      const percent = Math.min(100, Math.max(5, Math.ceil(200_000_000 / rows) / 100));
      const picked = await again<{ id: string }[]>`
        select id::text as id from public.robots tablesample system (${percent}::real)
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

/** Per-request cost of one server over a counting run. */
export interface PerRequest {
  requests: number;
  /** Answers that were not 2xx or 3xx. */
  non2xx: number;
  /** SQL statements per request (every statement pg_stat_statements saw, BEGIN/SET included). */
  statements: number;
  /** The statements, by text (first 80 characters), per request, most frequent first. */
  byStatement: Record<string, number>;
  /** The server's CPU time (user + system, /proc) per request, microseconds (10 ms ticks). */
  cpuUsPerRequest: number | null;
  /** Store requests (HTTP requests at the bridge) per request; `null` on the memory store. */
  storeRequests: number | null;
  /** The store requests by command names, per request. */
  byCommand: Record<string, number>;
}

/** pg_stat_statements' reset and read, in the schema the extension lives in. */
async function statementCounter(url: string) {
  const { default: postgres } = await import('postgres');
  const sql = postgres(url, { max: 1, onnotice: () => {}, prepare: false });
  await sql.unsafe('create extension if not exists pg_stat_statements');
  const [{ schema }] = await sql<{ schema: string }[]>`
    select extnamespace::regnamespace::text as schema from pg_extension
     where extname = 'pg_stat_statements'`;
  return {
    reset: async () => void await sql.unsafe(`select ${schema}.pg_stat_statements_reset()`),
    read: async () =>
      await sql.unsafe<{ query: string; calls: string }[]>(
        `select query, calls::text as calls from ${schema}.pg_stat_statements
          where query not like '%pg_stat_statements%'`,
      ),
    close: () => sql.end({ timeout: 5 }),
  };
}

const perRequestOf = (counts: Map<string, number>, requests: number) =>
  Object.fromEntries(
    [...counts].sort((a, b) => b[1] - a[1]).map(([k, n]) => [k, Number((n / requests).toFixed(3))]),
  );

/** CPU time (user + system) of process `pid` so far, ms; `null` when /proc cannot say. */
async function cpuMs(pid: number): Promise<number | null> {
  try {
    const fields = (await Deno.readTextFile(`/proc/${pid}/stat`)).split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10; // utime + stime, 100 ticks a second
  } catch {
    return null;
  }
}

/**
 * Runs `wrk` against `port` for `seconds` and divides what the database, the store and the
 * server's CPU saw by the requests answered.
 */
async function countRun(
  pid: number,
  port: number,
  seconds: number,
  script: string,
  statements: Awaited<ReturnType<typeof statementCounter>>,
  bridge: { counts: { requests: number; names: string[] }; reset(): void } | undefined,
): Promise<PerRequest> {
  await runWrk(`http://127.0.0.1:${port}`, 1, [], script); // warm (JIT) before counting
  await statements.reset();
  bridge?.reset();
  const cpuBefore = await cpuMs(pid);
  const run = await runWrk(`http://127.0.0.1:${port}`, seconds, [], script);
  const cpuAfter = await cpuMs(pid);
  // Background work of the last requests (metric flushes, plan analyses) lands within this.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const rows = await statements.read();
  const byStatement = new Map<string, number>();
  let total = 0;
  for (const row of rows) {
    const text = row.query.replace(/\s+/g, ' ').trim().slice(0, 80);
    byStatement.set(text, (byStatement.get(text) ?? 0) + Number(row.calls));
    total += Number(row.calls);
  }
  const byCommand = new Map<string, number>();
  for (const name of bridge?.counts.names ?? []) {
    byCommand.set(name, (byCommand.get(name) ?? 0) + 1);
  }
  const requests = Math.max(1, run.requests);
  return {
    requests: run.requests,
    non2xx: run.non2xx,
    statements: Number((total / requests).toFixed(3)),
    cpuUsPerRequest: cpuBefore === null || cpuAfter === null
      ? null
      : Math.round((cpuAfter - cpuBefore) * 1000 / requests),
    byStatement: perRequestOf(byStatement, requests),
    storeRequests: bridge ? Number((bridge.counts.requests / requests).toFixed(3)) : null,
    byCommand: perRequestOf(byCommand, requests),
  };
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
  const { url, rows, rounds, seconds, self, profileDir } = options;
  const store = options.store ??
    (Deno.env.get('UPSTASH_REDIS_REST_URL') ? 'upstash' : 'memory');
  const countSeconds = options.countSeconds ?? 2;
  const { ids, generated } = await prepare(url, rows);
  if (ids.length === 0) throw new Error('no public robots to read');
  const script = await idScript(ids);
  const { benchServices } = await import('../lib/bench_services.ts');
  const services = await benchServices({ redis: store === 'upstash' });
  const { startCountingBridge } = await import('../../tests/support/counting_bridge.ts');
  const redis = services.redis;
  const storeEnv = (restUrl?: string) =>
    redis && restUrl
      ? { UPSTASH_REDIS_REST_URL: restUrl, UPSTASH_REDIS_REST_TOKEN: redis.restToken }
      : { UPSTASH_REDIS_REST_URL: '', UPSTASH_REDIS_REST_TOKEN: '' };
  const envOf = (restUrl?: string) =>
    benchEnv({ SUPABASE_DB_URL: url, QF_ENABLE_PREDICTIVE_CACHING: 'false', ...storeEnv(restUrl) });
  const spawnPair = (env: Record<string, string>, profile?: string) => {
    const flags = (kind: string) =>
      profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}/${kind}`] : [];
    const barePort = freePort();
    const appPort = freePort();
    return {
      barePort,
      appPort,
      servers: [
        spawnServer(
          [self, '--serve-bare-repository', String(barePort)],
          env,
          barePort,
          flags('bare'),
        ),
        spawnServer([self, '--serve-robots-cold', String(appPort)], env, appPort, flags('app')),
      ] as Server[],
    };
  };
  const probe = `/robots/${ids[0]}`;
  const ready = async (pair: ReturnType<typeof spawnPair>) => {
    const t0 = performance.now();
    await waitFor(`http://127.0.0.1:${pair.barePort}${probe}`, t0);
    await waitFor(`http://127.0.0.1:${pair.appPort}${probe}`, t0);
  };
  let pair = spawnPair(envOf(redis?.restUrl), profileDir);
  try {
    await ready(pair);
    const { barePort, appPort } = pair;
    const sample = await fetch(`http://127.0.0.1:${appPort}${probe}`);
    await sample.body?.cancel();
    const xCache = sample.headers.get('x-cache');
    const results: Record<'bare' | 'app', WrkResult[]> = { bare: [], app: [] };
    await runWrk(`http://127.0.0.1:${barePort}`, 1, [], script);
    await runWrk(`http://127.0.0.1:${appPort}`, 1, [], script);
    // Each round also records the server's CPU time per request answered (/proc): it moves far
    // less with the machine's load than requests per second.
    const roundCpu: Record<'bare' | 'app', (number | null)[]> = { bare: [], app: [] };
    const measured = async (kind: 'bare' | 'app', port: number, pid: number) => {
      const before = await cpuMs(pid);
      const run = await runWrk(`http://127.0.0.1:${port}`, seconds, [], script);
      const after = await cpuMs(pid);
      results[kind].push(run);
      roundCpu[kind].push(
        before === null || after === null || run.requests === 0
          ? null
          : Math.round((after - before) * 1000 / run.requests),
      );
    };
    for (let round = 0; round < rounds; round++) {
      await measured('bare', barePort, pair.servers[0].child.pid);
      await measured('app', appPort, pair.servers[1].child.pid);
      console.error(
        `miss round ${round + 1}/${rounds}: app ${Math.round(results.app.at(-1)!.rps)} rps` +
          ` (bare + repository ${Math.round(results.bare.at(-1)!.rps)}); CPU per request app ` +
          `${roundCpu.app.at(-1)} us, bare ${roundCpu.bare.at(-1)} us`,
      );
    }
    for (const server of pair.servers) await server.stop();
    // The counting run: the same servers again, the store behind a counting proxy.
    let perRequest: Record<'bare' | 'app', PerRequest> | undefined;
    if (countSeconds > 0) {
      const bridge = redis
        ? startCountingBridge({ url: redis.restUrl, token: redis.restToken })
        : undefined;
      const statements = await statementCounter(url);
      try {
        pair = spawnPair(envOf(bridge?.url));
        await ready(pair);
        perRequest = {
          bare: await countRun(
            pair.servers[0].child.pid,
            pair.barePort,
            countSeconds,
            script,
            statements,
            bridge,
          ),
          app: await countRun(
            pair.servers[1].child.pid,
            pair.appPort,
            countSeconds,
            script,
            statements,
            bridge,
          ),
        };
        console.error(`miss per request: ${JSON.stringify(perRequest)}`);
      } finally {
        for (const server of pair.servers) await server.stop();
        await statements.close();
        await bridge?.close();
      }
    }
    const bareMedian = median(results.bare.map((r) => r.rps));
    // Each app round over the bare round just before it: the machine's load drifts less within a
    // pair than across the run.
    const pairRatios = results.app.map((r, i) => Number((r.rps / results.bare[i].rps).toFixed(3)));
    return {
      rows,
      generated,
      distinctIds: ids.length,
      rounds,
      secondsPerRun: seconds,
      xCache,
      store,
      profileDir,
      summary: {
        bare_repository: summarize(results.bare, bareMedian),
        robots_app: summarize(results.app, bareMedian),
      },
      pairRatios,
      pairRatioMedian: median(pairRatios),
      roundCpuUsPerRequest: roundCpu,
      // Each app round's CPU per request over the bare round's just before it.
      cpuRatioMedian: median(
        roundCpu.app.flatMap((app, i) => {
          const bare = roundCpu.bare[i];
          return app && bare ? [Number((app / bare).toFixed(3))] : [];
        }),
      ),
      perRequest,
    };
  } finally {
    for (const server of pair.servers) await server.stop();
    await services.stop();
    await Deno.remove(script).catch(() => {});
  }
}
