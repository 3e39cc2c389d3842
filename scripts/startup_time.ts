/**
 * Measures the dev server's start-up: from spawning `scripts/dev-server.ts` to its first answer of
 * `GET /functions/v1/health` (any status: on the embedded database the first is a 503 saying the
 * database is starting) and to its first 200, `runs` times (medians printed). The environment passes through, so
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

/** One start's figures, ms after spawning. */
export interface StartupTimes {
  /** First answer of health, whatever its status. */
  firstAnswerMs: number;
  /** Its status. */
  firstStatus: number;
  /** First 200 of health (every backend ready). */
  firstOkMs: number;
}

/**
 * One start: milliseconds until health answers, and until it answers 200.
 *
 * @example
 * ```ts
 * console.log(await timeToFirstHealth([]));
 * ```
 */
export async function timeToFirstHealth(args: string[]): Promise<StartupTimes> {
  const port = freePort();
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ['run', '-A', '--unstable-no-legacy-abort', 'scripts/dev-server.ts', ...args],
    cwd: root,
    env: { PORT: String(port), NO_COLOR: '1' },
    stdout: 'null',
    stderr: 'inherit',
  }).spawn();
  let first: { ms: number; status: number } | undefined;
  try {
    for (;;) {
      try {
        const response = await fetch(`http://127.0.0.1:${port}/functions/v1/health`);
        await response.body?.cancel();
        const ms = performance.now() - started;
        first ??= { ms, status: response.status };
        if (response.ok) {
          return { firstAnswerMs: first.ms, firstStatus: first.status, firstOkMs: ms };
        }
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
      if (performance.now() - started > 120_000) throw new Error('no health answer in 120 s');
    }
  } finally {
    child.kill('SIGINT');
    await child.status;
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

if (import.meta.main) {
  const runs = Number(Deno.args[0] ?? 5);
  const times: StartupTimes[] = [];
  for (let i = 0; i < runs; i++) times.push(await timeToFirstHealth(Deno.args.slice(1)));
  const list = (pick: (t: StartupTimes) => number) => times.map((t) => Math.round(pick(t)));
  console.log(
    `first health answer: median ${Math.round(median(list((t) => t.firstAnswerMs)))} ms ` +
      `(runs: ${list((t) => t.firstAnswerMs).join(', ')} ms; statuses ${
        times.map((t) => t.firstStatus).join(', ')
      })\nfirst 200: median ${Math.round(median(list((t) => t.firstOkMs)))} ms (runs: ${
        list((t) => t.firstOkMs).join(', ')
      } ms)`,
  );
}
