/**
 * The hit path's throughput (issue 11, target 1): requests per second of a memory-tier hit of
 * `GET /robots/public?limit=5` in four cases (robots app alone and through the dev server, without
 * and with a signed-in user's ES256 token), each round alternating bare Hono and the case.
 *
 * @module
 */
import {
  benchEnv,
  CONNECTIONS,
  freePort,
  median,
  runWrk,
  type Server,
  spawnServer,
  summarize,
  waitFor,
  type WrkResult,
} from './load.ts';

/** The robots listing every case reads (a memory-tier hit once warmed). */
export const PUBLIC_PATH = '/robots/public?limit=5';

/** Options of {@link throughput}. */
export interface ThroughputOptions {
  rounds: number;
  seconds: number;
  /** Seconds of the JIT warm-up run of each server. */
  warmupSeconds: number;
  /** `all`, `robots`, `gateway` or `bare`: those servers run with `--cpu-prof`. */
  profileCase?: string;
  /** bench/hot_path.ts itself (the server modes). */
  self: string;
  /** PostgreSQL with the migrations and {@link seedHitRobots}' robots: every server's database. */
  dbUrl: string;
}

/** Public robots the hit path's listing answers (five per page). */
const HIT_ROBOTS = 20;

/**
 * Gives the database the robots the hit path reads (`generate_demo_robots`, public and private
 * over a few demo users), unless it has some.
 */
