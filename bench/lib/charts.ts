/**
 * The charts of BENCHMARKS.md: which figures of which section each draws, the Vega-Lite spec
 * (grouped horizontal bars with min-max rules, one panel per unit) and the headless rendering to
 * SVG (Vega, `renderer: 'none'`, `view.toSVG()`). bench/report.ts writes them.
 *
 * @module
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { BenchMetric } from './section.ts';

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
