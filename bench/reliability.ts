/**
 * Reliability under faults, coordination on vs off (issue 15): the same fault script (Redis
 * paused, Redis killed and restarted, PostgreSQL stopped and restarted, a failing origin) under
 * the same open-loop read load on the robots app, with the optimizer's coordination on (its
 * defaults: circuit breaker, intelligent retries, stale-if-error, adaptive throttling) and off
 * (the same optimizer and cache with those switched off: `enableIntelligentRetries: false`,
 * `enableAdaptiveThrottling: false`, `staleIfErrorMs: 0`, breaker thresholds out of reach, as the
 * breaker has no switch). Measured: the share of requests answered successfully (HTTP 200 within
 * 5 s).
 *
 * It starts its OWN redis-server + bridge and PostgreSQL 15 (tests/support/own_services.ts),
 * never the runner's shared ones: it pauses, kills and restarts them.
 *
 * Run: `DENO_NO_PACKAGE_JSON=1 ./node_modules/.bin/deno run -A bench/reliability.ts [--quick]
 * [--json=<path>]` (budget: 3 min full, 30 s quick).
 *
 * @module
 */
import postgres from 'postgres';
import { createPostgresDatabase } from '../shared/db/postgres.ts';
import type { Database } from '../shared/db/types.ts';
import {
  AdvancedBackendOptimizer,
  Metrics,
  parseOptimizationConfig,
} from '../shared/optimizer/mod.ts';
import { settleBackground } from '../shared/runtime/background.ts';
import { UpstashStore } from '../shared/store/upstash.ts';
import { createRobotsApp } from '../supabase/functions/robots/app.ts';
import { generateRobots } from '../scripts/generate-robots.ts';
import { startOwnPostgres, startOwnRedis } from '../tests/support/own_services.ts';
import { mulberry32, zipfSampler } from './workload.ts';
import {
  benchArgs,
  type BenchClaim,
  type BenchMetric,
  type BenchSection,
  spread,
  writeSections,
} from './lib/section.ts';
import { isQuick } from './lib/bench_services.ts';
import { withFlakyOrigin } from './lib/flaky_db.ts';

const { json } = benchArgs();
const QUICK = isQuick();
const ROUNDS = QUICK ? 1 : 2;
/** Length unit of the fault script's phases, ms. */
const UNIT_MS = Number(
  Deno.args.find((a) => a.startsWith('--unit='))?.slice('--unit='.length) ??
    (QUICK ? 800 : 4_000),
);
const RATE = 50; // reads per second, open loop
const ANSWER_WITHIN_MS = 5_000;
const FLAKY_FAILURE_RATIO = 0.3;
/**
 * TTL, stale-while-revalidate and stale-if-error at the production defaults' ratios (5 min,
 * 1 min, 5 min), scaled to a run of seconds: with the default 60 s stale-while-revalidate, every
 * entry of a 40 s run stays servable as SWR and stale-if-error never gets a turn.
 */
const TTL_MS = 4_000;
const SWR_MS = 800;
const STALE_IF_ERROR_MS = 4_000;
const started = performance.now();

const redis = await startOwnRedis();
const pg = await startOwnPostgres();
const cleanup = async () => {
  await redis.stop().catch(() => {});
  await pg.stop().catch(() => {});
};
Deno.addSignalListener('SIGINT', () => cleanup().finally(() => Deno.exit(130)));

type Config = 'on' | 'off';
interface Sample {
  phase: string;
  ok: boolean;
  status: number | 'timeout' | 'thrown';
  /** The answer's `x-cache` (200) or error `code` (4xx/5xx). */
  detail?: string;
}
const samples: Record<Config, Sample[][]> = { on: [], off: [] };
let ids: string[] = [];
let types: string[] = [];