export async function seedHitRobots(url: string): Promise<void> {
  const { default: postgres } = await import('postgres');
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [{ count }] = await sql`select count(*)::int as count from public.robots where is_public`;
    if (count < 5) await sql`select public.generate_demo_robots(${HIT_ROBOTS}::int, 4::int)`;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

interface CaseDef {
  name: string;
  server: 'bare' | 'robots' | 'gateway';
  path: string;
  jwt: boolean;
}

/**
 * Runs the hit-path comparison.
 *
 * @example
 * ```ts
 * const result = await throughput({ rounds: 3, seconds: 5, warmupSeconds: 1, self });
 * ```
 */
export async function throughput(options: ThroughputOptions) {
  const { rounds, seconds, profileCase, self } = options;
  const tmp = await Deno.makeTempDir({ prefix: 'qf-hotpath-' });

  // The signed-in user's token (ES256, the local signing key the servers trust).
  const { signLocalUserToken, LOCAL_PUBLISHABLE_KEY } = await import('../../scripts/local_keys.ts');
  const token = await signLocalUserToken({ sub: crypto.randomUUID(), email: 'bench@example.com' });
  const jwtHeaders = [`authorization: Bearer ${token}`, `apikey: ${LOCAL_PUBLISHABLE_KEY}`];

  // Servers: robots app alone, dev server, bare Hono (with the body the robots app answers).
  const robotsPort = freePort();
  const profDir = profileCase ? `${tmp}/prof` : undefined;
  const robotsFlags = profDir && (profileCase === 'all' || profileCase?.startsWith('robots'))
    ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`]
    : [];
  const robots = spawnServer(
    [self, '--serve-robots', String(robotsPort)],
    benchEnv({ SUPABASE_DB_URL: options.dbUrl }),
    robotsPort,
    robotsFlags,
  );
  const gatewayPort = freePort();
  const gatewayFlags = profDir && (profileCase === 'all' || profileCase?.startsWith('gateway'))
    ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`]
    : [];
  const gateway = spawnServer(
    ['scripts/dev-server.ts'],
    benchEnv({ PORT: String(gatewayPort), SUPABASE_DB_URL: options.dbUrl }),
    gatewayPort,
    gatewayFlags,
  );
  const servers: Server[] = [robots, gateway];
  try {
    const t0 = performance.now();
    await waitFor(`http://127.0.0.1:${robotsPort}${PUBLIC_PATH}`, t0);
    await waitFor(`http://127.0.0.1:${gatewayPort}/functions/v1${PUBLIC_PATH}`, t0);
    const sample = await fetch(`http://127.0.0.1:${robotsPort}${PUBLIC_PATH}`);
    const body = await sample.text();
    const bodyFile = `${tmp}/body.json`;
    await Deno.writeTextFile(bodyFile, body);
    const barePort = freePort();
    const bare = spawnServer(
      [self, '--serve-bare', String(barePort), bodyFile],
      benchEnv(),
      barePort,
      profDir && profileCase === 'bare' ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [],
    );
    servers.push(bare);
    await waitFor(`http://127.0.0.1:${barePort}${PUBLIC_PATH}`, performance.now());
    const bareBody = await (await fetch(`http://127.0.0.1:${barePort}${PUBLIC_PATH}`)).text();

    // Warm every key (memory tier) with and without a token, and check the hit header.
    const cacheHeaders: Record<string, string | null> = {};
    for (
      const [name, url] of [
        ['robots', `http://127.0.0.1:${robotsPort}${PUBLIC_PATH}`],
        ['gateway', `http://127.0.0.1:${gatewayPort}/functions/v1${PUBLIC_PATH}`],
      ]
    ) {
      for (const jwt of [false, true]) {
        for (let i = 0; i < 3; i++) {
          const headers: Record<string, string> = jwt
            ? { authorization: `Bearer ${token}`, apikey: LOCAL_PUBLISHABLE_KEY }
            : {};
          const response = await fetch(url, { headers });
          await response.body?.cancel();
          if (response.status !== 200) throw new Error(`${name} answered ${response.status}`);
          cacheHeaders[`${name}_${jwt ? 'jwt' : 'anon'}`] = response.headers.get('x-cache');
        }
      }
    }

    const portOf = { bare: barePort, robots: robotsPort, gateway: gatewayPort };
    const prefix = { bare: '', robots: '', gateway: '/functions/v1' };
    const cases: CaseDef[] = [
      // The app and the dev server of one case run back to back (one bare run between them):
      // target 1c is read from these adjacent pairs.
      { name: 'robots_anon', server: 'robots', path: PUBLIC_PATH, jwt: false },
      { name: 'gateway_anon', server: 'gateway', path: PUBLIC_PATH, jwt: false },
      { name: 'robots_jwt', server: 'robots', path: PUBLIC_PATH, jwt: true },
      { name: 'gateway_jwt', server: 'gateway', path: PUBLIC_PATH, jwt: true },
    ];
    const results: Record<string, WrkResult[]> = { bare: [] };
    for (const c of cases) results[c.name] = [];
    const urlOf = (c: CaseDef) =>
      `http://127.0.0.1:${portOf[c.server]}${prefix[c.server]}${c.path}`;
    // Short warm-up of each server (JIT) before measuring.
    for (const c of [{ name: 'bare', server: 'bare', path: PUBLIC_PATH, jwt: false }, ...cases]) {
      await runWrk(urlOf(c as CaseDef), options.warmupSeconds, c.jwt ? jwtHeaders : []);
    }
    for (let round = 0; round < rounds; round++) {
      for (const c of cases) {
        results.bare.push(
          await runWrk(urlOf({ ...c, server: 'bare' }), seconds, [], undefined, bare.child.pid),
        );
        const server = c.server === 'robots' ? robots : gateway;
        results[c.name].push(
          await runWrk(urlOf(c), seconds, c.jwt ? jwtHeaders : [], undefined, server.child.pid),
        );
        console.error(
          `round ${round + 1}/${rounds} ${c.name}: ${Math.round(results[c.name].at(-1)!.rps)}` +
            ` rps (bare ${Math.round(results.bare.at(-1)!.rps)})`,
        );
      }
    }
    const bareMedian = median(results.bare.map((r) => r.rps));
    const summary: Record<string, ReturnType<typeof summarize>> = {};
    for (const [name, runs] of Object.entries(results)) summary[name] = summarize(runs, bareMedian);
    // Bare Hono's CPU per request over the case's: the throughput ratio on a core of its own.
    const cpuRatio: Record<string, number> = {};
    for (const c of cases) {
      const ratio = summary.bare.cpuUsPerRequestMedian! / summary[c.name].cpuUsPerRequestMedian!;
      cpuRatio[c.name] = Number(ratio.toFixed(3));
    }
    const gw = (n: string) => summary[`gateway_${n}`].rpsMedian;
    const rb = (n: string) => summary[`robots_${n}`].rpsMedian;
    // Per round, the dev server's run over the app's run next to it: requests per second, and the
    // app's CPU per request over the dev server's (what each would reach on a core of its own).
    const pairs = (n: string) => {
      const app = results[`robots_${n}`];
      const dev = results[`gateway_${n}`];
      const rps = app.map((a, i) => Number((dev[i].rps / a.rps).toFixed(3)));
      const cpu = app.flatMap((a, i) =>
        a.cpuUsPerRequest && dev[i].cpuUsPerRequest
          ? [Number((a.cpuUsPerRequest / dev[i].cpuUsPerRequest!).toFixed(3))]
          : []
      );
      return {
        rounds: rps,
        median: median(rps),
        cpuRounds: cpu,
        ...(cpu.length ? { cpuMedian: median(cpu) } : {}),
      };
    };
    return {
      rounds,
      secondsPerRun: seconds,
      connections: CONNECTIONS,
      bodyBytes: new TextEncoder().encode(body).length,
      sameBody: bareBody === body,
      cacheHeaders,
      summary,
      cpuRatioToBare: cpuRatio,
      // Ratio of the medians (all rounds), kept for comparison with earlier runs.
      gatewayToApp: {
        anon: Number((gw('anon') / rb('anon')).toFixed(3)),
        jwt: Number((gw('jwt') / rb('jwt')).toFixed(3)),
      },
      // Target 1c's figure: the median of the adjacent pairs' ratios.
      gatewayToAppPaired: { anon: pairs('anon'), jwt: pairs('jwt') },
      profileDir: profDir,
    };
  } finally {
    for (const server of servers) await server.stop();
  }
}
