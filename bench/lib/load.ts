/**
 * HTTP load pieces the section scripts share: a server child pinned to core 0, `wrk` pinned to
 * core 1 replaying a list of paths (a Lua script written from them), and its figures.
 *
 * @module
 */

const ROOT = new URL('../../', import.meta.url).pathname;

/** A server child process listening on a loopback port. */
export interface ServerChild {
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/** Whether `taskset` is there (pinning is skipped without it). */
async function hasTaskset(): Promise<boolean> {
  try {
    const out = await new Deno.Command('taskset', { args: ['-V'], stdout: 'null', stderr: 'null' })
      .output();
    return out.success;
  } catch {
    return false;
  }
}

let tasksetAvailable: boolean | undefined;

/** `[cmd, args]` run on one core (`taskset -c <core>`) where taskset exists. */
export async function pinned(
  core: number,
  cmd: string,
  args: string[],
): Promise<[string, string[]]> {
  tasksetAvailable ??= await hasTaskset();
  if (!tasksetAvailable || navigator.hardwareConcurrency < 2) return [cmd, args];
  return ['taskset', ['-c', String(core), cmd, ...args]];
}

/**
 * Spawns `deno run -A <args>` pinned to core 0 and waits until `readyPath` answers 2xx-4xx.
 *
 * @example
 * ```ts
 * const server = await spawnServer(['bench/x.ts', '--serve', '--port=4000'], {}, 4000, '/health');
 * await server.stop();
 * ```
 */
export async function spawnServer(
  args: string[],
  env: Record<string, string>,
  port: number,
  readyPath: string,
  timeoutMs = 30_000,
): Promise<ServerChild> {
  const [cmd, cmdArgs] = await pinned(0, Deno.execPath(), ['run', '-A', ...args]);
  const child = new Deno.Command(cmd, {
    args: cmdArgs,
    cwd: ROOT,
    env: { DENO_NO_PACKAGE_JSON: '1', NO_COLOR: '1', ...env },
    stdout: 'null',
    stderr: 'inherit',
  }).spawn();
  const stop = async () => {
    try {
      child.kill('SIGTERM');
    } catch { /* already gone */ }
    const timer = setTimeout(() => {
      try {
        child.kill('SIGKILL');
      } catch { /* gone */ }
    }, 5_000);
    await child.status;
    clearTimeout(timer);
  };
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}${readyPath}`);
      await res.body?.cancel();
      if (res.status < 500) return { port, pid: child.pid, stop };
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error(`server ${args.join(' ')} did not answer ${readyPath} within ${timeoutMs} ms`);
}

/** What one wrk run measured. */
export interface WrkResult {
  requests: number;
  rps: number;
  /** Latencies in ms. */
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  /** Socket errors (connect, read, write, timeout). */
  errors: number;
  /** Answers outside 2xx/3xx. */
  non2xx: number;
}

/**
 * Writes a wrk Lua script replaying `paths` in order (each connection starts at its own offset)
 * and printing the figures as JSON on its last line.
 */
export async function writeWrkScript(paths: string[], headers: Record<string, string> = {}) {
  const file = await Deno.makeTempFile({ prefix: 'qf-wrk-', suffix: '.lua' });
  const lua = [
    `local paths = {${paths.map((p) => JSON.stringify(p)).join(',\n')}}`,
    `local headers = {${
      Object.entries(headers).map(([k, v]) => `[${JSON.stringify(k)}]=${JSON.stringify(v)}`).join(
        ',',
      )
    }}`,
    'local n = #paths',
    'local i = 0',
    'local counter = 0',
    'function setup(thread) counter = counter + 1; thread:set("offset", counter * 7919) end',
    'function init(args) i = (offset or 0) % n end',
    'function request()',
    '  i = i + 1',
    '  if i > n then i = 1 end',
    '  return wrk.format("GET", paths[i], headers)',
    'end',
    'function done(summary, latency, requests)',
    '  local e = summary.errors',
    '  io.write(string.format(\'\\n{"requests":%d,"duration_us":%d,"errors":%d,"non2xx":%d,' +
    '"mean":%f,"p50":%d,"p90":%d,"p99":%d}\\n\', summary.requests, summary.duration,' +
    ' e.connect + e.read + e.write + e.timeout, e.status, latency.mean,' +
    ' latency:percentile(50), latency:percentile(90), latency:percentile(99)))',
    'end',
    '',
  ].join('\n');
  await Deno.writeTextFile(file, lua);
  return file;
}

/**
 * Runs wrk (pinned to core 1) against `http://127.0.0.1:<port>` with a Lua script from
 * {@link writeWrkScript}.
 */
export async function runWrk(options: {
  port: number;
  script: string;
  seconds: number;
  connections: number;
  threads?: number;
}): Promise<WrkResult> {
  const [cmd, args] = await pinned(1, 'wrk', [
    `-t${options.threads ?? 1}`,
    `-c${options.connections}`,
    `-d${options.seconds}s`,
    '--timeout',
    '10s',
    '-s',
    options.script,
    `http://127.0.0.1:${options.port}`,
  ]);
  const out = await new Deno.Command(cmd, { args, stdout: 'piped', stderr: 'piped' }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`wrk failed (${out.code}): ${new TextDecoder().decode(out.stderr)}${text}`);
  }
  const line = text.trim().split('\n').reverse().find((l) => l.startsWith('{"requests"'));
  if (!line) throw new Error(`wrk printed no summary: ${text}`);
  const r = JSON.parse(line);
  return {
    requests: r.requests,
    rps: r.requests / (r.duration_us / 1e6),
    mean: r.mean / 1000,
    p50: r.p50 / 1000,
    p90: r.p90 / 1000,
    p99: r.p99 / 1000,
    errors: r.errors,
    non2xx: r.non2xx,
  };
}
