/**
 * `npm run bench`: every benchmark end to end, on loopback, bounded in time.
 *
 * 1. starts a redis-server with the Upstash REST bridge, and PostgreSQL 15 with the migrations
 *    and generated robots (1,000,000; 50,000 with `--quick`), unless the env already names them;
 * 2. runs each benchmark script as a child process
 *    (`deno run -A bench/<x>.ts [--quick] --json=<tmp>`) with the env contract of
 *    bench/lib/services.ts, and the `deno bench` files (`deno bench -A --json bench/<x>_bench.ts`)
 *    as `micro_<x>` sections (full runs only); a script that fails is recorded as failed with its
 *    stderr tail and the run goes on; a script that does not write `--json` yet is recorded as "not yet";
 * 3. writes `bench/results/<YYYY-MM-DD>.json` (`-quick` suffix in quick mode) with the machine
 *    and the load average before and after each script;
 * 4. rewrites BENCHMARKS.md and bench/charts/*.svg (bench/report.ts).
 *
 * Exits non-zero when a script failed.
 *
 * ```sh
 * npm run bench                      # full: under 20 minutes
 * npm run bench -- --quick           # under 3 minutes of measuring (plus service start)
 * npm run bench -- --only=warming,stampede   # bench/results/<date>-only.json, report untouched
 * ```
 *
 * @module
 */
import type { BenchSection } from './lib/section.ts';
import { loadAverage, machineInfo } from './lib/machine.ts';
import type { BenchRun, ScriptRun } from './lib/results.ts';
import {
  type BenchDatabase,
  benchDatabase,
  benchEnv,
  benchRedis,
  FULL_ROBOTS,
  QUICK_ROBOTS,
} from './lib/services.ts';
import { denoFmt, writeReport } from './report.ts';
import { readSections, runChild, tailLines } from './lib/child.ts';
import { microSection } from './lib/micro.ts';
export { microSection } from './lib/micro.ts';

const ROOT = new URL('../', import.meta.url).pathname;

/** One benchmark script the runner knows. */
export interface ScriptSpec {
  script: string;
  owner: string;
  /** Section ids it writes. */
  sections: string[];
  /** Needs the shared PostgreSQL with robots. */
  needsDb: boolean;
  /** Budget in seconds: [full, quick]. */
  budget: [number, number];
}

/** Every benchmark script of `npm run bench`, in the order they run. */
export const SCRIPTS: ScriptSpec[] = [
  {
    script: 'bench/optimizer_store_commands.ts',
    owner: 'store',
    sections: ['store_requests'],
    needsDb: false,
    budget: [30, 15],
  },
  {
    script: 'bench/cache_stampede.ts',
    owner: 'bench',
    sections: ['stampede'],
    needsDb: false,
    budget: [30, 10],
  },
  {
    script: 'bench/warming.ts',
    owner: 'bench',
    sections: ['warming'],
    needsDb: true,
    budget: [120, 20],
  },
  {
    script: 'bench/cache_strategies.ts',
    owner: 'benchmodels',
    sections: ['cache_strategies'],
    needsDb: false,
    budget: [120, 25],
  },
  {
    script: 'bench/resilience_overhead.ts',
    owner: 'benchmodels',
    sections: ['resilience_overhead'],
    needsDb: false,
    budget: [30, 15],
  },
  {
    script: 'bench/optimizer_vs_none.ts',
    owner: 'bench',
    sections: ['optimizer_vs_none'],
    needsDb: true,
    budget: [120, 20],
  },
  {
    script: 'bench/db_indexes.ts',
    owner: 'bench',
    sections: ['db_indexes'],
    needsDb: true,
    budget: [120, 15],
  },
  {
    script: 'bench/predictive_optimization.ts',
    owner: 'benchmodels',
    sections: ['predictive_optimization'],
    needsDb: true,
    budget: [120, 20],
  },
  {
    script: 'bench/hot_path.ts',
    owner: 'hotpath',
    sections: ['hot_path', 'miss_path', 'cold_start'],
    needsDb: true,
    budget: [420, 60],
  },
  {
    script: 'bench/reliability.ts',
    owner: 'benchmodels',
    sections: ['reliability'],
    needsDb: false,
    budget: [180, 30],
  },
];

/** `deno bench` files a wrapper script already runs (not run again as `micro_*`). */
const WRAPPED_BENCH_FILES: Record<string, string> = {
  'bench/resilience_bench.ts': 'bench/resilience_overhead.ts',
};

interface Options {
  quick: boolean;
  only?: string[];
  report: boolean;
}

