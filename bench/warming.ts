/**
 * Warming: a function left idle until its worker is gone, then called, with and without the
 * warming schedule: first-request latency after an idle gap, and the cold-start rate (the spec
 * claims "35-45% faster edge functions through optimized warming").
 *
 * There is no edge runtime on this machine (no Docker), so this file contains a **stand-in
 * supervisor** (`StandInSupervisor`, not Supabase's edge runtime): an HTTP front on a loopback
 * port that, like the edge runtime, starts the function's worker on its first request (here a
 * `deno run` process serving the real `robots` app, pinned to core 0, on real PostgreSQL and real
 * Redis through the bridge) and stops it after an idle timeout (the worker lifetime). A request
 * that had to wait for a worker start is a cold start.
 *
 * Modes, on the same seeded request trace (bursts of reads separated by short gaps and by idle
 * gaps longer than the idle timeout), alternated over rounds:
 * - `no warming`: only the trace's requests reach the supervisor;
 * - `warming schedule`: the warmup function's own ping (`BackendOptimizationManager.warm`, which
 *   `POST /warmup` runs: `POST <functions url>/robots/__warmup`) runs every half idle timeout,
 *   as Supabase Cron runs the warmup function.
 *
 * Time is scaled down: the idle timeout is 1.2 s (1 s in --quick) instead of minutes, and the
 * schedule's interval is half of it; the ratio of the intervals is what matters.
 *
 * ```sh
 * DENO_NO_PACKAGE_JSON=1 ./node_modules/.bin/deno run -A bench/warming.ts [--quick] [--json=<path>]
 * ```
 *
 * Over 400 lines on purpose: the stand-in supervisor and the trace that drives it belong to this
 * one benchmark.
 *
 * @module
 */
import {
  benchArgs,
  type BenchMetric,
  type BenchSection,
  spread,
  writeSections,
} from './lib/section.ts';
import { benchDatabase, benchRedis, freePort, robotsFor } from './lib/services.ts';
import { pinned } from './lib/load.ts';
import { mulberry32 } from './workload.ts';

const SELF = 'bench/warming.ts';
const ROOT = new URL('../', import.meta.url).pathname;
const FUNCTION = 'robots';

const log = (line: string) => console.error(`[warming] ${line}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Worker mode (this file re-runs itself as the function's worker)
// ---------------------------------------------------------------------------------------------

async function serveWorker(port: number): Promise<void> {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    Deno.addSignalListener(signal, () => Deno.exit(0));
  }
  const { app } = await import('../supabase/functions/robots/app.ts');
  Deno.serve({ hostname: '127.0.0.1', port, onListen: () => {} }, app.fetch);
}

// ---------------------------------------------------------------------------------------------
// The stand-in supervisor
// ---------------------------------------------------------------------------------------------

/**
 * A STAND-IN for the edge runtime's supervisor (not the edge runtime): starts the function's
 * worker process on the first request, forwards requests to it, stops it after `idleMs` without
 * a request.
 */
class StandInSupervisor {
  readonly port = freePort();
  spawns = 0;
  #server: Deno.HttpServer;
  #worker?: { child: Deno.ChildProcess; port: number; ready: Promise<void> };
  #idleTimer?: ReturnType<typeof setTimeout>;
  #inFlight = 0;

  constructor(private readonly idleMs: number, private readonly env: Record<string, string>) {
    this.#server = Deno.serve(
      { hostname: '127.0.0.1', port: this.port, onListen: () => {} },
      (req) => this.#handle(req),
    );
  }

  async #handle(req: Request): Promise<Response> {
    this.#inFlight++;
    clearTimeout(this.#idleTimer);
    try {
      const cold = !this.#worker;
      const worker = this.#worker ?? this.#start();
      await worker.ready;
      const url = new URL(req.url);
      const res = await fetch(`http://127.0.0.1:${worker.port}${url.pathname}${url.search}`, {
        method: req.method,
        headers: req.headers,
        body: req.body,
      });
      const headers = new Headers(res.headers);
      headers.set('x-stand-in-cold', cold ? '1' : '0');
      return new Response(res.body, { status: res.status, headers });
    } finally {
      this.#inFlight--;
      if (this.#inFlight === 0) {
        this.#idleTimer = setTimeout(() => this.#stopWorker(), this.idleMs);
      }
    }
  }

  #start() {
    this.spawns++;
    const port = freePort();
    const worker = {
      child: undefined as unknown as Deno.ChildProcess,
      port,
      ready: Promise.resolve(),
    };
    worker.ready = (async () => {
      const [cmd, args] = await pinned(0, Deno.execPath(), [
        'run',
        '-A',
        SELF,
        '--worker',
        `--port=${port}`,
      ]);
      const child = new Deno.Command(cmd, {
        args,
        cwd: ROOT,
        env: { ...this.env, DENO_NO_PACKAGE_JSON: '1', NO_COLOR: '1' },
        stdout: 'null',
        stderr: 'inherit',
      }).spawn();
      worker.child = child;
      for (let i = 0; i < 3000; i++) {
        try {
          const conn = await Deno.connect({ hostname: '127.0.0.1', port });
          conn.close();
          return;
        } catch {
          await sleep(5);
        }
      }
      throw new Error(`worker on port ${port} did not listen within 15 s`);
    })();
    this.#worker = worker;
    return worker;
  }

  async #stopWorker(): Promise<void> {
    const worker = this.#worker;
    if (!worker || this.#inFlight > 0) return;
    this.#worker = undefined;
    await worker.ready.catch(() => {});
    try {
      worker.child.kill('SIGTERM');
    } catch { /* gone */ }
    await worker.child.status;
  }

  async close(): Promise<void> {
    clearTimeout(this.#idleTimer);
    await this.#stopWorker();
    await this.#server.shutdown();
  }
}

