/**
 * Rewrites BENCHMARKS.md (repository root) and `bench/charts/*.svg` from one results file of
 * `npm run bench` (bench/lib/results.ts).
 *
 * Charts are Vega-Lite specs compiled and rendered headless by Vega (`renderer: 'none'`,
 * `view.toSVG()`): throughput against bare Hono (`hot_path`), whole optimizer vs none
 * (`optimizer_vs_none`), hit rate and latency by cache strategy (`cache_strategies`), cold vs warm
 * latency (`warming`, `cold_start`), success rate under faults (`reliability`). A section that
 * is missing gets no chart and a line saying so.
 *
 * ```sh
 * deno run -A bench/report.ts                       # the newest bench/results/*.json
 * deno run -A bench/report.ts bench/results/2026-11-22.json
 * ```
 *
 * @module
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { BenchMetric } from './lib/section.ts';
import type { BenchRun, ScriptRun } from './lib/results.ts';

/** One chart the report draws, from the section with the same id. */
export interface ChartSpec {
  id: string;
  title: string;
  /** Which metrics of the section the chart shows. */
  pick: (m: BenchMetric) => boolean;
}

/** The charts of the report, each from the section with its id. */
export const CHARTS: ChartSpec[] = [
  {
    id: 'hot_path',
    title: 'Throughput against bare Hono (requests/s, median with min-max)',
    pick: (m) => m.unit === 'rps',
  },
  {
    id: 'optimizer_vs_none',
    title: 'Whole optimizer vs no optimizer on the robots data set',
    pick: (m) => m.unit === 'rps' || m.unit === 'ms',
  },
  {
    id: 'cache_strategies',
    title: 'Hit rate and latency by cache strategy',
    pick: (m) =>
      (m.unit === '%' && m.name === 'hit rate') || (m.unit === 'ms' && /^(mean|p95)$/.test(m.name)),
  },
  {
    id: 'warming',
    title: 'Cold vs warm: first-request latency after an idle gap',
    pick: (m) => m.unit === 'ms' || (m.unit === '%' && /cold-start/.test(m.name)),
  },
  {
    id: 'cold_start',
    title: 'Cold start: spawn to first 200',
    pick: (m) => m.unit === 'ms',
  },
  {
    id: 'reliability',
    title: 'Share of requests answered successfully under faults',
    pick: (m) => m.unit === '%' && /^answered successfully/.test(m.name),
  },
];

/** The spec's claims and the sections that measure them (for the summary table). */
export const SPEC_CLAIMS: { claim: string; sections: string[]; match: RegExp }[] = [
  {
    claim: '20-30% faster queries through predictive optimization',
    sections: ['predictive_optimization'],
    match: /20-30|faster quer|response time/i,
  },
  {
    claim: '15-25% better cache hit rates through intelligent warming',
    sections: ['cache_strategies', 'predictive_optimization'],
    match: /15-25|hit rate/i,
  },
  {
    claim: '35-45% faster edge functions through optimized warming',
    sections: ['warming'],
    match: /35-45|faster edge/i,
  },
  {
    claim: '10-15% better reliability through cross-system coordination',
    sections: ['reliability'],
    match: /10-15|reliab/i,
  },
];

const VERDICT_WORDS: Record<string, string> = {
  met: 'met',
  beaten: 'beaten (better than claimed)',
  missed: '**MISSED**',
  'not measured': 'not measured',
};

