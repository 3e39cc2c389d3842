/**
 * bench/hot_path.ts's result as the shared sections (bench/lib/section.ts): `hot_path` (hit
 * ratios), `miss_path` and `cold_start`, each with issue 11's targets as claims and verdicts.
 *
 * @module
 */
import type { BenchClaim, BenchMetric, BenchSection } from '../lib/section.ts';

interface Summary {
  rpsMedian: number;
  rpsMin: number;
  rpsMax: number;
  ratioToBare: number;
  non2xx: number;
  cpuUsPerRequestMedian?: number;
}

/** Target 1c: the dev server's run over the app's run next to it, per round. */
interface Paired {
  rounds: number[];
  median: number;
  cpuMedian?: number;
}

interface Cold {
  medianMs: number;
  minMs: number;
  maxMs: number;
  cpuMedianMs?: number;
}

// deno-lint-ignore no-explicit-any
type Result = Record<string, any>;

const COMMAND = 'DENO_NO_PACKAGE_JSON=1 ./node_modules/.bin/deno run -A bench/hot_path.ts';

const verdict = (ok: boolean): BenchClaim['verdict'] => ok ? 'met' : 'missed';

function rpsMetric(variant: string, s: Summary): BenchMetric {
  return { name: 'rps', variant, median: s.rpsMedian, min: s.rpsMin, max: s.rpsMax, unit: 'rps' };
}

function hitSection(result: Result): BenchSection | undefined {
  const t = result.throughput;
  if (!t) return undefined;
  const s = t.summary as Record<string, Summary>;
  const names: Record<string, string> = {
    bare: 'bare Hono',
    robots_anon: 'robots app, no auth',
    robots_jwt: 'robots app, user JWT',
    gateway_anon: 'dev gateway, no auth',
    gateway_jwt: 'dev gateway, user JWT',
  };
  const metrics: BenchMetric[] = Object.entries(names).filter(([k]) => s[k]).map(([k, v]) =>
    rpsMetric(v, s[k])
  );
  for (const [k, v] of Object.entries(names)) {
    if (k !== 'bare' && s[k]) {
      metrics.push({ name: 'ratio to bare', variant: v, median: s[k].ratioToBare, unit: 'x' });
    }
  }
  for (const [k, v] of Object.entries(names)) {
    const cpu = s[k]?.cpuUsPerRequestMedian;
    if (cpu !== undefined) {
      metrics.push({ name: 'server CPU per request', variant: v, median: cpu, unit: 'us' });
    }
  }
  const cpuRatio = (t.cpuRatioToBare ?? {}) as Record<string, number>;
  for (const [k, v] of Object.entries(names)) {
    if (cpuRatio[k] !== undefined) {
      metrics.push({ name: 'CPU ratio to bare', variant: v, median: cpuRatio[k], unit: 'x' });
    }
  }
  const g = t.gatewayToApp as { anon: number; jwt: number };
  metrics.push({
    name: 'gateway / app, ratio of medians',
    variant: 'no auth',
    median: g.anon,
    unit: 'x',
  });
  metrics.push({
    name: 'gateway / app, ratio of medians',
    variant: 'user JWT',
    median: g.jwt,
    unit: 'x',
  });
  // Runs before the paired figure existed have none: their verdict stays the ratio of medians.
  const paired = t.gatewayToAppPaired as Record<'anon' | 'jwt', Paired> | undefined;
  const dev = paired ? { anon: paired.anon.median, jwt: paired.jwt.median } : g;
  for (const [k, v] of [['anon', 'no auth'], ['jwt', 'user JWT']] as const) {
    const p = paired?.[k];
    if (!p) continue;
    metrics.push({
      name: 'gateway / app, adjacent pairs',
      variant: v,
      median: p.median,
      min: Math.min(...p.rounds),
      max: Math.max(...p.rounds),
      unit: 'x',
    });
    if (p.cpuMedian !== undefined) {
      metrics.push({
        name: 'gateway / app, CPU of pairs',
        variant: v,
        median: p.cpuMedian,
        unit: 'x',
      });
    }
  }
  const jwt = s.robots_jwt.ratioToBare;
  const anon = s.robots_anon.ratioToBare;
  return {
    id: 'hot_path',
    title: 'Hot path: memory-tier hit versus bare Hono',
    command: `${COMMAND} --no-miss --no-cold`,
    compared:
      `GET /robots/public?limit=5 served from the memory tier (${t.bodyBytes} bytes, same body ` +
      `as bare Hono: ${t.sameBody}); servers pinned to core 0, wrk -c${t.connections} to core 1; ` +
      `${t.rounds} rounds of ${t.secondsPerRun} s, each alternating bare Hono and the case`,
    rounds: t.rounds,
    metrics,
    claims: [
      {
        claim: 'hit with a user JWT >= 0.5x bare Hono',
        measured: `${jwt}x`,
        verdict: verdict(jwt >= 0.5),
      },
      {
        claim: 'hit without a JWT >= 0.7x bare Hono',
        measured: `${anon}x`,
        verdict: verdict(anon >= 0.7),
      },
      {
        claim: 'through the dev server >= 0.9x the app alone',
        measured: paired
          ? `${dev.anon}x (no auth), ${dev.jwt}x (JWT): medians of ${paired.anon.rounds.length} ` +
            'adjacent app/dev-server pairs'
          : `${g.anon}x (no auth), ${g.jwt}x (JWT)`,
        verdict: verdict(Math.min(dev.anon, dev.jwt) >= 0.9),
      },
    ],
    notes: [
      `load average (1, 5, 15 min) during the run: ${(result.loadAverages ?? []).join(' -> ')}`,
      'the machine is shared: bare Hono, the fastest server, varies most; read ratios as +-30%',
      "CPU ratio to bare = bare Hono's server CPU per request / the case's (/proc/<pid>/stat, " +
      '10 ms ticks): the throughput ratio each would reach on a core of its own, steadier than ' +
      'requests per second on a shared machine; the verdicts use requests per second',
    ],
  };
}

