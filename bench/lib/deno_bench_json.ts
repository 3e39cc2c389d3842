/**
 * Reads the output of `deno bench --json` into flat rows (ns per iteration).
 *
 * @module
 */

/** One bench of a `deno bench --json` run; times in ns per iteration. */
export interface DenoBenchRow {
  group: string;
  name: string;
  n: number;
  avg: number;
  min: number;
  max: number;
  p75: number;
  p99: number;
}

/**
 * Parses `deno bench --json` output (version 1); a bench that failed throws with its name.
 *
 * @example
 * ```ts
 * const rows = parseDenoBenchJson(stdout);
 * rows.find((r) => r.name === 'compose: success, ours')?.p75; // ns
 * ```
 */
export function parseDenoBenchJson(text: string): DenoBenchRow[] {
  const report = JSON.parse(text) as {
    benches: {
      group?: string | null;
      name: string;
      results: ({ ok?: Record<string, number>; failed?: unknown })[];
    }[];
  };
  return report.benches.map((bench) => {
    const ok = bench.results[0]?.ok;
    if (!ok) throw new Error(`bench '${bench.name}' failed: ${JSON.stringify(bench.results[0])}`);
    return {
      group: bench.group ?? '',
      name: bench.name,
      n: ok.n,
      avg: ok.avg,
      min: ok.min,
      max: ok.max,
      p75: ok.p75,
      p99: ok.p99,
    };
  });
}
