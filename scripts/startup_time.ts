/**
 * Measures the dev server's start-up: from spawning `scripts/dev-server.ts` to the first 200 of
 * `GET /functions/v1/health`, `runs` times (median printed). The environment passes through, so
 * `QF_LOCAL_DATA_DIR=memory://` measures the in-memory database and a folder measures the
 * persistent one (the first run creates it, the next ones reopen it).
 *
 * ```sh
 * DENO_NO_PACKAGE_JSON=1 deno run -A scripts/startup_time.ts [runs=5] [dev-server args...]
 * ```
 *
 * @module
 */
const root = new URL('../', import.meta.url).pathname;

function freePort(): number {
  const listener = Deno.listen({ hostname: '127.0.0.1', port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/**
 * One start: milliseconds until health answers 200.
 *
 * @example
 * ```ts
 * console.log(await timeToFirstHealth([]));
 * ```
 */
export async function timeToFirstHealth(args: string[]): Promise<number> {
  const port = freePort();
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ['run', '-A', '--unstable-no-legacy-abort', 'scripts/dev-server.ts', ...args],
    cwd: root,
    env: { PORT: String(port), NO_COLOR: '1' },
    stdout: 'null',
    stderr: 'inherit',
  }).spawn();
  try {
    for (;;) {
      try {
        const response = await fetch(`http://127.0.0.1:${port}/functions/v1/health`);
        await response.body?.cancel();
        if (response.ok) return performance.now() - started;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
      if (performance.now() - started > 120_000) throw new Error('no health answer in 120 s');
    }
  } finally {
    child.kill('SIGINT');
    await child.status;
  }
}

if (import.meta.main) {
  const runs = Number(Deno.args[0] ?? 5);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(await timeToFirstHealth(Deno.args.slice(1)));
  const sorted = [...times].sort((a, b) => a - b);
  console.log(
    `time to first health answer: median ${Math.round(sorted[Math.floor(runs / 2)])} ms` +
      ` (runs: ${times.map(Math.round).join(', ')} ms)`,
  );
}