function missSection(result: Result): BenchSection | undefined {
  const m = result.missPath;
  if (!m) return undefined;
  const bare = m.summary.bare_repository as Summary;
  const app = m.summary.robots_app as Summary;
  return {
    id: 'miss_path',
    title: 'Miss path: robots app (caching off) versus bare Hono + repository',
    command: `${COMMAND} --no-hit --no-cold --rows=${m.rows}`,
    compared: `GET /robots/:id of ${m.distinctIds} random public robots among ${m.rows} on ` +
      `PostgreSQL 15, caching off (x-cache: ${m.xCache}); bare Hono calls the same ` +
      `RobotsRepository.getById as an anonymous caller; ${m.rounds} rounds of ${m.secondsPerRun} s`,
    rounds: m.rounds,
    metrics: [
      rpsMetric('bare Hono + repository', bare),
      rpsMetric('robots app', app),
      { name: 'ratio to bare', variant: 'robots app', median: app.ratioToBare, unit: 'x' },
      ...(m.pairRatioMedian === undefined ? [] : [{
        name: 'median of per-round ratios',
        variant: 'robots app',
        median: m.pairRatioMedian as number,
        unit: 'x',
      }]),
      ...(['bare', 'app'] as const).filter((k) => m.perRequest?.[k]?.cpuUsPerRequest).map((k) => ({
        name: 'server CPU per request',
        variant: k === 'bare' ? 'bare Hono + repository' : 'robots app',
        median: m.perRequest[k].cpuUsPerRequest as number,
        unit: 'us',
      })),
      { name: 'non-2xx (429)', variant: 'robots app', median: app.non2xx, unit: 'count' },
    ],
    claims: [
      {
        claim: 'miss path >= 0.85x bare Hono calling the same repository',
        measured: `${app.ratioToBare}x`,
        verdict: verdict(app.ratioToBare >= 0.85),
      },
      {
        claim: 'no 429 while Postgres is healthy',
        measured: `${app.non2xx} non-2xx answers`,
        verdict: verdict(app.non2xx === 0),
      },
    ],
  };
}

function coldSection(result: Result): BenchSection | undefined {
  const c = result.coldStart;
  if (!c) return undefined;
  const s = c.summary as Record<string, Cold>;
  const metrics: BenchMetric[] = Object.entries(s).map(([name, v]) => ({
    name: 'spawn to first 200',
    variant: name === 'bare' ? 'bare Hono' : name,
    median: v.medianMs,
    min: v.minMs,
    max: v.maxMs,
    unit: 'ms',
  }));
  for (const [name, v] of Object.entries(s)) {
    if (v.cpuMedianMs !== undefined) {
      metrics.push({
        name: 'CPU to first 200',
        variant: name === 'bare' ? 'bare Hono' : name,
        median: v.cpuMedianMs,
        unit: 'ms',
      });
    }
  }
  const functions = Object.entries(s).filter(([name]) => name !== 'bare');
  const worst = functions.reduce((a, b) => (b[1].medianMs > a[1].medianMs ? b : a));
  const claims: BenchClaim[] = [{
    claim: 'cold start to first answer with SUPABASE_DB_URL <= 60 ms for every function',
    measured: functions.map(([n, v]) => `${n} ${v.medianMs} ms`).join(', ') +
      ` (bare Hono ${s.bare?.medianMs} ms)`,
    verdict: verdict(worst[1].medianMs <= 60),
  }];
  const dev = result.devServer;
  if (dev) {
    metrics.push({
      name: 'dev server first health answer',
      variant: 'embedded defaults',
      median: dev.firstAnswerMedianMs,
      unit: 'ms',
    });
    metrics.push({
      name: 'dev server first health 200',
      variant: 'embedded defaults',
      median: dev.firstOkMedianMs,
      unit: 'ms',
    });
    claims.push({
      claim: 'dev server on embedded defaults: first health answer <= 1 s',
      measured: `first answer ${dev.firstAnswerMedianMs} ms (status ${
        dev.firstAnswerStatuses.join('/')
      }: database starting), first 200 ${dev.firstOkMedianMs} ms`,
      verdict: verdict(dev.firstAnswerMedianMs <= 1000),
    });
  }
  return {
    id: 'cold_start',
    title: 'Cold start: spawn to first answer',
    command: `${COMMAND} --no-hit --no-miss`,
    compared: `each function's index.ts with its deno.json and SUPABASE_DB_URL (PostgreSQL 15), ` +
      `${c.runs} runs each, alternated with bare Hono served the same way; paths: ${
        Object.entries(c.paths).map(([n, p]) => `${n} ${p}`).join(', ')
      }`,
    rounds: c.runs,
    metrics,
    claims,
  };
}

/**
 * The sections of one bench/hot_path.ts result (parts that did not run are left out).
 *
 * @example
 * ```ts
 * await writeSections('out.json', hotPathSections(result));
 * ```
 */
export function hotPathSections(result: Result): BenchSection[] {
  return [hitSection(result), missSection(result), coldSection(result)].filter(
    (s): s is BenchSection => s !== undefined,
  );
}
