/**
 * The hot path under load (issue 11): requests per second of a memory-tier hit of
 * `GET /robots/public?limit=5`, side by side with a bare Hono app in `Deno.serve` returning the
 * same JSON body, and the cold start to the first 200.
 *
 * Cases (every server is a child process pinned to core 0, wrk to core 1, 50 connections,
 * loopback only):
 * - `bare`: Hono + `Deno.serve`, one route answering the robots body captured from case B;
 * - `robots_anon` / `robots_jwt`: the robots app in `Deno.serve` (embedded PGlite in memory, memory
 *   store, key warmed first), without and with a signed-in user's ES256 token;
 * - `gateway_anon` / `gateway_jwt`: the same through the dev server (`scripts/dev-server.ts`,
 *   `QF_LOCAL_DATA_DIR=memory://`, `LOCAL_CRON=off`).
 *
 * Rounds alternate bare and the other cases; medians and spreads (min-max) are reported, with
 * ratios to bare Hono's median. The rate limiter is off (`QF_RATELIMIT_ENABLED=false`): one
 * client address at 50 connections would otherwise be refused after 300 requests per minute.
 *
 * Cold start: spawn to first 200 of `GET /health` and `GET /robots/public?limit=5` with
 * `SUPABASE_DB_URL` on a real PostgreSQL 15 (scripts/services/postgres.ts), against bare Hono.
 *
 * ```sh
 * DENO_NO_PACKAGE_JSON=1 ./node_modules/.bin/deno run -A bench/hot_path.ts [--quick] [--no-cold]
 * ```
 *
 * Writes `bench/results/hot_path-<date>.json`. Needs `wrk` and `taskset` (Debian: wrk,
 * util-linux).
 *
 * @module
 */
const root = new URL('../', import.meta.url).pathname;
const PUBLIC_PATH = '/robots/public?limit=5';
const CONNECTIONS = 50;
/** Same runtime flags as `npm start` (deno.json `serve` task). */
const DENO_FLAGS = ['run', '-A', '--unstable-no-legacy-abort'];

// ---------------------------------------------------------------------------------------------
// Server modes (this file re-runs itself as the server child)
// ---------------------------------------------------------------------------------------------

async function serveBare(port: number, bodyFile: string): Promise<void> {
  const { Hono } = await import('hono');
  const body = JSON.parse(await Deno.readTextFile(bodyFile));
  const app = new Hono();
  app.get('/robots/public', (c) => c.json(body));
  app.get('/health', (c) => c.json({ status: 'ok' }));
  Deno.serve({ hostname: '127.0.0.1', port, onListen: () => {} }, app.fetch);
}

/** The robots app; `localAuth` trusts the local signing key as the dev server does. */
async function serveRobots(port: number, localAuth = true): Promise<void> {
  if (localAuth) {
    const { configureLocalAuth } = await import('../scripts/dev-server.ts');
    await configureLocalAuth();
  }
  const { setDatabase } = await import('../shared/db/mod.ts');
  if (!Deno.env.get('SUPABASE_DB_URL')) {
    const { createEmbeddedDatabase } = await import('../scripts/pglite.ts');
    setDatabase(await createEmbeddedDatabase({ dataDir: 'memory://' }));
  }
  const { app } = await import('../supabase/functions/robots/app.ts');
  Deno.serve({ hostname: '127.0.0.1', port, onListen: () => {} }, app.fetch);
}

async function serveHealth(port: number): Promise<void> {
  const { app } = await import('../supabase/functions/health/app.ts');
  Deno.serve({ hostname: '127.0.0.1', port, onListen: () => {} }, app.fetch);
}

// ---------------------------------------------------------------------------------------------
// Driver
// ---------------------------------------------------------------------------------------------

/** Servers exit cleanly on SIGINT/SIGTERM so `--cpu-prof` writes its profile. */
function exitOnSignal(): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    Deno.addSignalListener(signal, () => Deno.exit(0));
  }
}

