/**
 * Resilience overhead per call, ours vs cockatiel (issue 15): runs the `compose:` benches of
 * bench/resilience_bench.ts with `deno bench --json` a few times and writes the
 * `resilience_overhead` section (per-call time of each side, ratio ours / cockatiel per path).
 *
 * Run: `DENO_NO_PACKAGE_JSON=1 ./node_modules/.bin/deno run -A bench/resilience_overhead.ts
 * [--quick] [--json=<path>]` (budget: 30 s full, 15 s quick).
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
import { type DenoBenchRow, parseDenoBenchJson } from './lib/deno_bench_json.ts';

const { quick, json } = benchArgs();
const QUICK = quick || Deno.env.get('QF_BENCH_QUICK') === '1';
const ROUNDS = QUICK ? 2 : 3;
const deno = Deno.execPath();
const file = new URL('./resilience_bench.ts', import.meta.url).pathname;

const PATHS: { group: string; label: string }[] = [
  { group: 'compose-success', label: 'success' },
  { group: 'compose-permanent', label: 'permanent error (no retry)' },
  { group: 'compose-failing', label: 'transient error, 3 attempts (1 + 2 ms backoff)' },
  { group: 'compose-open', label: 'open breaker (refused)' },
];

const started = performance.now();
const rounds: DenoBenchRow[][] = [];
for (let round = 0; round < ROUNDS; round++) {
  // --no-check: `deno task check` type-checks the bench file; checking the whole graph again on
  // a fresh cache would take most of the budget.
  const out = await new Deno.Command(deno, {
    args: ['bench', '-A', '--no-check', '--json', '--filter', 'compose:', file],
    env: { DENO_NO_PACKAGE_JSON: '1', QF_BENCH_QUICK: QUICK ? '1' : '0' },
    stdout: 'piped',
    stderr: 'piped',
  }).output();
  if (out.code !== 0) {
    throw new Error(`deno bench failed: ${new TextDecoder().decode(out.stderr).slice(-2000)}`);
  }
  rounds.push(parseDenoBenchJson(new TextDecoder().decode(out.stdout)));
}

const metrics: BenchMetric[] = [];
const lines: string[] = [];
for (const { group, label } of PATHS) {
  const pick = (side: string, stat: 'p75' | 'avg') =>
    rounds.map((rows) => {
      const row = rows.find((r) => r.group === group && r.name.endsWith(`, ${side}`));
      if (!row) throw new Error(`no bench '${side}' in group ${group}`);
      return row[stat];
    });
  for (const side of ['ours', 'cockatiel']) {
    const p75 = pick(side, 'p75').map((ns) => ns / 1000);
    metrics.push({ name: `${label}: p75 per call`, variant: side, unit: 'us', ...spread(p75) });
    const avg = pick(side, 'avg').map((ns) => ns / 1000);
    metrics.push({ name: `${label}: mean per call`, variant: side, unit: 'us', ...spread(avg) });
  }
  const ratio = pick('ours', 'p75').map((o, i) => o / pick('cockatiel', 'p75')[i]);
  const r = spread(ratio);
  metrics.push({
    name: `${label}: ratio ours / cockatiel (p75)`,
    variant: 'ours',
    unit: 'x',
    ...r,
  });
  lines.push(`${label}: ours / cockatiel = ${r.median.toFixed(2)}x (p75 per call)`);
}
const elapsedS = (performance.now() - started) / 1000;

const section: BenchSection = {
  id: 'resilience_overhead',
  title: 'Resilience overhead per call: ours vs cockatiel',
  command: `DENO_NO_PACKAGE_JSON=1 ./node_modules/.bin/deno run -A bench/resilience_overhead.ts${
    QUICK ? ' --quick' : ''
  }`,
  compared: 'retry > circuit breaker > bulkhead composed the same way on both sides (ours: ' +
    'RetryPolicy.execute(() => CircuitBreakerRegistry.execute(() => Bulkhead.run(op))); cockatiel ' +
    '4.0.0: wrap(retry, circuitBreaker, bulkhead)), 3 attempts, exponential backoff from 1 ms ' +
    'without jitter, 10 slots + queue of 100, one error classifier for both; per call, in one ' +
    `deno bench file (bench/resilience_bench.ts, group compose-*), ${ROUNDS} runs alternating ` +
    'the two sides inside each run; p75 per call (the mean is GC-dominated) and its ratio.',
  rounds: ROUNDS,
  metrics,
  notes: [
    ...lines,
    'The transient-error path is bound by the backoff timers (1 + 2 ms): its ratio shows how ' +
    'much the wrappers add to a failing call, not the wrappers alone.',
    'Ours also records metrics, keeps a retry budget and a sliding-window breaker (failure ' +
    "ratio + consecutive failures) with shared state in the store; cockatiel's ConsecutiveBreaker " +
    'keeps a counter in memory only.',
    `Wall time of this section: ${elapsedS.toFixed(1)} s.`,
  ],
};
console.log(lines.join('\n'));
await writeSections(json, section);