try {
  await pg.ready;
  await generateRobots(pg.url, 5_000, 50);
  const sql = postgres(pg.url, { max: 1, onnotice: () => {} });
  ids = (await sql<{ id: string }[]>`
    select id from public.robots where is_public order by id limit 500`).map((r) => r.id);
  types = (await sql<{ t: string }[]>`
    select distinct strategy_type as t from public.robots order by 1`).map((r) => r.t);
  await sql.end({ timeout: 5 });

  for (let round = 0; round < ROUNDS; round++) {
    const order: Config[] = round % 2 === 0 ? ['on', 'off'] : ['off', 'on'];
    for (const config of order) {
      samples[config].push(await runScript(config, `${round}${config}`));
      console.error(`round ${round + 1}/${ROUNDS}: coordination ${config} done`);
    }
  }
} finally {
  await cleanup();
}

/** `hit`, `miss`, `stale (stale-if-error)`, ... from an `x-cache` header. */
function cacheOutcome(header: string): string {
  const [status] = header.split(';');
  const reason = /reason=([\w-]+)/.exec(header)?.[1];
  return status === 'stale' && reason ? `stale (${reason})` : status;
}

function errorCode(body: string): string {
  try {
    return String((JSON.parse(body) as { error?: { code?: unknown } }).error?.code ?? 'no code');
  } catch {
    return 'not json';
  }
}

/** The optimizer of one configuration, on a fresh namespace. */
function optimizerFor(config: Config, ns: string): AdvancedBackendOptimizer {
  const store = new UpstashStore({ url: redis.url, token: redis.token, timeoutMs: 250 });
  const common = {
    keyPrefix: `qfbench:rel:${ns}:cache:`,
    storeTimeoutMs: 150,
    staleWhileRevalidateMs: SWR_MS,
  };
  const breakerKeyPrefix = `qfbench:rel:${ns}:breaker:`;
  return new AdvancedBackendOptimizer({
    store,
    metrics: new Metrics(),
    metricsFlushIntervalMs: 0,
    config: parseOptimizationConfig(
      config === 'on'
        ? {
          predictiveCacheTTL: TTL_MS,
          cache: { ...common, staleIfErrorMs: STALE_IF_ERROR_MS },
          resilience: { breakerKeyPrefix },
        }
        : {
          predictiveCacheTTL: TTL_MS,
          enableIntelligentRetries: false,
          enableAdaptiveThrottling: false,
          cache: { ...common, staleIfErrorMs: 0 },
          resilience: {
            breakerKeyPrefix,
            breakerConsecutiveFailures: 1_000_000,
            breakerMinimumCalls: 1_000_000,
          },
        },
    ),
  });
}

