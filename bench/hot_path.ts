/**
 * The hot path under load (issue 11), side by side with bare Hono, in three parts:
 *
 * - **hit** (`bench/hot_path/throughput.ts`): requests per second of a memory-tier hit of
 *   `GET /robots/public?limit=5`: the robots app in `Deno.serve` and through the dev server,
 *   without and with a signed-in user's ES256 token, against bare Hono answering the same body;
 * - **miss** (`bench/hot_path/miss.ts`): `GET /robots/:id` of random public robots among N on a
 *   real PostgreSQL 15 with caching off, against bare Hono calling the same repository; 429s
 *   counted;
 * - **cold** (`bench/hot_path/cold.ts`): spawn of each function's `index.ts` with
 *   `SUPABASE_DB_URL` to its first 200, against bare Hono; the dev server's first health answer
 *   on embedded defaults.
 *
 * Every server is a child process pinned to core 0 and wrk (50 connections) to core 1; loopback
 * only; rounds alternate bare and the case; medians and min-max spreads are reported with the
 * load average. The rate limiter is off (`QF_RATELIMIT_ENABLED=false`): one client address at 50
 * connections would be refused after 300 requests a minute.
 *
 * ```sh
 * DENO_NO_PACKAGE_JSON=1 ./node_modules/.bin/deno run -A bench/hot_path.ts            # ~7 min
 * DENO_NO_PACKAGE_JSON=1 ./node_modules/.bin/deno run -A bench/hot_path.ts --quick    # ~1 min
 * # --no-hit --no-miss --no-cold skip a part; --rows=N robots for the miss path
 * # --profile=all|robots|gateway|bare runs those hit servers with --cpu-prof; =miss both miss servers
 * # --hit-rounds=N: rounds of the hit part (each: bare Hono alternated with the four cases)
 * # --miss-rounds=N: alternated rounds of the miss path (reports the median of the pairs' ratios)
 * # --miss-store=memory|upstash: the miss servers' store (default: upstash when
 * #   UPSTASH_REDIS_REST_URL is set, as under npm run bench; a bridge is started if needed)
 * # --json=<path> writes the sections hot_path, miss_path, cold_start (bench/lib/section.ts)
 * ```
 *
 * Writes `bench/results/hot_path-<date>.json`. Needs `wrk` and `taskset` (Debian: wrk,
 * util-linux) and PostgreSQL 15 (scripts/services/postgres.ts).
 *
 * @module
 */
import { runServerMode } from './hot_path/servers.ts';

const self = new URL(import.meta.url).pathname;

/** The modes' sizes: `--quick` fits in about a minute, the full run in about seven. */
const MODES = {
  // Inside `npm run bench -- --quick`'s 3 minutes: about 55 s on a quiet machine.
  quick: {
    hit: { rounds: 2, seconds: 1, warmupSeconds: 1 },
    miss: { rows: 20_000, rounds: 2, seconds: 2 },
    coldRuns: 2,
    devRuns: 1,
  },
  full: {
    // Five rounds: target 1c (dev server / app, 0.9) is read from each round's adjacent pair.
    hit: { rounds: 5, seconds: 5, warmupSeconds: 1 },
    miss: { rows: 1_000_000, rounds: 3, seconds: 5 },
    coldRuns: 5,
    devRuns: 3,
  },
};

