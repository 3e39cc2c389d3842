/**
 * The load tool and process plumbing of bench/hot_path.ts: servers as child processes pinned to
 * core 0, `wrk` pinned to core 1, loopback only, stopped by PID.
 *
 * @module
 */
const root = new URL('../../', import.meta.url).pathname;
/** Concurrent connections of every wrk run. */
export const CONNECTIONS = 50;
/** Same runtime flags as `npm start` (deno.json `serve` task). */
const DENO_FLAGS = ['run', '-A', '--unstable-no-legacy-abort'];

/** A free loopback port (closed again at once). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: '127.0.0.1', port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** A server child process. */
export interface Server {
  port: number;
  child: Deno.ChildProcess;
  stop(): Promise<void>;
}

/** The benchmark's environment: no rate limiter (one client address), no local cron. */
export const benchEnv = (extra: Record<string, string> = {}): Record<string, string> => ({
  QF_RATELIMIT_ENABLED: 'false',
  LOCAL_CRON: 'off',
  NO_COLOR: '1',
  ...extra,
});

/**
 * Spawns `deno run -A --unstable-no-legacy-abort <args>` pinned to core 0.
 *
 * @example
 * ```ts
 * const server = spawnServer(['bench/hot_path.ts', '--serve-bare', '8080', 'body.json'], benchEnv(), 8080);
 * await server.stop();
 * ```
 */
export function spawnServer(
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

/** Polls `url` every 5 ms until it answers 200; returns the ms since `started`. */
export async function waitFor(url: string, started: number, limitMs = 120_000): Promise<number> {
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

/** One wrk run's figures. */
export interface WrkResult {
  rps: number;
  requests: number;
  /** The server's CPU time (user + system) per request, us, when its pid was given. */
  cpuUsPerRequest?: number;
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

/**
 * Runs `wrk -t2 -c50 -d<seconds>s --latency` pinned to core 1 (`script`: a wrk Lua script).
 *
 * @example
 * ```ts
 * const { rps } = await runWrk('http://127.0.0.1:8080/health', 2, []);
 * ```
 */
export async function runWrk(
  url: string,
  seconds: number,
  headers: string[],
  script?: string,
  serverPid?: number,
): Promise<WrkResult> {
  const args = ['-c', '1', 'wrk', '-t', '2', '-c', String(CONNECTIONS), '-d', `${seconds}s`];
  args.push('--latency');
  for (const header of headers) args.push('-H', header);
  if (script) args.push('-s', script);
  args.push(url);
  const cpuBefore = serverPid === undefined ? 0 : await cpuSeconds(serverPid);
  const out = await new Deno.Command('taskset', { args, stdout: 'piped', stderr: 'piped' })
    .output();
  const cpu = serverPid === undefined ? undefined : await cpuSeconds(serverPid) - cpuBefore;
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) throw new Error(`wrk failed: ${new TextDecoder().decode(out.stderr)}`);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1]);
  const requests = Number(/(\d+) requests in/.exec(text)?.[1]);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const errors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  const p50 = /^\s+50%\s+(\S+)/m.exec(text)?.[1] ?? '';
  const p99 = /^\s+99%\s+(\S+)/m.exec(text)?.[1] ?? '';
  return {
    rps,
    requests,
    ...(cpu === undefined ? {} : { cpuUsPerRequest: Number((cpu * 1e6 / requests).toFixed(1)) }),
    non2xx,
    errors,
    latencyP50Ms: toMs(p50),
    latencyP99Ms: toMs(p99),
  };
}

/**
 * CPU time (user + system) a process has used, seconds (`/proc/<pid>/stat`, 10 ms ticks). A
 * server's CPU per request barely moves with the machine's load, where its requests per second
 * do: the benchmarks report both.
 */
export async function cpuSeconds(pid: number): Promise<number> {
  const fields = (await Deno.readTextFile(`/proc/${pid}/stat`)).split(') ')[1].split(' ');
  // After "pid (comm) ": state is field 3, utime 14 and stime 15 (1-based).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The median of a list (NaN when empty). */
export const median = (values: number[]): number => {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};

/** Per-variant summary of wrk runs, with the ratio to a reference median. */
export function summarize(runs: WrkResult[], referenceMedian: number) {
  const rps = runs.map((r) => r.rps);
  const cpu = runs.map((r) => r.cpuUsPerRequest).filter((v): v is number => v !== undefined);
  return {
    ...(cpu.length ? { cpuUsPerRequestMedian: median(cpu), cpuUsPerRequest: cpu } : {}),
    rpsMedian: Math.round(median(rps)),
    rpsMin: Math.round(Math.min(...rps)),
    rpsMax: Math.round(Math.max(...rps)),
    ratioToBare: Number((median(rps) / referenceMedian).toFixed(3)),
    latencyP50MsMedian: median(runs.map((r) => r.latencyP50Ms)),
    latencyP99MsMedian: median(runs.map((r) => r.latencyP99Ms)),
    non2xx: runs.reduce((a, r) => a + r.non2xx, 0),
    socketErrors: runs.reduce((a, r) => a + r.errors, 0),
    runs: rps.map(Math.round),
  };
}

/** The 1-, 5- and 15-minute load averages (`/proc/loadavg`). */
export async function loadAverage(): Promise<string> {
  try {
    return (await Deno.readTextFile('/proc/loadavg')).trim().split(' ').slice(0, 3).join(' ');
  } catch {
    return 'unknown';
  }
}
