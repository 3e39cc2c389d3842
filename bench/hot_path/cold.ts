/**
 * Cold start (issue 11, target 4): from spawning a function's real entry point
 * (`deno run -A --unstable-no-legacy-abort --config supabase/functions/<fn>/deno.json
 * supabase/functions/<fn>/index.ts`, address from `DENO_SERVE_ADDRESS`) to its first 200, with
 * `SUPABASE_DB_URL` on a real PostgreSQL 15, against bare Hono served the same way; and the dev
 * server's first health answer on embedded defaults (scripts/startup_time.ts). Each run also
 * records the server's CPU time at its first 200 (`cpuMedianMs`: all its threads, from /proc).
 *
 * Run alone, it compares this tree with another checkout (or several, comma-separated, each
 * labelled by its folder's name), alternated run by run:
 *
 * ```sh
 * git archive <commit> supabase shared bench deno.json | tar -x -C /tmp/before
 * DENO_NO_PACKAGE_JSON=1 ./node_modules/.bin/deno run -A bench/hot_path/cold.ts --baseline=/tmp/before --runs=7
 * ```
 *
 * `--only=health,robots` starts those functions only (and bare Hono once per round). `--split`
 * shows instead where each function's start goes, in-process: Deno's start, the import of its
 * `app.ts` and its first request, CPU medians per tree (health, robots and strategies unless
 * `--only` says otherwise).
 *
 * @module
 */
import { benchEnv, freePort, median, waitFor } from './load.ts';

const root = new URL('../../', import.meta.url).pathname;

/** What each cold start requests: health and robots answer from the database. */
export const COLD_TARGETS: Record<string, string> = {
  bare: '/health',
  health: '/health',
  robots: '/robots/public?limit=5',
  strategies: '/strategies/public?limit=5',
  optimizer: '/optimizer/__warmup',
  warmup: '/warmup/__warmup',
};

/**
 * CPU time the process has used so far, ms: the sum of its threads' run time from
 * `/proc/<pid>/task/<tid>/schedstat` (nanoseconds; `undefined` where /proc is absent). Start-up is
 * CPU-bound on this machine (the server is pinned to one core), and CPU time varies far less with
 * the load of other processes than the wall time does.
 */
async function cpuMs(pid: number | 'self'): Promise<number | undefined> {
  let ns = 0;
  try {
    for await (const task of Deno.readDir(`/proc/${pid}/task`)) {
      try {
        const stat = await Deno.readTextFile(`/proc/${pid}/task/${task.name}/schedstat`);
        ns += Number(stat.split(' ')[0]);
      } catch {
        // the thread ended meanwhile
      }
    }
  } catch {
    return undefined;
  }
  return ns / 1e6;
}

