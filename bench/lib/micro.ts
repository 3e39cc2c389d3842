/**
 * A `deno bench --json` report as one section of `npm run bench`, with the earlier issues' targets
 * for the micro-benchmarks as claims. bench/run.ts runs the `*_bench.ts` files and calls this.
 *
 * @module
 */
import type { BenchSection } from './section.ts';

/** Deno's `deno bench --json` output (the parts used here). */
export interface DenoBenchJson {
  benches: {
    origin: string;
    group: string | null;
    name: string;
    baseline: boolean;
    results: {
      ok?: { n: number; min: number; max: number; avg: number; p75: number; p99: number };
    }[];
  }[];
}

/** Targets of earlier issues for micro-benchmarks (mean per call, µs), by bench name. */
const MICRO_TARGETS: { bench: RegExp; maxUs: number; claim: string }[] = [
  {
    bench: /^executeOptimizedOperation, every feature on, memory-tier hit$/,
    maxUs: 5,
    claim: '`executeOptimizedOperation` with every feature on, memory-tier hit: at most 5 µs',
  },
  {
    bench: /^memory-tier hit: executeWithPredictiveCaching$/,
    maxUs: 2,
    claim: 'Memory-tier hit through the cache (`executeWithPredictiveCaching`): at most 2 µs',
  },
];

/** A `deno bench --json` report as one section: mean per bench in µs, min-max of iterations. */
export function microSection(file: string, command: string, report: DenoBenchJson): BenchSection {
  const stem = file.replace(/^.*\//, '').replace(/_bench\.ts$/, '');
  const metrics = report.benches.flatMap((bench) => {
    const ok = bench.results[0]?.ok;
    if (!ok) return [];
    return [{
      name: 'mean per call',
      variant: bench.name,
      median: ok.avg / 1000,
      min: ok.min / 1000,
      max: ok.p99 / 1000,
      unit: 'us',
    }];
  });
  const claims = MICRO_TARGETS.flatMap((target) => {
    const m = metrics.find((m) => target.bench.test(m.variant));
    if (!m) return [];
    return [{
      claim: target.claim,
      measured: `${m.median.toFixed(2)} µs mean`,
      verdict: m.median <= target.maxUs ? 'met' as const : 'missed' as const,
    }];
  });
  return {
    id: `micro_${stem}`,
    title: `Micro-benchmark: ${file}`,
    command,
    compared: 'Deno.bench cases of one file (auto-calibrated iterations). The figure is ' +
      "Deno's mean per call; the spread is min to p99 of the iterations, not of rounds (a mean " +
      'above p99 means rare slow outliers, e.g. a GC pause).',
    metrics,
    claims,
    notes: [
      'Sub-microsecond figures move by tens of percent between runs on a shared machine.',
    ],
  };
}