/** A number for a table: 3 significant digits, thousands separated. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return value.toLocaleString('en-US');
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString('en-US');
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  if (abs === 0) return '0';
  return value.toPrecision(2);
}

function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

function metricRow(m: BenchMetric): string {
  const hasSpread = m.min !== undefined && m.max !== undefined && m.min !== m.max;
  const spreadText = hasSpread ? `${formatNumber(m.min!)} – ${formatNumber(m.max!)}` : '';
  return `| ${cell(m.name)} | ${cell(m.variant)} | ${formatNumber(m.median)} | ${spreadText} | ${
    cell(m.unit)
  } |`;
}

/** The Vega-Lite spec of one chart: grouped horizontal bars with min-max rules, one panel per unit, stacked. */
export function chartSpec(title: string, metrics: BenchMetric[]): TopLevelSpec {
  const values = metrics.map((m) => ({
    metric: `${m.name} (${m.unit})`,
    variant: m.variant,
    median: m.median,
    min: m.min ?? m.median,
    max: m.max ?? m.median,
    unit: m.unit,
  }));
  const units = [...new Set(values.map((v) => v.unit))];
  // One row per variant, a bar per figure; or, with more figures than variants (phases of a
  // fault script, cold vs warm figures), one row per figure and a bar per variant.
  const names = new Set(values.map((v) => v.metric)).size;
  const variants = new Set(values.map((v) => v.variant)).size;
  const [row, bar] = names > variants ? ['metric', 'variant'] : ['variant', 'metric'];
  const panel = (unit: string) => ({
    width: 320,
    title: unit,
    transform: [{ filter: { field: 'unit', equal: unit } }],
    encoding: {
      y: { field: row, type: 'nominal' as const, title: null, sort: null },
      yOffset: { field: bar, type: 'nominal' as const, sort: null },
      color: { field: bar, type: 'nominal' as const, title: null, sort: null },
    },
    layer: [
      {
        mark: { type: 'bar' as const },
        encoding: {
          x: { field: 'median', type: 'quantitative' as const, title: `median (${unit})` },
          tooltip: [{ field: 'median' }, { field: 'min' }, { field: 'max' }],
        },
      },
      {
        mark: { type: 'rule' as const, color: '#222' },
        encoding: {
          x: { field: 'min', type: 'quantitative' as const },
          x2: { field: 'max' },
        },
      },
      {
        mark: { type: 'text' as const, align: 'left' as const, dx: 4, fontSize: 10 },
        encoding: {
          x: { field: 'max', type: 'quantitative' as const },
          text: { field: 'median', type: 'quantitative' as const, format: '.3~s' },
        },
      },
    ],
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    data: { values },
    vconcat: units.map(panel),
    resolve: { scale: { x: 'independent', color: 'independent' } },
    config: {
      legend: { orient: 'bottom', columns: 1, labelLimit: 0 },
      axis: { labelLimit: 320 },
      font: 'sans-serif',
    },
  } as unknown as TopLevelSpec;
}

/**
 * The figures a chart draws: those its `pick` selects, else (a section whose names changed) those
 * in the section's most common unit other than ratios.
 */
export function chartMetrics(chart: ChartSpec, metrics: BenchMetric[]): BenchMetric[] {
  const finite = metrics.filter((m) => Number.isFinite(m.median));
  const picked = finite.filter(chart.pick);
  if (picked.length) return picked;
  const counts = new Map<string, number>();
  for (const m of finite) if (m.unit !== 'x') counts.set(m.unit, (counts.get(m.unit) ?? 0) + 1);
  const unit = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
  return unit ? finite.filter((m) => m.unit === unit) : [];
}

/** Renders a Vega-Lite spec to an SVG string, headless. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const compiled = compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

function statusLine(run: ScriptRun): string {
  if (run.status === 'not yet') return `Not measured yet: ${run.reason ?? 'no --json output'}.`;
  if (run.status === 'skipped') return `Skipped: ${run.reason ?? ''}`;
  return `**Failed** (${run.reason ?? 'unknown'}) after ${run.seconds ?? '?'} s.`;
}

function loadText(load?: number[]): string {
  return load && load.length ? load.map((n) => n.toFixed(2)).join(' / ') : 'n/a';
}

/** The markdown of BENCHMARKS.md for one run; `charts` maps section id to the chart's path. */
export function renderMarkdown(
  run: BenchRun,
  options: { charts: Map<string, string>; resultsPath: string },
): string {
  const { machine } = run;
  const byId = new Map(run.sections.map((s) => [s.id, s]));
  const scriptOf = (id: string) => run.scripts.find((s) => s.expected.includes(id));
  const out: string[] = [];
  out.push('# Benchmarks');
  out.push('');
  out.push(
    `<!-- Generated by bench/report.ts from ${options.resultsPath}: do not edit by hand; ` +
      `run \`npm run bench\` to rewrite. -->`,
  );
  out.push('');
  out.push(
    `Every figure below comes from one run of \`${run.command}\` (${run.mode} mode), started ` +
      `${run.startedAt.replace('T', ' ').slice(0, 16)} UTC and finished in ` +
      `${
        Math.round(run.durationSeconds)
      } s. The raw results are in [${options.resultsPath}](${options.resultsPath}). ` +
      'Each section states the command that reproduces it alone, what was compared, the median ' +
      'and spread (min – max over rounds), and the claims of the spec or of an issue with a plain ' +
      'verdict.',
  );
  out.push('');
  out.push(
    'How to read them: the machine is shared and noisy, so comparisons are ratios taken in one ' +
      'run, A and B alternated over several rounds, servers and load tool pinned to different ' +
      'cores, loopback only. Sub-microsecond figures move by tens of percent between runs; ' +
      'compare ratios, not absolute numbers, across machines.',
  );
  out.push('');
  out.push('## Running the benchmarks');
  out.push('');
  out.push(
    '`npm run bench` (about 20 minutes) starts a redis-server with the Upstash REST bridge and ' +
      'PostgreSQL 15 with the migrations and 1,000,000 generated robots on loopback, runs every ' +
      'section below as a child process with a time limit, writes `bench/results/<date>.json` ' +
      '(machine, load average before and after each section, every figure) and rewrites this ' +
      'file and `bench/charts/*.svg` (bench/report.ts, Vega-Lite rendered headless). ' +
      '`npm run bench -- --quick` does the same with 50,000 robots and short rounds (written to ' +
      '`bench/results/<date>-quick.json`); `--only=<section ids>` runs some sections ' +
      '(into `bench/results/<date>-only.json`, leaving this file alone); `--no-report` leaves ' +
      'this file alone; `deno run -A bench/report.ts [results.json]` ' +
      'redraws it from a results file. A section that fails is recorded with the end of its ' +
      'stderr and the run goes on; the command then exits non-zero. `deno task bench:micro` runs ' +
      'the `deno bench` files alone. Needs `wrk` and `taskset` (Debian packages `wrk`, ' +
      '`util-linux`), redis-server and PostgreSQL 15 as for the tests.',
  );
  out.push('');
  out.push(
    'Every section script also runs alone (the command in its section): it accepts `--quick` ' +
      'and `--json=<path>` (the `BenchSection` shape of bench/lib/section.ts) and uses the ' +
      "runner's services through `QF_BENCH_REDIS_URL`, `UPSTASH_REDIS_REST_URL`/`_TOKEN`, " +
      '`QF_BENCH_DB_URL` and `QF_BENCH_ROBOTS` (`QF_BENCH_QUICK=1` in quick runs), starting its ' +
      'own when they are unset. A benchmark that faults a service starts its own instance.',
  );
  out.push('');
  out.push('## Machine');
  out.push('');
  out.push('| | |');
  out.push('|---|---|');
  out.push(`| CPU | ${cell(machine.cpuModel)}, ${machine.cores} cores |`);
  out.push(`| memory | ${machine.memoryGiB} GiB |`);
  out.push(`| OS | ${cell(machine.os)} |`);
  out.push(`| Deno | ${machine.deno} (V8 ${machine.v8}) |`);
  out.push(`| PostgreSQL | ${machine.postgres ?? 'not started'} |`);
  out.push(
    `| redis-server | ${machine.redis ?? 'unknown'} (behind the project's Upstash REST bridge) |`,
  );
  if (machine.wrk) out.push(`| load tool | ${cell(machine.wrk)} |`);
  out.push(
    `| data set | ${run.services.robots.toLocaleString('en-US')} generated robots ` +
      `(setup ${Math.round(run.services.databaseSetupSeconds)} s) |`,
  );
  out.push('');

  out.push("## The spec's claims");
  out.push('');
  out.push('| claim | measured | verdict | section |');
  out.push('|---|---|---|---|');
  for (const spec of SPEC_CLAIMS) {
    let found = false;
    for (const id of spec.sections) {
      const section = byId.get(id);
      for (const c of section?.claims ?? []) {
        if (!spec.match.test(c.claim)) continue;
        found = true;
        out.push(
          `| ${cell(spec.claim)} | ${cell(c.measured)} | ${
            VERDICT_WORDS[c.verdict]
          } | [${id}](#${id}) |`,
        );
      }
    }
    if (!found) {
      const missing = spec.sections.map((id) => {
        const s = scriptOf(id);
        return `${id}: ${s ? s.status : 'not run'}`;
      }).join('; ');
      out.push(`| ${cell(spec.claim)} | no figure in this run (${missing}) | not measured | |`);
    }
  }
  out.push('');

  out.push('## Sections');
  out.push('');
  out.push('| section | script | status | time (budget) | load before → after |');
  out.push('|---|---|---|---|---|');
  for (const s of run.scripts) {
    const ids = s.expected.map((id) => byId.has(id) ? `[${id}](#${id})` : id).join(', ');
    out.push(
      `| ${ids} | \`${s.script}\` | ${s.status} | ${s.seconds ?? '–'} s (${s.budgetSeconds} s) | ${
        loadText(s.loadBefore)
      } → ${loadText(s.loadAfter)} |`,
    );
  }
  out.push('');

  const seen = new Set<string>();
  const ordered: string[] = [];
  for (const s of run.scripts) for (const id of s.expected) ordered.push(id);
  for (const s of run.sections) ordered.push(s.id);
  for (const id of ordered) {
    if (seen.has(id)) continue;
    seen.add(id);
    const section = byId.get(id);
    const script = scriptOf(id);
    out.push(`<a id="${id}"></a>`);
    out.push('');
    if (!section) {
      out.push(`## ${id}`);
      out.push('');
      if (script) {
        out.push(statusLine(script));
        if (script.status === 'ok') {
          out.push(`\`${script.script}\` ran but wrote no section \`${id}\`.`);
        }
        if (script.stderrTail) {
          out.push('');
          out.push('Last lines of its stderr:');
          out.push('');
          out.push('```text');
          out.push(script.stderrTail);
          out.push('```');
        }
      }
      if (CHARTS.some((c) => c.id === id)) {
        out.push('');
        out.push(`No chart: section \`${id}\` is missing from this run.`);
      }
      out.push('');
      continue;
    }
    out.push(`## ${section.title}`);
    out.push('');
    out.push(`Section \`${section.id}\`. Command:`);
    out.push('');
    out.push('```sh');
    out.push(section.command);
    out.push('```');
    out.push('');
    out.push(`Compared: ${section.compared}${section.rounds ? ` Rounds: ${section.rounds}.` : ''}`);
    out.push('');
    if (section.metrics.length) {
      out.push('| figure | variant | median | spread (min – max) | unit |');
      out.push('|---|---|---|---|---|');
      for (const m of section.metrics) out.push(metricRow(m));
      out.push('');
    }
    if (section.claims?.length) {
      out.push('| claim | measured | verdict |');
      out.push('|---|---|---|');
      for (const c of section.claims) {
        out.push(`| ${cell(c.claim)} | ${cell(c.measured)} | ${VERDICT_WORDS[c.verdict]} |`);
      }
      out.push('');
      for (const c of section.claims.filter((c) => c.verdict === 'missed')) {
        out.push(`Missed: ${c.claim}; measured ${c.measured}.`);
      }
      if (section.claims.some((c) => c.verdict === 'missed')) out.push('');
    }
    for (const note of section.notes ?? []) out.push(`- ${note}`);
    if (section.notes?.length) out.push('');
    const chart = options.charts.get(id);
    if (chart) {
      out.push(`![${section.title}](${chart})`);
      out.push('');
    } else if (CHARTS.some((c) => c.id === id)) {
      out.push(`No chart: section \`${id}\` has no figure the chart draws.`);
      out.push('');
    }
  }

  out.push('## More detail');
  out.push('');
  out.push(
    'Workloads and design behind the figures: [docs/cache.md](docs/cache.md) (cache, store ' +
      'cost), [docs/resilience.md](docs/resilience.md), [docs/query-plan.md](docs/query-plan.md) ' +
      '(indexes), [docs/performance.md](docs/performance.md) (hot path and profile), ' +
      '[docs/operations.md](docs/operations.md) (warming).',
  );
  out.push('');
  return out.join('\n');
}

/**
 * Writes BENCHMARKS.md and the charts for one run; returns the paths written (from `root`).
 *
 * @example
 * ```ts
 * const run = JSON.parse(await Deno.readTextFile('bench/results/2026-11-22.json'));
 * await writeReport(run, { root: './', resultsPath: 'bench/results/2026-11-22.json' });
 * ```
 */
export async function writeReport(
  run: BenchRun,
  options: { root: string; resultsPath: string; markdownPath?: string },
): Promise<string[]> {
  const root = options.root.endsWith('/') ? options.root : `${options.root}/`;
  const written: string[] = [];
  const charts = new Map<string, string>();
  await Deno.mkdir(`${root}bench/charts`, { recursive: true });
  for (const chart of CHARTS) {
    const path = `bench/charts/${chart.id}.svg`;
    const section = run.sections.find((s) => s.id === chart.id);
    const metrics = section && chartMetrics(chart, section.metrics);
    if (!section || !metrics?.length) {
      // A chart of an earlier run would describe figures this report no longer shows.
      await Deno.remove(`${root}${path}`).catch(() => {});
      continue;
    }
    await Deno.writeTextFile(`${root}${path}`, await renderSvg(chartSpec(chart.title, metrics)));
    charts.set(chart.id, path);
    written.push(path);
  }
  const markdownPath = options.markdownPath ?? 'BENCHMARKS.md';
  await Deno.writeTextFile(
    `${root}${markdownPath}`,
    renderMarkdown(run, { charts, resultsPath: options.resultsPath }),
  );
  written.push(markdownPath);
  await denoFmt(root, written);
  return written;
}

/**
 * Formats generated files with the project's `deno fmt` settings, so `deno fmt --check` passes
 * on a freshly generated report.
 */
export async function denoFmt(root: string, paths: string[]): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ['fmt', '--quiet', ...paths],
    cwd: root,
    env: { DENO_NO_PACKAGE_JSON: '1' },
    stdout: 'null',
    stderr: 'piped',
  }).output();
  if (!out.success) {
    throw new Error(`deno fmt ${paths.join(' ')} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

async function newestResults(root: string): Promise<string> {
  const names: string[] = [];
  for await (const e of Deno.readDir(`${root}bench/results`)) {
    if (e.isFile && /^\d{4}-\d{2}-\d{2}(-quick)?\.json$/.test(e.name)) names.push(e.name);
  }
  if (!names.length) throw new Error('no bench/results/<date>.json: run `npm run bench` first');
  // Newest date first; a full run before a quick one of the same day.
  names.sort((a, b) => b.slice(0, 10).localeCompare(a.slice(0, 10)) || a.length - b.length);
  return `bench/results/${names[0]}`;
}

if (import.meta.main) {
  const root = new URL('../', import.meta.url).pathname;
  const path = Deno.args[0] ?? await newestResults(root);
  const run = JSON.parse(await Deno.readTextFile(path.startsWith('/') ? path : `${root}${path}`));
  const written = await writeReport(run, { root, resultsPath: path.replace(root, '') });
  console.log(`wrote ${written.join(', ')}`);
}