async function once(
  name: string,
  env: Record<string, string>,
  tree = root,
): Promise<{ ms: number; cpuMs?: number }> {
  const port = freePort();
  const args = name === 'bare'
    ? ['bench/hot_path/bare_index.ts']
    : ['--config', `supabase/functions/${name}/deno.json`, `supabase/functions/${name}/index.ts`];
  const started = performance.now();
  const child = new Deno.Command('taskset', {
    args: ['-c', '0', Deno.execPath(), 'run', '-A', '--unstable-no-legacy-abort', ...args],
    cwd: tree,
    env: { ...env, DENO_NO_PACKAGE_JSON: '1', DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${port}` },
    stdout: 'null',
    stderr: 'null',
  }).spawn();
  try {
    const ms = await waitFor(`http://127.0.0.1:${port}${COLD_TARGETS[name]}`, started, 30_000);
    return { ms, cpuMs: await cpuMs(child.pid) };
  } finally {
    child.kill('SIGKILL');
    await child.status;
  }
}

/**
 * Spawn-to-first-200 of every function and of bare Hono, `runs` times each (alternated).
 *
 * @example
 * ```ts
 * const { summary } = await coldStart(pg.url, 5);
 * ```
 */
export async function coldStart(url: string, runs: number) {
  const env = benchEnv({ SUPABASE_DB_URL: url });
  const times: Record<string, number[]> = {};
  const cpu: Record<string, number[]> = {};
  for (const name of Object.keys(COLD_TARGETS)) [times[name], cpu[name]] = [[], []];
  for (let i = 0; i < runs; i++) {
    for (const name of Object.keys(COLD_TARGETS)) {
      const run = await once(name, env);
      times[name].push(run.ms);
      if (run.cpuMs !== undefined) cpu[name].push(run.cpuMs);
    }
  }
  const summary: Record<
    string,
    {
      medianMs: number;
      minMs: number;
      maxMs: number;
      runsMs: number[];
      cpuMedianMs?: number;
      cpuMinMs?: number;
      cpuRunsMs?: number[];
    }
  > = {};
  for (const [name, values] of Object.entries(times)) {
    summary[name] = {
      medianMs: Math.round(median(values)),
      minMs: Math.round(Math.min(...values)),
      maxMs: Math.round(Math.max(...values)),
      runsMs: values.map(Math.round),
      ...(cpu[name].length
        ? {
          cpuMedianMs: Math.round(median(cpu[name])),
          cpuMinMs: Math.round(Math.min(...cpu[name])),
          cpuRunsMs: cpu[name].map(Math.round),
        }
        : {}),
    };
  }
  return { runs, paths: COLD_TARGETS, summary };
}

/**
 * The dev server's start on embedded defaults (`QF_LOCAL_DATA_DIR=memory://`): first health
 * answer (any status) and first 200, `runs` times.
 *
 * @example
 * ```ts
 * const dev = await devServerStart(1);
 * ```
 */
export async function devServerStart(runs: number) {
  const { timeToFirstHealth } = await import('../../scripts/startup_time.ts');
  type Times = Awaited<ReturnType<typeof timeToFirstHealth>>;
  const previous = { dir: Deno.env.get('QF_LOCAL_DATA_DIR'), cron: Deno.env.get('LOCAL_CRON') };
  Deno.env.set('QF_LOCAL_DATA_DIR', 'memory://');
  Deno.env.set('LOCAL_CRON', 'off');
  try {
    const list: Times[] = [];
    for (let i = 0; i < runs; i++) list.push(await timeToFirstHealth([]));
    const pick = (f: (t: Times) => number) => list.map((t) => Math.round(f(t)));
    return {
      runs,
      firstAnswerMedianMs: Math.round(median(pick((t) => t.firstAnswerMs))),
      firstAnswerStatuses: list.map((t) => t.firstStatus),
      firstOkMedianMs: Math.round(median(pick((t) => t.firstOkMs))),
      firstAnswerRunsMs: pick((t) => t.firstAnswerMs),
      firstOkRunsMs: pick((t) => t.firstOkMs),
    };
  } finally {
    for (
      const [name, value] of [['QF_LOCAL_DATA_DIR', previous.dir], ['LOCAL_CRON', previous.cron]]
    ) {
      if (value === undefined) Deno.env.delete(name!);
      else Deno.env.set(name!, value);
    }
  }
}

/**
 * Cold starts of this tree against another checkout of the project (`baseline`, e.g. a
 * `git archive` export of an earlier commit), alternated run by run on the same PostgreSQL:
 * bare Hono, then each function from the baseline and from this tree. Wall and CPU medians.
 *
 * @example
 * ```ts
 * const rows = await compareColdStart(pg.url, 7, '/tmp/before');
 * ```
 */
export async function compareColdStart(
  url: string,
  runs: number,
  baseline: string,
  only?: readonly string[],
) {
  const env = benchEnv({ SUPABASE_DB_URL: url });
  // Several checkouts, comma-separated: each labelled by its folder's name.
  const dirs = baseline.split(',').map((dir) => dir.endsWith('/') ? dir : `${dir}/`);
  const trees: Record<string, string> = dirs.length === 1
    ? { baseline: dirs[0] }
    : Object.fromEntries(dirs.map((dir) => [dir.split('/').filter(Boolean).at(-1)!, dir]));
  trees.current = root;
  const runsOf: Record<string, { ms: number[]; cpu: number[] }> = {};
  const record = (label: string, run: { ms: number; cpuMs?: number }) => {
    runsOf[label] ??= { ms: [], cpu: [] };
    runsOf[label].ms.push(run.ms);
    if (run.cpuMs !== undefined) runsOf[label].cpu.push(run.cpuMs);
  };
  for (let i = 0; i < runs; i++) {
    record('bare', await once('bare', env));
    for (
      const name of Object.keys(COLD_TARGETS).filter((n) =>
        n !== 'bare' && (!only || only.includes(n))
      )
    ) {
      for (const [tree, dir] of Object.entries(trees)) {
        record(`${name} ${tree}`, await once(name, env, dir));
      }
    }
  }
  return Object.entries(runsOf).map(([label, v]) => ({
    label,
    medianMs: Math.round(median(v.ms)),
    minMs: Math.round(Math.min(...v.ms)),
    maxMs: Math.round(Math.max(...v.ms)),
    cpuMedianMs: v.cpu.length ? Math.round(median(v.cpu)) : undefined,
    cpuMinMs: v.cpu.length ? Math.round(Math.min(...v.cpu)) : undefined,
  }));
}

/**
 * In a fresh process started with a function's import map (`--probe=<tree>|<fn>|<path>`): CPU
 * time before importing `<tree>/supabase/functions/<fn>/app.ts` (Deno's own start and this
 * module), of the import, and of its first request (`app.fetch`, through the first answer's
 * body), printed as JSON. Only the main thread runs JavaScript here; `/proc` run time is updated
 * at scheduler ticks, so each figure is good to a few ms, and medians of several runs are read.
 */
async function probe(spec: string): Promise<void> {
  const [tree, fn, path] = spec.split('|');
  const start = (await cpuMs('self'))!;
  const { app } = await import(`${tree}/supabase/functions/${fn}/app.ts`);
  const imported = (await cpuMs('self'))!;
  const res: Response = await app.fetch(new Request(`http://localhost${path}`));
  await res.arrayBuffer();
  const answered = (await cpuMs('self'))!;
  console.log(JSON.stringify({
    status: res.status,
    startMs: start,
    importMs: imported - start,
    firstRequestMs: answered - imported,
  }));
  Deno.exit(0);
}

/**
 * Where each function's start goes, this tree against others, alternated run by run: medians of
 * {@link probe}'s three parts (start, import of `app.ts`, first request) over `runs`.
 *
 * @example
 * ```ts
 * const rows = await splitColdStart(pg.url, 9, '/tmp/before', ['robots']);
 * ```
 */
export async function splitColdStart(
  url: string,
  runs: number,
  baseline: string,
  only: readonly string[] = ['health', 'robots', 'strategies'],
) {
  const env = benchEnv({ SUPABASE_DB_URL: url });
  const trees = [...baseline.split(','), root].map((dir) => dir.endsWith('/') ? dir : `${dir}/`);
  const parts: Record<string, { start: number[]; import: number[]; first: number[] }> = {};
  for (let i = 0; i < runs; i++) {
    for (const fn of only) {
      for (const tree of trees) {
        const out = await new Deno.Command('taskset', {
          args: [
            '-c',
            '0',
            Deno.execPath(),
            'run',
            '-A',
            '--unstable-no-legacy-abort',
            '--config',
            `supabase/functions/${fn}/deno.json`,
            new URL(import.meta.url).pathname,
            `--probe=${tree}|${fn}|${COLD_TARGETS[fn]}`,
          ],
          cwd: tree,
          env: { ...env, DENO_NO_PACKAGE_JSON: '1' },
          stdout: 'piped',
          stderr: 'piped',
        }).output();
        const text = new TextDecoder().decode(out.stdout).trim();
        if (out.code !== 0) {
          throw new Error(`${fn} in ${tree}: ${new TextDecoder().decode(out.stderr)}`);
        }
        const run = JSON.parse(text);
        if (run.status !== 200) throw new Error(`${fn} in ${tree}: first answer ${run.status}`);
        const label = `${fn} ${tree === `${root}` ? 'current' : tree}`;
        parts[label] ??= { start: [], import: [], first: [] };
        parts[label].start.push(run.startMs);
        parts[label].import.push(run.importMs);
        parts[label].first.push(run.firstRequestMs);
      }
    }
  }
  return Object.entries(parts).map(([label, v]) => ({
    label,
    startMs: Math.round(median(v.start)),
    importMs: Math.round(median(v.import)),
    importMinMs: Math.round(Math.min(...v.import)),
    firstRequestMs: Math.round(median(v.first)),
    firstRequestMinMs: Math.round(Math.min(...v.first)),
    totalMs: Math.round(median(v.start.map((s, i) => s + v.import[i] + v.first[i]))),
  }));
}

const probeSpec = Deno.args.find((a) => a.startsWith('--probe='))?.slice(8);
if (import.meta.main && probeSpec) await probe(probeSpec);

if (import.meta.main) {
  // deno run -A bench/hot_path/cold.ts --baseline=<checkout> [--runs=7]: this tree against another.
  // With --split: where each start goes (start, import of app.ts, first request), in-process.
  const baseline = Deno.args.find((a) => a.startsWith('--baseline='))?.slice(11);
  const runs = Number(Deno.args.find((a) => a.startsWith('--runs='))?.slice(7) ?? 7);
  // --only=robots,strategies: those functions only (bare Hono still once per round).
  const only = Deno.args.find((a) => a.startsWith('--only='))?.slice(7).split(',');
  if (only?.some((name) => !(name in COLD_TARGETS))) {
    throw new Error(
      `--only names functions of ${Object.keys(COLD_TARGETS).join(', ')}: received ${only}`,
    );
  }
  if (!baseline || !Number.isInteger(runs) || runs < 1) {
    throw new Error(
      `usage: cold.ts --baseline=<checkout> [--runs=N] [--only=fn,...]: received ${
        Deno.args.join(' ')
      }`,
    );
  }
  const { startPostgres, applyMigrations } = await import('../../scripts/services/postgres.ts');
  const { loadAverage } = await import('./load.ts');
  const pg = await startPostgres();
  try {
    await applyMigrations(pg.url);
    const before = await loadAverage();
    if (Deno.args.includes('--split')) {
      const split = await splitColdStart(pg.url, runs, baseline, only);
      console.log(
        `| case | start | import app.ts (min) | first request (min) | total |\n|---|---:|---:|---:|---:|`,
      );
      for (const r of split) {
        console.log(
          `| ${r.label} | ${r.startMs} | ${r.importMs} (${r.importMinMs}) | ${r.firstRequestMs} (${r.firstRequestMinMs}) | ${r.totalMs} |`,
        );
      }
    } else {
      const rows = await compareColdStart(pg.url, runs, baseline, only);
      console.log(`| case | wall median (min-max) | CPU median (min) |\n|---|---:|---:|`);
      for (const r of rows) {
        console.log(
          `| ${r.label} | ${r.medianMs} (${r.minMs}-${r.maxMs}) | ${r.cpuMedianMs} (${r.cpuMinMs}) |`,
        );
      }
    }
    console.log(`load average before / after: ${before} / ${await loadAverage()}`);
  } finally {
    await pg.stop();
  }
}