// ---------------------------------------------------------------------------------------------
// Trace and driver
// ---------------------------------------------------------------------------------------------

interface TraceStep {
  /** Wait before this request, ms. */
  waitMs: number;
  path: string;
  /** The wait before it is longer than the idle timeout. */
  afterIdle: boolean;
}

/** Bursts of 1-5 reads 20-100 ms apart; between bursts a short gap (0.2-0.6 x idle) or an idle one (1.3-2.2 x idle). */
function buildTrace(seed: number, bursts: number, idleMs: number, paths: string[]): TraceStep[] {
  const random = mulberry32(seed);
  const steps: TraceStep[] = [];
  for (let b = 0; b < bursts; b++) {
    const idle = b === 0 || random() < 0.6;
    const gap = idle ? idleMs * (1.3 + 0.9 * random()) : idleMs * (0.2 + 0.4 * random());
    const size = 1 + Math.floor(random() * 5);
    for (let i = 0; i < size; i++) {
      steps.push({
        waitMs: i === 0 ? gap : 20 + 80 * random(),
        path: paths[Math.floor(random() * paths.length)],
        afterIdle: i === 0 && idle,
      });
    }
  }
  return steps;
}

interface Sample {
  ms: number;
  cold: boolean;
  afterIdle: boolean;
  ok: boolean;
}

async function playTrace(
  trace: TraceStep[],
  env: Record<string, string>,
  idleMs: number,
  warming: boolean,
): Promise<{ samples: Sample[]; spawns: number; pings: number }> {
  const supervisor = new StandInSupervisor(idleMs, env);
  let pings = 0;
  let stopSchedule = () => {};
  if (warming) {
    const { AdvancedBackendOptimizer } = await import('../shared/optimizer/advanced.ts');
    const { BackendOptimizationManager } = await import('../shared/optimizer/manager/manager.ts');
    const { MemoryStore } = await import('../shared/store/memory.ts');
    const { Metrics } = await import('../shared/optimizer/metrics.ts');
    const optimizer = new AdvancedBackendOptimizer({
      store: new MemoryStore(),
      metrics: new Metrics(),
      metricsFlushIntervalMs: 0,
    });
    const manager = new BackendOptimizationManager({
      optimizer,
      // The run records go nowhere: the benchmark measures the pings, not the bookkeeping.
      database: () => Promise.reject(new Error('not recorded in the benchmark')),
    });
    let running = true;
    const intervalMs = idleMs / 2;
    const schedule = (async () => {
      while (running) {
        const report = await manager.warm({
          functions: [FUNCTION],
          baseUrl: `http://127.0.0.1:${supervisor.port}`,
          trigger: 'bench',
          timeoutMs: 15_000,
        });
        pings++;
        if (!report.functions?.[0]?.ok && pings === 1) {
          log(`first warm-up ping did not succeed: ${JSON.stringify(report.functions)}`);
        }
        await sleep(intervalMs);
      }
    })();
    stopSchedule = () => {
      running = false;
      return schedule;
    };
    // The schedule runs before the trace begins (cron has been running all along).
    await sleep(intervalMs);
  }
  const samples: Sample[] = [];
  try {
    for (const step of trace) {
      await sleep(step.waitMs);
      const t0 = performance.now();
      const res = await fetch(`http://127.0.0.1:${supervisor.port}${step.path}`);
      await res.arrayBuffer();
      samples.push({
        ms: performance.now() - t0,
        cold: res.headers.get('x-stand-in-cold') === '1',
        afterIdle: step.afterIdle,
        ok: res.ok,
      });
    }
  } finally {
    await stopSchedule();
    await supervisor.close();
  }
  return { samples, spawns: supervisor.spawns, pings };
}