function freePort(): number {
  const listener = Deno.listen({ hostname: '127.0.0.1', port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

interface Server {
  port: number;
  child: Deno.ChildProcess;
  stop(): Promise<void>;
}

const benchEnv = (extra: Record<string, string> = {}): Record<string, string> => ({
  QF_RATELIMIT_ENABLED: 'false',
  LOCAL_CRON: 'off',
  NO_COLOR: '1',
  ...extra,
});

function spawnServer(
  args: string[],
  env: Record<string, string>,
  port: number,
  extraFlags: string[] = [],
): Server {
  const child = new Deno.Command('taskset', {
    args: ['-c', '0', Deno.execPath(), ...DENO_FLAGS, ...extraFlags, ...args],
    cwd: root,
    env: { ...env, DENO_NO_PACKAGE_JSON: '1' },
    stdout: 'null',
    stderr: 'inherit',
  }).spawn();
  return {
    port,
    child,
    async stop() {
      try {
        child.kill('SIGINT');
      } catch {
        // already gone
      }
      const timer = setTimeout(() => {
        try {
          child.kill('SIGKILL');
        } catch {
          // gone
        }
      }, 5_000);
      await child.status;
      clearTimeout(timer);
    },
  };
}

async function waitFor(url: string, started: number, limitMs = 120_000): Promise<number> {
  for (;;) {
    try {
      const response = await fetch(url);
      await response.body?.cancel();
      if (response.status === 200) return performance.now() - started;
    } catch {
      // not listening yet
    }
    if (performance.now() - started > limitMs) throw new Error(`no 200 from ${url}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

interface WrkResult {
  rps: number;
  requests: number;
  non2xx: number;
  errors: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
}

function toMs(value: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(value.trim());
  if (!m) return NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 's' ? n * 1000 : n;
}

async function runWrk(url: string, seconds: number, headers: string[]): Promise<WrkResult> {
  const args = [
    '-c',
    '1',
    'wrk',
    '-t',
    '2',
    '-c',
    String(CONNECTIONS),
    '-d',
    `${seconds}s`,
    '--latency',
  ];
  for (const header of headers) args.push('-H', header);
  args.push(url);
  const out = await new Deno.Command('taskset', { args, stdout: 'piped', stderr: 'piped' })
    .output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) throw new Error(`wrk failed: ${new TextDecoder().decode(out.stderr)}`);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1]);
  const requests = Number(/(\d+) requests in/.exec(text)?.[1]);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const errors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  const p50 = /^\s+50%\s+(\S+)/m.exec(text)?.[1] ?? '';
  const p99 = /^\s+99%\s+(\S+)/m.exec(text)?.[1] ?? '';
  return { rps, requests, non2xx, errors, latencyP50Ms: toMs(p50), latencyP99Ms: toMs(p99) };
}

const median = (values: number[]): number => {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};

interface CaseDef {
  name: string;
  server: 'bare' | 'robots' | 'gateway';
  path: string;
  jwt: boolean;
}

async function loadAverage(): Promise<string> {
  try {
    return (await Deno.readTextFile('/proc/loadavg')).trim();
  } catch {
    return 'unknown';
  }
}

async function cpuModel(): Promise<string> {
  try {
    const text = await Deno.readTextFile('/proc/cpuinfo');
    return /model name\s*:\s*(.+)/.exec(text)?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

async function throughput(quick: boolean, profileCase?: string) {
  const rounds = quick ? 3 : 5;
  const seconds = quick ? 5 : 10;
  const tmp = await Deno.makeTempDir({ prefix: 'qf-hotpath-' });
  const self = new URL(import.meta.url).pathname;

  // The signed-in user's token (ES256, the local signing key the servers trust).
  const { signLocalUserToken, LOCAL_PUBLISHABLE_KEY } = await import('../scripts/local_keys.ts');
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
    benchEnv(),
    robotsPort,
    robotsFlags,
  );
  const gatewayPort = freePort();
  const gatewayFlags = profDir && (profileCase === 'all' || profileCase?.startsWith('gateway'))
    ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`]
    : [];
  const gateway = spawnServer(
    ['scripts/dev-server.ts'],
    benchEnv({ PORT: String(gatewayPort), QF_LOCAL_DATA_DIR: 'memory://' }),
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
      { name: 'robots_anon', server: 'robots', path: PUBLIC_PATH, jwt: false },
      { name: 'robots_jwt', server: 'robots', path: PUBLIC_PATH, jwt: true },
      { name: 'gateway_anon', server: 'gateway', path: PUBLIC_PATH, jwt: false },
      { name: 'gateway_jwt', server: 'gateway', path: PUBLIC_PATH, jwt: true },
    ];
    const results: Record<string, WrkResult[]> = { bare: [] };
    for (const c of cases) results[c.name] = [];
    const urlOf = (c: CaseDef) =>
      `http://127.0.0.1:${portOf[c.server]}${prefix[c.server]}${c.path}`;
    // Short warm-up of each server (JIT) before measuring.
    for (const c of [{ name: 'bare', server: 'bare', path: PUBLIC_PATH, jwt: false }, ...cases]) {
      await runWrk(urlOf(c as CaseDef), 1, c.jwt ? jwtHeaders : []);
    }
    for (let round = 0; round < rounds; round++) {
      for (const c of cases) {
        results.bare.push(await runWrk(urlOf({ ...c, server: 'bare' }), seconds, []));
        results[c.name].push(await runWrk(urlOf(c), seconds, c.jwt ? jwtHeaders : []));
        console.error(
          `round ${round + 1}/${rounds} ${c.name}: ${Math.round(results[c.name].at(-1)!.rps)}` +
            ` rps (bare ${Math.round(results.bare.at(-1)!.rps)})`,
        );
      }
    }
    const bareMedian = median(results.bare.map((r) => r.rps));
    const summary: Record<string, unknown> = {};
    for (const [name, runs] of Object.entries(results)) {
      const rps = runs.map((r) => r.rps);
      summary[name] = {
        rpsMedian: Math.round(median(rps)),
        rpsMin: Math.round(Math.min(...rps)),
        rpsMax: Math.round(Math.max(...rps)),
        ratioToBare: Number((median(rps) / bareMedian).toFixed(3)),
        latencyP50MsMedian: median(runs.map((r) => r.latencyP50Ms)),
        latencyP99MsMedian: median(runs.map((r) => r.latencyP99Ms)),
        non2xx: runs.reduce((a, r) => a + r.non2xx, 0),
        socketErrors: runs.reduce((a, r) => a + r.errors, 0),
        runs: rps.map(Math.round),
      };
    }
    const gw = (n: string) => (summary[`gateway_${n}`] as { rpsMedian: number }).rpsMedian;
    const rb = (n: string) => (summary[`robots_${n}`] as { rpsMedian: number }).rpsMedian;
    return {
      rounds,
      secondsPerRun: seconds,
      connections: CONNECTIONS,
      bodyBytes: new TextEncoder().encode(body).length,
      sameBody: bareBody === body,
      cacheHeaders,
      summary,
      gatewayToApp: {
        anon: Number((gw('anon') / rb('anon')).toFixed(3)),
        jwt: Number((gw('jwt') / rb('jwt')).toFixed(3)),
      },
      profileDir: profDir,
    };
  } finally {
    for (const server of servers) await server.stop();
  }
}

async function coldStart(runs: number) {
  const { startPostgres, applyMigrations } = await import('../scripts/services/postgres.ts');
  const pg = await startPostgres();
  try {
    await applyMigrations(pg.url);
    const tmp = await Deno.makeTempDir({ prefix: 'qf-hotpath-cold-' });
    const bodyFile = `${tmp}/body.json`;
    await Deno.writeTextFile(bodyFile, JSON.stringify({ data: [], next_cursor: null }));
    const self = new URL(import.meta.url).pathname;
    const env = benchEnv({ SUPABASE_DB_URL: pg.url });
    const kinds: Record<string, { args: (port: number) => string[]; path: string }> = {
      bare: { args: (p) => [self, '--serve-bare', String(p), bodyFile], path: '/health' },
      health: { args: (p) => [self, '--serve-health', String(p)], path: '/health' },
      // As deployed: no local auth set-up, only the function's own imports.
      robots: { args: (p) => [self, '--serve-robots-cold', String(p)], path: PUBLIC_PATH },
    };
    const times: Record<string, number[]> = { bare: [], health: [], robots: [] };
    for (let i = 0; i < runs; i++) {
      for (const [name, kind] of Object.entries(kinds)) {
        const port = freePort();
        const started = performance.now();
        const server = spawnServer(kind.args(port), env, port);
        try {
          times[name].push(await waitFor(`http://127.0.0.1:${port}${kind.path}`, started, 30_000));
        } finally {
          await server.stop();
        }
      }
    }
    const summary: Record<string, unknown> = {};
    for (const [name, values] of Object.entries(times)) {
      summary[name] = { medianMs: Math.round(median(values)), runsMs: values.map(Math.round) };
    }
    return { runs, summary };
  } finally {
    await pg.stop();
  }
}

async function main(): Promise<void> {
  const quick = Deno.args.includes('--quick');
  const profileArg = Deno.args.find((a) => a.startsWith('--profile='));
  const profileCase = profileArg?.slice('--profile='.length);
  const machine = {
    cpu: await cpuModel(),
    cores: navigator.hardwareConcurrency,
    loadAverageBefore: await loadAverage(),
    deno: Deno.version.deno,
    wrk: new TextDecoder().decode(
      (await new Deno.Command('wrk', { args: ['-v'], stdout: 'piped', stderr: 'piped' }).output())
        .stdout,
    ).split('\n')[0],
  };
  const started = new Date();
  const result: Record<string, unknown> = {
    command: `DENO_NO_PACKAGE_JSON=1 ./node_modules/.bin/deno run -A bench/hot_path.ts ${
      Deno.args.join(' ')
    }`.trim(),
    startedAt: started.toISOString(),
    machine,
  };
  if (!Deno.args.includes('--no-throughput')) {
    result.throughput = await throughput(quick, profileCase);
  }
  if (!Deno.args.includes('--no-cold')) result.coldStart = await coldStart(quick ? 3 : 5);
  result.loadAverageAfter = await loadAverage();
  result.finishedAt = new Date().toISOString();
  await Deno.mkdir(new URL('results/', import.meta.url), { recursive: true });
  const out = new URL(
    `results/hot_path-${started.toISOString().replace(/[:]/g, '').slice(0, 15)}${
      profileCase ? `-profile-${profileCase}` : ''
    }.json`,
    import.meta.url,
  );
  await Deno.writeTextFile(out, JSON.stringify(result, null, 2) + '\n');
  console.log(JSON.stringify(result, null, 2));
  console.error(`written ${out.pathname}`);
}

if (import.meta.main) {
  const mode = Deno.args[0];
  if (mode?.startsWith('--serve-')) exitOnSignal();
  if (mode === '--serve-bare') await serveBare(Number(Deno.args[1]), Deno.args[2]);
  else if (mode === '--serve-robots') await serveRobots(Number(Deno.args[1]));
  else if (mode === '--serve-robots-cold') await serveRobots(Number(Deno.args[1]), false);
  else if (mode === '--serve-health') await serveHealth(Number(Deno.args[1]));
  else await main();
}