/** Runs the fault script once under load; returns every request's outcome. */
async function runScript(config: Config, ns: string): Promise<Sample[]> {
  const flaky = { failureRatio: 0 };
  let db: Database = createPostgresDatabase(pg.url, { maxConnections: 4 });
  db = withFlakyOrigin(db, flaky);
  const optimizer = optimizerFor(config, ns);
  const app = createRobotsApp({
    db: () => Promise.resolve(db),
    optimizer,
    rateLimit: { enabled: false },
  });
  const out: Sample[] = [];
  let phase = 'warm';
  const random = mulberry32(7);
  const detail = zipfSampler(ids.length, 1, random);
  const listing = zipfSampler(types.length + 1, 1, random);
  const pathOf = () => {
    if (random() < 0.7) return `/robots/${ids[detail()]}`;
    const t = listing();
    return t === 0
      ? '/robots/public?limit=20'
      : `/robots/public?strategy_type=${types[t - 1]}&limit=20`;
  };
  const inFlight = new Set<Promise<void>>();
  const timer = setInterval(() => {
    const path = pathOf();
    const at = phase;
    const p = (async () => {
      let timeout: ReturnType<typeof setTimeout> | undefined;
      let detail: string | undefined;
      const outcome = await Promise.race([
        (async () => {
          try {
            const response = await app.request(path);
            const text = await response.text();
            detail = response.status === 200
              ? cacheOutcome(response.headers.get('x-cache') ?? '')
              : errorCode(text);
            return response.status;
          } catch {
            return 'thrown' as const;
          }
        })(),
        new Promise<'timeout'>((resolve) => {
          timeout = setTimeout(() => resolve('timeout'), ANSWER_WITHIN_MS);
        }),
      ]);
      clearTimeout(timeout);
      out.push({ phase: at, ok: outcome === 200, status: outcome, detail });
    })();
    inFlight.add(p);
    p.finally(() => inFlight.delete(p));
  }, 1000 / RATE);

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const enter = (name: string) => (phase = name);
  try {
    await sleep(UNIT_MS);
    // Postgres first: each fault meets a warm cache and a recovered system (a Postgres outage
    // right after Redis restarted empty is a compound fault; see the notes).
    enter('postgres down');
    await pg.stopFast();
    await sleep(UNIT_MS);
    await pg.start();
    enter('after postgres restart');
    await sleep(UNIT_MS / 2);
    enter('failing origin');
    flaky.failureRatio = FLAKY_FAILURE_RATIO;
    await sleep(UNIT_MS * 1.5);
    flaky.failureRatio = 0;
    enter('after failing origin');
    await sleep(UNIT_MS / 2);
    enter('redis paused');
    redis.pause();
    await sleep(UNIT_MS);
    redis.resume();
    enter('after redis pause');
    await sleep(UNIT_MS / 2);
    enter('redis killed');
    await redis.kill();
    await sleep(UNIT_MS);
    await redis.restartRedis();
    enter('recovered');
    await sleep(UNIT_MS / 2);
  } finally {
    clearInterval(timer);
    redis.resume();
    await pg.start().catch(() => {});
    await Promise.all([...inFlight]);
    await settleBackground();
    await optimizer.close();
    await db.close();
  }
  return out;
}

// ---- figures ----------------------------------------------------------------------------------
const PHASES = [
  'warm',
  'postgres down',
  'after postgres restart',
  'failing origin',
  'after failing origin',
  'redis paused',
  'after redis pause',
  'redis killed',
  'recovered',
];
const share = (list: Sample[]) =>
  list.length ? (100 * list.filter((s) => s.ok).length) / list.length : NaN;
const metrics: BenchMetric[] = [];
const label = (c: Config) => c === 'on' ? 'coordination on' : 'coordination off';
for (const config of ['on', 'off'] as Config[]) {
  metrics.push({
    name: 'answered successfully',
    variant: label(config),
    unit: '%',
    ...spread(samples[config].map(share)),
  });
  for (const phase of PHASES) {
    metrics.push({
      name: `answered successfully: ${phase}`,
      variant: label(config),
      unit: '%',
      ...spread(samples[config].map((run) => share(run.filter((s) => s.phase === phase)))),
    });
  }
  metrics.push({
    name: 'requests',
    variant: label(config),
    unit: 'count',
    ...spread(samples[config].map((run) => run.length)),
  });
}
const overall = (c: Config) =>
  metrics.find((m) => m.name === 'answered successfully' && m.variant === label(c))!.median;
