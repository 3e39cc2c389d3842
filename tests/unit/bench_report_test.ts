/**
 * The benchmark report generator (bench/report.ts) and the runner (bench/run.ts) on fixture data
 * and tiny scripts: verdicts said plainly, failed and missing sections shown, charts only for
 * sections that exist, SVG rendered by Vega headless, a failing script recorded with its stderr.
 */
import assert from 'node:assert/strict';
import {
  chartMetrics,
  CHARTS,
  chartSpec,
  formatNumber,
  renderMarkdown,
  renderSvg,
  writeReport,
} from '../../bench/report.ts';
import { microSection, runScript } from '../../bench/run.ts';
import type { BenchRun } from '../../bench/lib/results.ts';

function fixture(): BenchRun {
  return {
    startedAt: '2026-11-22T08:00:00.000Z',
    finishedAt: '2026-11-22T08:10:00.000Z',
    mode: 'full',
    command: 'npm run bench',
    machine: {
      cpuModel: 'Test CPU 9000',
      cores: 2,
      memoryGiB: 8,
      os: 'Test OS',
      deno: '2.9.6',
      v8: '15.0',
      postgres: '15.18',
      redis: '7.0.15',
    },
    services: { robots: 1_000_000, databaseSetupSeconds: 110, redisSetupSeconds: 0.3 },
    scripts: [
      {
        script: 'bench/warming.ts',
        owner: 'bench',
        expected: ['warming'],
        status: 'ok',
        budgetSeconds: 120,
        seconds: 100,
        loadBefore: [1, 1, 1],
        loadAfter: [2, 1, 1],
      },
      {
        script: 'bench/reliability.ts',
        owner: 'benchmodels',
        expected: ['reliability'],
        status: 'failed',
        reason: 'exited with code 1',
        budgetSeconds: 180,
        seconds: 12,
        stderrTail: 'Error: redis-server went away',
      },
      {
        script: 'bench/cache_strategies.ts',
        owner: 'benchmodels',
        expected: ['cache_strategies'],
        status: 'not yet',
        reason: 'bench/cache_strategies.ts does not exist yet',
        budgetSeconds: 120,
      },
    ],
    sections: [{
      id: 'warming',
      title: 'Warming title',
      command: 'deno run -A bench/warming.ts',
      compared: 'cold vs warm',
      rounds: 3,
      metrics: [
        {
          name: 'first request after idle, mean',
          variant: 'no warming',
          median: 800,
          min: 700,
          max: 900,
          unit: 'ms',
        },
        {
          name: 'first request after idle, mean',
          variant: 'warming schedule',
          median: 600,
          unit: 'ms',
        },
        { name: 'cold-start rate, every request', variant: 'no warming', median: 20, unit: '%' },
      ],
      claims: [{
        claim: '35-45% faster edge functions through optimized warming',
        measured: 'first request after an idle gap 25% faster',
        verdict: 'missed',
      }],
      notes: ['A stand-in supervisor, not the edge runtime.'],
    }],
    durationSeconds: 600,
  };
}

Deno.test('report: machine, command, figures with spread, and a missed claim said plainly', () => {
  const md = renderMarkdown(fixture(), {
    charts: new Map([['warming', 'bench/charts/warming.svg']]),
    resultsPath: 'bench/results/2026-11-22.json',
  });
  assert.match(md, /Test CPU 9000, 2 cores/);
  assert.match(md, /1,000,000 generated robots/);
  assert.match(md, /deno run -A bench\/warming\.ts/);
  assert.match(md, /\| first request after idle, mean \| no warming \| 800 \| 700 – 900 \| ms \|/);
  assert.match(md, /\| 35-45% faster edge functions[^\n]*\*\*MISSED\*\*/);
  assert.match(md, /Missed: 35-45% faster edge functions through optimized warming; measured/);
  assert.match(md, /!\[Warming title\]\(bench\/charts\/warming\.svg\)/);
  assert.match(md, /- A stand-in supervisor, not the edge runtime\./);
});

Deno.test('report: failed and missing sections are shown, with no chart and a line saying so', () => {
  const md = renderMarkdown(fixture(), { charts: new Map(), resultsPath: 'r.json' });
  assert.match(md, /\*\*Failed\*\* \(exited with code 1\)/);
  assert.match(md, /Error: redis-server went away/);
  assert.match(md, /No chart: section `reliability` is missing from this run\./);
  assert.match(md, /Not measured yet: bench\/cache_strategies\.ts does not exist yet/);
  assert.match(md, /No chart: section `cache_strategies` is missing from this run\./);
  // The spec claims table names what is missing instead of a figure.
  assert.match(
    md,
    /\| 10-15% better reliability through cross-system coordination \| no figure in this run \(reliability: failed\) \| not measured/,
  );
});

Deno.test('report: numbers keep 3 significant digits, integers stay integers', () => {
  assert.equal(formatNumber(1234.56), '1,235');
  assert.equal(formatNumber(3), '3');
  assert.equal(formatNumber(12.345), '12.3');
  assert.equal(formatNumber(0.01234), '0.012');
});

