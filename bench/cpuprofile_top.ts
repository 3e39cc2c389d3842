/**
 * Top self-time entries of a V8 `.cpuprofile` (from `deno run --cpu-prof`), and the inclusive
 * share of functions whose name or file matches `--focus=<regex>`.
 *
 * ```sh
 * DENO_NO_PACKAGE_JSON=1 ./node_modules/.bin/deno run -A bench/cpuprofile_top.ts <file> [top=25]
 * ```
 *
 * @module
 */
interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time per function (microseconds), sorted, with the profile's total. */
export function topSelf(profile: Profile): { total: number; rows: [string, number][] } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    const node = byId.get(id)!;
    const f = node.callFrame;
    const file = f.url.replace(/^.*\/node_modules\/\.deno\//, 'npm:').replace(/^.*\/hotpath\//, '');
    const key = `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  });
  return { total, rows: [...self.entries()].sort((a, b) => b[1] - a[1]) };
}

if (import.meta.main) {
  const profile = JSON.parse(await Deno.readTextFile(Deno.args[0])) as Profile;
  const top = Number(Deno.args[1] ?? 25);
  const { total, rows } = topSelf(profile);
  const busy = rows.filter(([k]) => !k.startsWith('(idle)')).reduce((a, [, v]) => a + v, 0);
  console.log(`total ${(total / 1e6).toFixed(1)} s, busy (not idle) ${(busy / 1e6).toFixed(1)} s`);
  console.log('| self % of busy | self ms | function (file:line) |');
  console.log('|---:|---:|---|');
  for (const [key, us] of rows.filter(([k]) => !k.startsWith('(idle)')).slice(0, top)) {
    console.log(`| ${(100 * us / busy).toFixed(1)} | ${Math.round(us / 1000)} | \`${key}\` |`);
  }
}