// Paired: round i ran on and off back to back, so each round gives one ratio.
const gainBy = spread(
  samples.on.map((run, i) => (share(run) / share(samples.off[i]) - 1) * 100),
);
const gain = gainBy.median;
const failuresCut = (1 - (100 - overall('on')) / (100 - overall('off'))) * 100;
metrics.push({
  name: 'success share, relative gain (paired)',
  variant: 'coordination on',
  unit: '%',
  ...gainBy,
});
const verdict: BenchClaim['verdict'] = gain > 15 ? 'beaten' : gain >= 10 ? 'met' : 'missed';
const statuses = (c: Config) => {
  const counts: Record<string, number> = {};
  for (const s of samples[c].flat()) {
    if (!s.ok) counts[String(s.status)] = (counts[String(s.status)] ?? 0) + 1;
  }
  return Object.entries(counts).map(([k, v]) => `${k}: ${v}`).join(', ') || 'none';
};
/** Answers by phase and outcome (`200 hit`, `503 db_unavailable`, ...), over every round. */
const breakdown = (c: Config) =>
  PHASES.filter((phase) => !['warm', 'recovered'].includes(phase)).map((phase) => {
    const counts: Record<string, number> = {};
    for (const s of samples[c].flat().filter((s) => s.phase === phase)) {
      const k = `${s.status} ${s.detail ?? ''}`.trim();
      counts[k] = (counts[k] ?? 0) + 1;
    }
    return `${phase}: ${
      Object.entries(counts).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} x${v}`).join(', ')
    }`;
  }).join('; ');
const elapsedS = (performance.now() - started) / 1000;

const section: BenchSection = {
  id: 'reliability',
  title: "Reliability under faults: the optimizer's coordination on vs off",
  command: `DENO_NO_PACKAGE_JSON=1 ./node_modules/.bin/deno run -A bench/reliability.ts${
    QUICK ? ' --quick' : ''
  }`,
  compared:
    `The robots app (app.request) on its own redis-server + bridge and PostgreSQL 15 (5,000 ` +
    `generated robots), ${RATE} reads/s open loop (70 % GET /robots/:id, Zipf over 500 public ids; ` +
    '30 % public listings), base TTL ' +
    `${TTL_MS} ms; the fault script (phase unit ${UNIT_MS} ms): ` +
    'warm 1, PostgreSQL fast shutdown 1 then started, 0.5, failing origin 1.5 (' +
    `${FLAKY_FAILURE_RATIO * 100} % of database calls fail as PostgreSQL does when it is out of ` +
    'connections: DbUnavailableError overloaded, transient), 0.5, Redis paused (SIGSTOP) 1, 0.5, ' +
    `Redis killed (SIGKILL) 1 then restarted empty, recovered 0.5. Success: HTTP 200 within ${
      ANSWER_WITHIN_MS / 1000
    } s. Coordination on: ` +
    `the defaults (breaker, intelligent retries, stale-if-error ${STALE_IF_ERROR_MS} ms, adaptive ` +
    `throttle; stale-while-revalidate ${SWR_MS} ms in both); off: ` +
    'enableIntelligentRetries false, enableAdaptiveThrottling false, staleIfErrorMs 0, breaker ' +
    `thresholds out of reach. ${ROUNDS} rounds, order alternating.`,
  rounds: ROUNDS,
  metrics,
  claims: [{
    claim: '10-15% better reliability through cross-system coordination',
    measured: `${overall('off').toFixed(1)} % -> ${overall('on').toFixed(1)} % answered ` +
      `successfully (${gain.toFixed(1)} % relative; ${
        failuresCut.toFixed(0)
      } % fewer failed requests)`,
    verdict,
  }],
  notes: [
    `Failed answers, coordination on: ${statuses('on')}; off: ${statuses('off')}.`,
    `Answers by phase, coordination on: ${breakdown('on')}.`,
    `Answers by phase, coordination off: ${breakdown('off')}.`,
    'The cache (memory and Redis tiers, stale-while-revalidate) is on in both configurations; ' +
    'what differs is only the coordination.',
    'The relative gain depends on how much of the run is under faults (here about half of it); ' +
    'the share of failed requests that coordination saves is the steadier figure.',
    `Wall time of this section: ${elapsedS.toFixed(0)} s.`,
  ],
};
for (const m of metrics) {
  if (m.unit === '%') console.log(`${m.name} [${m.variant}]: ${m.median.toFixed(1)} %`);
}
console.log(`${section.claims![0].claim}: ${section.claims![0].measured} -> ${verdict}`);
console.log(section.notes!.join('\n'));
await writeSections(json, section);