Deno.test('report: a chart is an SVG rendered by Vega from the section figures', async () => {
  const svg = await renderSvg(chartSpec('t', fixture().sections[0].metrics));
  assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.match(svg, /no warming/);
  assert.match(svg, /warming schedule/);
});

Deno.test('report: writeReport writes charts only for sections present', async () => {
  const root = await Deno.makeTempDir({ prefix: 'qf-report-test-' });
  try {
    const written = await writeReport(fixture(), { root, resultsPath: 'r.json' });
    assert.deepEqual(written.sort(), ['BENCHMARKS.md', 'bench/charts/warming.svg']);
    const md = await Deno.readTextFile(`${root}/BENCHMARKS.md`);
    assert.match(md, /bench\/charts\/warming\.svg/);
    await assert.rejects(Deno.stat(`${root}/bench/charts/reliability.svg`));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test('runner: a deno bench --json report becomes a section in µs with target verdicts', () => {
  const section = microSection(
    'bench/optimizer_bench.ts',
    'deno bench -A --json bench/optimizer_bench.ts',
    {
      benches: [
        {
          origin: 'file:///x',
          group: null,
          name: 'executeOptimizedOperation, every feature on, memory-tier hit',
          baseline: false,
          results: [{ ok: { n: 100, min: 1000, max: 90_000, avg: 6000, p75: 5000, p99: 20_000 } }],
        },
        {
          origin: 'file:///x',
          group: null,
          name: 'failed one',
          baseline: false,
          results: [{}],
        },
      ],
    },
  );
  assert.equal(section.id, 'micro_optimizer');
  assert.deepEqual(section.metrics.map((m) => [m.variant, m.median, m.min, m.max, m.unit]), [
    ['executeOptimizedOperation, every feature on, memory-tier hit', 6, 1, 20, 'us'],
  ]);
  assert.equal(section.claims?.[0].verdict, 'missed');
});

Deno.test('report: a chart draws its picked figures, else the most common unit but ratios', () => {
  const reliability = CHARTS.find((c) => c.id === 'reliability')!;
  const metric = (name: string, unit: string) => ({ name, variant: 'v', median: 1, unit });
  assert.deepEqual(
    chartMetrics(reliability, [
      metric('answered successfully', '%'),
      metric('success share, relative gain', '%'),
      metric('requests', 'count'),
    ]).map((m) => m.name),
    ['answered successfully'],
  );
  // Renamed figures: the chart still draws something meaningful.
  assert.deepEqual(
    chartMetrics(reliability, [
      metric('ok share', 'share'),
      metric('ok share 2', 'share'),
      metric('ratio', 'x'),
      metric('ratio 2', 'x'),
      metric('ratio 3', 'x'),
    ]).map((m) => m.name),
    ['ok share', 'ok share 2'],
  );
});

Deno.test('runner: a failing script is recorded with its stderr tail, others are not lost', async () => {
  const dir = await Deno.makeTempDir({ prefix: 'qf-runner-test-' });
  try {
    const ok = `${dir}/ok.ts`;
    await Deno.writeTextFile(
      ok,
      `const path = Deno.args.find((a) => a.startsWith('--json='))!.slice('--json='.length);
await Deno.writeTextFile(path, JSON.stringify([{ id: 'fake_ok', title: 't', command: 'c',
  compared: 'x', metrics: [{ name: 'n', variant: Deno.args.includes('--quick') ? 'quick' : 'full',
  median: 1, unit: 'ms' }] }]));`,
    );
    const failing = `${dir}/failing.ts`;
    await Deno.writeTextFile(
      failing,
      `// writes --json one day\nconsole.error('boom: the fault');\nDeno.exit(3);\n`,
    );
    const silent = `${dir}/silent.ts`;
    await Deno.writeTextFile(silent, `console.log('no sections here');\n`);
    const spec = (script: string, id: string) => ({
      script,
      owner: 'test',
      sections: [id],
      needsDb: false,
      budget: [5, 5] as [number, number],
    });
    const context = { quick: true, env: {}, tmp: dir };

    const good = await runScript(spec(ok, 'fake_ok'), context);
    assert.equal(good.run.status, 'ok');
    assert.deepEqual(good.sections.map((s) => [s.id, s.metrics[0].variant]), [[
      'fake_ok',
      'quick',
    ]]);

    const bad = await runScript(spec(failing, 'fake_failing'), context);
    assert.equal(bad.run.status, 'failed');
    assert.equal(bad.run.exitCode, 3);
    assert.match(bad.run.stderrTail ?? '', /boom: the fault/);
    assert.deepEqual(bad.sections, []);

    const notYet = await runScript(spec(silent, 'fake_silent'), context);
    assert.equal(notYet.run.status, 'not yet');
    const missing = await runScript(spec(`${dir}/missing.ts`, 'fake_missing'), context);
    assert.equal(missing.run.status, 'not yet');
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