const mean = (xs: number[]) => xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;

async function main(): Promise<void> {
  const { quick, json } = benchArgs();
  const rounds = quick ? 1 : 3;
  const bursts = quick ? 4 : 8;
  const idleMs = quick ? 1000 : 1200;
  const redis = await benchRedis();
  const db = await benchDatabase({ robots: robotsFor(quick), log });
  try {
    const { default: postgres } = await import('postgres');
    const sql = postgres(db.url, { max: 1, prepare: false, onnotice: () => {} });
    const ids = (await sql<{ id: string }[]>`
      select id::text from public.robots where is_public order by md5(id::text) limit 20`)
      .map((r) => r.id);
    await sql.end({ timeout: 5 });
    const paths = [
      '/robots/public?limit=20',
      '/robots/public?limit=10',
      ...ids.map((id) => `/robots/${id}`),
    ];
    const env = {
      SUPABASE_DB_URL: db.url,
      UPSTASH_REDIS_REST_URL: redis.restUrl,
      UPSTASH_REDIS_REST_TOKEN: redis.restToken,
      QF_RATELIMIT_ENABLED: 'false',
      LOCAL_CRON: 'off',
    };
    const byMode = new Map<string, { samples: Sample[]; spawns: number; pings: number }[]>([
      ['no warming', []],
      ['warming schedule', []],
    ]);
    for (let round = 0; round < rounds; round++) {
      const trace = buildTrace(1000 + round, bursts, idleMs, paths);
      const order = round % 2 ? [true, false] : [false, true];
      for (const warming of order) {
        const mode = warming ? 'warming schedule' : 'no warming';
        const result = await playTrace(trace, env, idleMs, warming);
        byMode.get(mode)!.push(result);
        const first = result.samples.filter((s) => s.afterIdle).map((s) => s.ms);
        log(
          `round ${round + 1} ${mode}: ${result.samples.length} requests, ` +
            `${result.samples.filter((s) => s.cold).length} cold, first after idle mean ` +
            `${mean(first).toFixed(1)} ms, worker starts ${result.spawns}, pings ${result.pings}`,
        );
      }
    }

    const metrics: BenchMetric[] = [];
    type Round = { samples: Sample[]; spawns: number; pings: number };
    const perRound = (mode: string, pick: (r: Round) => number) =>
      spread(byMode.get(mode)!.map(pick));
    const stats: Record<string, { first: number; all: number; cold: number }> = {};
    for (const mode of byMode.keys()) {
      const first = perRound(
        mode,
        (r) => mean(r.samples.filter((s) => s.afterIdle).map((s) => s.ms)),
      );
      const all = perRound(mode, (r) => mean(r.samples.map((s) => s.ms)));
      const cold = perRound(
        mode,
        (r) => 100 * r.samples.filter((s) => s.cold).length / r.samples.length,
      );
      const coldAfterIdle = perRound(
        mode,
        (r) => {
          const after = r.samples.filter((s) => s.afterIdle);
          return 100 * after.filter((s) => s.cold).length / after.length;
        },
      );
      const allFirst = byMode.get(mode)!.flatMap((r) =>
        r.samples.filter((s) => s.afterIdle).map((s) => s.ms)
      ).sort((a, b) => a - b);
      stats[mode] = { first: first.median, all: all.median, cold: cold.median };
      metrics.push({ name: 'first request after idle, mean', variant: mode, ...first, unit: 'ms' });
      metrics.push({
        name: 'first request after idle, p95 (all rounds)',
        variant: mode,
        median: allFirst[Math.min(allFirst.length - 1, Math.ceil(0.95 * allFirst.length) - 1)],
        unit: 'ms',
      });
      metrics.push({ name: 'every request, mean', variant: mode, ...all, unit: 'ms' });
      metrics.push({ name: 'cold-start rate, every request', variant: mode, ...cold, unit: '%' });
      metrics.push({
        name: 'cold-start rate after idle',
        variant: mode,
        ...coldAfterIdle,
        unit: '%',
      });
      metrics.push({
        name: 'worker starts per round',
        variant: mode,
        ...perRound(mode, (r) => r.spawns),
        unit: 'count',
      });
      metrics.push({
        name: 'warm-up pings per round',
        variant: mode,
        ...perRound(mode, (r) => r.pings),
        unit: 'count',
      });
      const failed = byMode.get(mode)!.reduce(
        (a, r) => a + r.samples.filter((s) => !s.ok).length,
        0,
      );
      if (failed) {
        metrics.push({ name: 'non-2xx answers', variant: mode, median: failed, unit: 'count' });
      }
    }
    const faster = 100 * (1 - stats['warming schedule'].first / stats['no warming'].first);
    const fasterAll = 100 * (1 - stats['warming schedule'].all / stats['no warming'].all);
    metrics.push({
      name: 'first request after idle, faster with warming',
      variant: 'warming schedule vs no warming',
      median: faster,
      unit: '%',
    });
    const verdict = faster >= 45 ? 'beaten' : faster >= 35 ? 'met' : 'missed';
    const section: BenchSection = {
      id: 'warming',
      title: 'Warming: first request after an idle gap, with and without the warming schedule',
      command: `DENO_NO_PACKAGE_JSON=1 ./node_modules/.bin/deno run -A ${SELF}${
        quick ? ' --quick' : ''
      }`,
      compared:
        `The robots function behind a stand-in supervisor (NOT Supabase's edge runtime: a small ` +
        `supervisor in this script that starts the function's worker process on the first request ` +
        `and stops it after ${idleMs} ms idle), on PostgreSQL 15 with ${
          db.robots.toLocaleString('en-US')
        } ` +
        `robots and Redis through the bridge. The same seeded trace (${bursts} bursts of 1-5 reads; ` +
        `about 60% of the gaps longer than the idle timeout) with no warming vs with the warmup ` +
        `function's ping (BackendOptimizationManager.warm, as POST /warmup runs it) every ` +
        `${
          idleMs / 2
        } ms. Time is scaled down from minutes to seconds; modes alternated each round.`,
      rounds,
      metrics,
      claims: [
        {
          claim: '35-45% faster edge functions through optimized warming',
          measured: `first request after an idle gap ${faster.toFixed(0)}% faster (` +
            `${stats['no warming'].first.toFixed(0)} ms -> ${
              stats['warming schedule'].first.toFixed(0)
            } ms); ` +
            `every request ${fasterAll.toFixed(0)}% faster on this trace; cold-start rate ` +
            `${stats['no warming'].cold.toFixed(0)}% -> ${
              stats['warming schedule'].cold.toFixed(0)
            }%`,
          verdict,
        },
      ],
      notes: [
        "A cold start here is a process start (Deno boot, the function's module graph, the first " +
        'database connection), longer than an isolate start in the edge runtime; the gain is as ' +
        'large as the cold start is, so read the ratio with that in mind.',
        'The gain on every request depends on the trace: how many requests follow an idle gap.',
        'The price of warming: the worker stays up the whole time, and the schedule sends a ping ' +
        'every half idle timeout (pings per round above).',
        'The schedule is fixed here; in production the warming run adapts its interval (1-15 min) ' +
        'to the cold starts it sees (docs/operations.md).',
      ],
    };
    await writeSections(json, section);
    if (!json) console.log(JSON.stringify(section, null, 2));
  } finally {
    await db.stop();
    await redis.stop();
  }
}

if (Deno.args.includes('--worker')) {
  const port = Number(Deno.args.find((a) => a.startsWith('--port='))?.slice('--port='.length));
  await serveWorker(port);
} else if (import.meta.main) {
  await main();
}
