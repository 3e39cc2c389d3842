/**
 * The machine-readable shape every benchmark writes, so that `npm run bench` (bench/run.ts) can
 * collect the sections into `bench/results/<date>.json` and bench/report.ts can rewrite
 * BENCHMARKS.md and its charts from them.
 *
 * A benchmark script accepts `--quick` (a short, still meaningful run) and `--json=<path>`; with
 * `--json` it writes one {@link BenchSection} (or an array of them) to that path with
 * {@link writeSections}.
 *
 * @module
 */

/** One measured figure of one variant. Ratios are figures too (unit `x`). */
export interface BenchMetric {
  /** What is measured, e.g. `rps`, `p99`, `hit rate`, `origin calls`, `ratio to bare`. */
  name: string;
  /** Which side of the comparison, e.g. `bare Hono`, `robots app, JWT`, `bentocache`. */
  variant: string;
  /** Median over the rounds (or the single value when there are no rounds). */
  median: number;
  /** Spread over the rounds, when there were several. */
  min?: number;
  max?: number;
  /** `rps`, `ms`, `us`, `%`, `x`, `count`, ... */
  unit: string;
}

/** A claim of the spec (or a target of an issue) and how the measurement stands against it. */
export interface BenchClaim {
  /** The claim as the spec or issue words it, e.g. `15-25% better cache hit rates`. */
  claim: string;
  /** The measured counterpart in words, e.g. `+16.5% hit rate (72.5% -> 84.4%)`. */
  measured: string;
  verdict: 'met' | 'beaten' | 'missed' | 'not measured';
}

export interface BenchSection {
  /** Stable id, also the chart's file name stem: `hot_path`, `cache_strategies`, ... */
  id: string;
  title: string;
  /** The exact command that reproduces this section alone, from the repository root. */
  command: string;
  /** What was compared with what, and how (rounds, alternation, pinning, data set). */
  compared: string;
  rounds?: number;
  metrics: BenchMetric[];
  claims?: BenchClaim[];
  /** Plain sentences worth reading next to the figures (caveats, what was left out). */
  notes?: string[];
}

/** Reads `--quick` and `--json=<path>` from the arguments. */
export function benchArgs(args: string[] = Deno.args): { quick: boolean; json?: string } {
  const json = args.find((a) => a.startsWith('--json='))?.slice('--json='.length);
  return { quick: args.includes('--quick'), json };
}

/** Writes the sections as JSON to `path` (when given). */
export async function writeSections(
  path: string | undefined,
  sections: BenchSection | BenchSection[],
): Promise<void> {
  if (!path) return;
  const list = Array.isArray(sections) ? sections : [sections];
  await Deno.writeTextFile(path, JSON.stringify(list, null, 2) + '\n');
}

/** Median, min and max of a list of numbers (NaN for an empty list). */
export function spread(values: number[]): { median: number; min: number; max: number } {
  if (values.length === 0) return { median: NaN, min: NaN, max: NaN };
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1] };
}