async function cpuModel(): Promise<string> {
  try {
    return /model name\s*:\s*(.+)/.exec(await Deno.readTextFile('/proc/cpuinfo'))?.[1] ??
      'unknown';
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const { loadAverage } = await import('./hot_path/load.ts');
  const { benchArgs, writeSections } = await import('./lib/section.ts');
  const { hotPathSections } = await import('./hot_path/report.ts');
  const { quick, json } = benchArgs();
  const mode = quick ? MODES.quick : MODES.full;
  const profileCase = Deno.args.find((a) => a.startsWith('--profile='))?.slice(10);
  const hitProfile = profileCase === 'miss' ? undefined : profileCase;
  const rowsArg = Deno.args.find((a) => a.startsWith('--rows='))?.slice(7);
  const rows = rowsArg ? Number(rowsArg) : mode.miss.rows;
  if (!Number.isInteger(rows) || rows < 1000) {
    throw new Error(`--rows must be an integer >= 1000: received ${rowsArg}`);
  }
  const skip = (part: string) => Deno.args.includes(`--no-${part}`);
  const wrkVersion = await new Deno.Command('wrk', { args: ['-v'], stdout: 'piped' }).output();
  const started = new Date();
  const loads: string[] = [await loadAverage()];
  const result: Record<string, unknown> = {
    command: `DENO_NO_PACKAGE_JSON=1 ./node_modules/.bin/deno run -A bench/hot_path.ts ${
      Deno.args.join(' ')
    }`.trim(),
    startedAt: started.toISOString(),
    mode: quick ? 'quick' : 'full',
    machine: {
      cpu: await cpuModel(),
      cores: navigator.hardwareConcurrency,
      deno: Deno.version.deno,
      wrk: new TextDecoder().decode(wrkVersion.stdout).split('\n')[0],
    },
  };
  const log = (message: string) =>
    console.error(`[hot_path ${new Date().toISOString()}] ${message}`);
  // Every part runs its servers on PostgreSQL 15 with SUPABASE_DB_URL, as deployed (PGlite in the
  // same process holds a ~590 MB heap whose collection cost a cached hit 8-10 us more).
  const { startPostgres, applyMigrations } = await import('../scripts/services/postgres.ts');
  log('PostgreSQL 15');
  const pg = await startPostgres();
  try {
    await applyMigrations(pg.url);
    if (!skip('hit')) {
      log('hit path');
      const { throughput, seedHitRobots } = await import('./hot_path/throughput.ts');
      await seedHitRobots(pg.url);
      const hitRounds = Deno.args.find((a) => a.startsWith('--hit-rounds='))?.slice(13);
      result.throughput = await throughput({
        ...mode.hit,
        ...(hitRounds ? { rounds: Number(hitRounds) } : {}),
        profileCase: hitProfile,
        self,
        dbUrl: pg.url,
      });
      loads.push(await loadAverage());
    }
    if (!skip('cold')) {
      log('cold starts');
      const { coldStart } = await import('./hot_path/cold.ts');
      result.coldStart = await coldStart(pg.url, mode.coldRuns);
      loads.push(await loadAverage());
    }
    if (!skip('miss')) {
      log(`miss path (${rows} robots)`);
      const { missPath } = await import('./hot_path/miss.ts');
      const missStore = Deno.args.find((a) => a.startsWith('--miss-store='))?.slice(13);
      if (missStore !== undefined && missStore !== 'memory' && missStore !== 'upstash') {
        throw new Error(`--miss-store must be memory or upstash: received ${missStore}`);
      }
      const missRounds = Deno.args.find((a) => a.startsWith('--miss-rounds='))?.slice(14);
      result.missPath = await missPath({
        ...mode.miss,
        ...(missRounds ? { rounds: Number(missRounds) } : {}),
        url: pg.url,
        rows,
        self,
        store: missStore,
        profileDir: profileCase === 'miss'
          ? await Deno.makeTempDir({ prefix: 'qf-miss-prof-' })
          : undefined,
      });
      loads.push(await loadAverage());
    }
  } finally {
    await pg.stop();
  }
  if (!skip('cold')) {
    log('dev server start');
    const { devServerStart } = await import('./hot_path/cold.ts');
    result.devServer = await devServerStart(mode.devRuns);
  }
  loads.push(await loadAverage());
  result.loadAverages = loads;
  result.finishedAt = new Date().toISOString();
  await Deno.mkdir(new URL('results/', import.meta.url), { recursive: true });
  const stamp = started.toISOString().replace(/[:]/g, '').slice(0, 15);
  const out = new URL(
    `results/hot_path-${stamp}${quick ? '-quick' : ''}${
      profileCase ? `-profile-${profileCase}` : ''
    }.json`,
    import.meta.url,
  );
  await Deno.writeTextFile(out, JSON.stringify(result, null, 2) + '\n');
  await writeSections(json, hotPathSections(result));
  console.log(JSON.stringify(result, null, 2));
  log(`written ${out.pathname}${json ? ` and ${json}` : ''}`);
}

if (import.meta.main && !await runServerMode(Deno.args)) await main();