function parseOptions(args: string[]): Options {
  const only = args.find((a) => a.startsWith('--only='))?.slice('--only='.length);
  const known = ['--quick', '--no-report'];
  for (const arg of args) {
    if (!known.includes(arg) && !arg.startsWith('--only=')) {
      console.error(`unknown argument ${arg}: expected --quick, --only=<ids>, --no-report`);
      Deno.exit(2);
    }
  }
  return {
    quick: args.includes('--quick'),
    only: only ? only.split(',').map((s) => s.trim()).filter(Boolean) : undefined,
    report: !args.includes('--no-report'),
  };
}

const log = (line: string) => console.error(`[bench] ${line}`);

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Whether a script writes the shared shape (`--json=<path>`). */
async function writesJson(path: string): Promise<boolean> {
  const text = await Deno.readTextFile(path);
  return text.includes('writeSections') || text.includes('--json');
}

async function benchFiles(only?: string[]): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(`${ROOT}bench`)) {
    if (entry.isFile && entry.name.endsWith('_bench.ts')) files.push(`bench/${entry.name}`);
  }
  const kept: string[] = [];
  for (const file of files.sort()) {
    const wrapper = WRAPPED_BENCH_FILES[file];
    if (wrapper && await exists(`${ROOT}${wrapper}`)) continue;
    const id = `micro_${file.replace(/^.*\//, '').replace(/_bench\.ts$/, '')}`;
    if (only && !only.includes(id) && !only.includes('micro')) continue;
    kept.push(file);
  }
  return kept;
}

/**
 * Runs one section script (`deno run -A <script> [--quick] --json=<tmp>`) within twice its
 * budget + 60 s and returns how it ended with the sections it wrote: "not yet" when the script
 * is missing or writes no `--json`, "failed" (with its stderr tail) when it exits non-zero, times
 * out or writes no valid sections.
 *
 * @example
 * ```ts
 * const { run, sections } = await runScript(SCRIPTS[0], { quick: true, env: {}, tmp: '/tmp' });
 * ```
 */
export async function runScript(
  spec: ScriptSpec,
  context: { quick: boolean; env: Record<string, string>; tmp: string },
): Promise<{ run: ScriptRun; sections: BenchSection[] }> {
  const budgetSeconds = context.quick ? spec.budget[1] : spec.budget[0];
  const limitSeconds = budgetSeconds * 2 + 60;
  const run: ScriptRun = {
    script: spec.script,
    owner: spec.owner,
    expected: spec.sections,
    status: 'ok',
    budgetSeconds,
  };
  const path = spec.script.startsWith('/') ? spec.script : `${ROOT}${spec.script}`;
  if (!await exists(path)) {
    run.status = 'not yet';
    run.reason = `${spec.script} does not exist yet (helper "${spec.owner}")`;
    log(run.reason);
    return { run, sections: [] };
  }
  if (!await writesJson(path)) {
    run.status = 'not yet';
    run.reason = `${spec.script} does not write --json yet (helper "${spec.owner}")`;
    log(run.reason);
    return { run, sections: [] };
  }
  const json = `${context.tmp}/${spec.sections[0]}.json`;
  const args = ['run', '-A', spec.script, ...(context.quick ? ['--quick'] : []), `--json=${json}`];
  run.command = `deno ${args.join(' ').replace(json, '<path>')}`;
  run.loadBefore = await loadAverage();
  log(`${spec.script} (budget ${budgetSeconds} s)`);
  const result = await runChild(args, context.env, limitSeconds, spec.sections[0]);
  run.seconds = round(result.seconds);
  run.exitCode = result.code;
  run.loadAfter = await loadAverage();
  let sections: BenchSection[] = [];
  try {
    if (result.timedOut) throw new Error(`stopped after ${limitSeconds} s`);
    if (result.code !== 0) throw new Error(`exited with code ${result.code}`);
    sections = await readSections(json);
    const missing = spec.sections.filter((id) => !sections.some((s) => s.id === id));
    if (missing.length) log(`${spec.script} wrote no section ${missing.join(', ')}`);
  } catch (error) {
    run.status = 'failed';
    run.reason = String((error as Error).message ?? error);
    run.stderrTail = tailLines(result.stderrTail);
    log(`${spec.script} FAILED: ${run.reason}`);
  }
  log(`${spec.script}: ${run.status} in ${run.seconds} s`);
  return { run, sections };
}

function today(): string {
  return new Date().toISOString().slice(0, 10);
}

async function main(): Promise<number> {
  const options = parseOptions(Deno.args);
  const mode = options.quick ? 'quick' : 'full';
  const startedAt = new Date();
  const t0 = performance.now();
  const selected = SCRIPTS.filter((s) =>
    !options.only || s.sections.some((id) => options.only!.includes(id)) ||
    options.only.includes(s.script)
  );
  // deno bench calibrates its own iterations (about 10 s a file): full runs only.
  const micro = options.quick ? [] : await benchFiles(options.only);
  log(`${mode} run: ${selected.length} scripts, ${micro.length} deno bench files`);

  let t = performance.now();
  const redis = await benchRedis();
  const redisSetupSeconds = (performance.now() - t) / 1000;
  log(
    `redis-server ${redis.version} + bridge at ${redis.restUrl} (${
      redisSetupSeconds.toFixed(1)
    } s)`,
  );
  let db: BenchDatabase | undefined;
  let databaseSetupSeconds = 0;
  const scripts: ScriptRun[] = [];
  const sections: BenchSection[] = [];
  const tmp = await Deno.makeTempDir({ prefix: 'qf-bench-' });
  try {
    if (selected.some((s) => s.needsDb)) {
      t = performance.now();
      const robots = options.quick ? QUICK_ROBOTS : FULL_ROBOTS;
      log(`PostgreSQL 15: migrations and ${robots} robots...`);
      db = await benchDatabase({ robots, log });
      databaseSetupSeconds = (performance.now() - t) / 1000;
      log(
        `PostgreSQL ${db.version} ready with ${db.robots} robots (${
          databaseSetupSeconds.toFixed(1)
        } s)`,
      );
    }
    const env = benchEnv(redis, db, options.quick);
    const machine = await machineInfo({ postgres: db?.version, redis: redis.version });

    for (const file of micro) {
      const command = `deno bench -A --json ${file}`;
      const run: ScriptRun = {
        script: file,
        owner: 'micro',
        expected: [`micro_${file.replace(/^.*\//, '').replace(/_bench\.ts$/, '')}`],
        status: 'ok',
        command,
        budgetSeconds: options.quick ? 15 : 30,
        loadBefore: await loadAverage(),
      };
      log(`${file} (deno bench)`);
      const result = await runChild(['bench', '-A', '--json', file], env, 120, run.expected[0]);
      run.seconds = round(result.seconds);
      run.exitCode = result.code;
      run.loadAfter = await loadAverage();
      try {
        if (result.code !== 0) throw new Error(`deno bench exited ${result.code}`);
        sections.push(microSection(file, command, JSON.parse(result.stdout)));
      } catch (error) {
        run.status = 'failed';
        run.reason = String((error as Error).message ?? error);
        run.stderrTail = tailLines(result.stderrTail);
      }
      scripts.push(run);
    }

    for (const spec of selected) {
      const { run, sections: written } = await runScript(spec, {
        quick: options.quick,
        env,
        tmp,
      });
      scripts.push(run);
      sections.push(...written);
    }

    const finishedAt = new Date();
    const results: BenchRun = {
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      mode,
      command: ['npm run bench', ...(Deno.args.length ? ['--', ...Deno.args] : [])].join(' '),
      machine,
      services: {
        robots: db?.robots ?? 0,
        databaseSetupSeconds: round(databaseSetupSeconds),
        redisSetupSeconds: round(redisSetupSeconds),
      },
      scripts,
      sections,
      durationSeconds: round((performance.now() - t0) / 1000),
    };
    // A partial run (--only) never replaces the day's full results nor the report.
    const suffix = `${options.quick ? '-quick' : ''}${options.only ? '-only' : ''}`;
    const out = `bench/results/${today()}${suffix}.json`;
    await Deno.mkdir(`${ROOT}bench/results`, { recursive: true });
    await Deno.writeTextFile(`${ROOT}${out}`, JSON.stringify(results, null, 2) + '\n');
    await denoFmt(ROOT, [out]);
    log(`results: ${out} (${results.durationSeconds} s in all)`);
    if (options.report && !options.only) {
      const written = await writeReport(results, { root: ROOT, resultsPath: out });
      log(`report: ${written.join(', ')}`);
    }
    const failed = scripts.filter((s) => s.status === 'failed');
    const notYet = scripts.filter((s) => s.status === 'not yet');
    log(
      `${scripts.length - failed.length - notYet.length} ok, ${failed.length} failed, ` +
        `${notYet.length} not yet` +
        (failed.length ? `: ${failed.map((s) => s.script).join(', ')}` : ''),
    );
    return failed.length ? 1 : 0;
  } finally {
    await db?.stop();
    await redis.stop();
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

if (import.meta.main) Deno.exit(await main());
