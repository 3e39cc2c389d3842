/**
 * Top self-time entries of a V8 `.cpuprofile` (from `deno run --cpu-prof`), and with
 * `--inclusive` the top inclusive entries (a function's own time plus its callees', counted once
 * per sample even when it recurses). `--focus=<regex>` keeps the inclusive rows whose function or
 * file matches. `--under=<regex>` counts only the samples whose stack holds a matching frame
 * (e.g. `--under=nativeDispatch`), and `--skip=<regex>` leaves out the samples whose stack holds
 * one (e.g. `--skip='pglite|wasm|compile'`: without the embedded database's start).
 *
 * ```sh
 * DENO_NO_PACKAGE_JSON=1 ./node_modules/.bin/deno run -A bench/cpuprofile_top.ts <file> [top=25] \
 *   [--inclusive] [--focus=<regex>] [--under=<regex>] [--skip=<regex>]
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

function keyOf(node: Node): string {
  const f = node.callFrame;
  const file = f.url.replace(/^.*\/npm\/registry\.npmjs\.org\//, 'npm:')
    .replace(/^.*\/node_modules\/\.deno\//, 'npm:').replace(
      /^file:\/\/\/.*?\/(shared|scripts|supabase|bench)\//,
      '$1/',
    );
  return `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}`;
}

/**
 * Self time per function (microseconds), sorted, with the profile's total.
 *
 * @example
 * ```ts
 * const { total, rows } = topSelf(JSON.parse(await Deno.readTextFile('x.cpuprofile')));
 * ```
 */
export function topSelf(profile: Profile): { total: number; rows: [string, number][] } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    const key = keyOf(byId.get(id)!);
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  });
  return { total, rows: [...self.entries()].sort((a, b) => b[1] - a[1]) };
}

/**
 * Inclusive time per function (microseconds), sorted: every function on a sample's stack gets
 * the sample's time once.
 *
 * @example
 * ```ts
 * const rows = topInclusive(profile).filter(([key]) => key.includes('shared/'));
 * ```
 */
export function topInclusive(profile: Profile): [string, number][] {
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const inclusive = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const key = keyOf(byId.get(at)!);
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + dt);
    }
  });
  return [...inclusive.entries()].sort((a, b) => b[1] - a[1]);
}

/**
 * The profile with only the samples whose stack holds a frame matching `keep` (when given) and
 * none matching `drop` (when given); the others count as idle.
 *
 * @example
 * ```ts
 * const requests = filterSamples(profile, undefined, /pglite|wasm/); // without PGlite's start
 * ```
 */
export function filterSamples(profile: Profile, keep?: RegExp, drop?: RegExp): Profile {
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const decided = new Map<number, boolean>();
  const kept = (id: number): boolean => {
    const known = decided.get(id);
    if (known !== undefined) return known;
    const keys: string[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      keys.push(keyOf(byId.get(at)!));
    }
    const result = (!keep || keys.some((k) => keep.test(k))) &&
      (!drop || !keys.some((k) => drop.test(k)));
    decided.set(id, result);
    return result;
  };
  const idle = profile.nodes.find((n) => n.callFrame.functionName === '(idle)')?.id ??
    profile.nodes[0].id;
  return { ...profile, samples: profile.samples.map((id) => (kept(id) ? id : idle)) };
}

if (import.meta.main) {
  const positional = Deno.args.filter((a) => !a.startsWith('--'));
  const option = (name: string) => {
    const value = Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
    return value ? new RegExp(value) : undefined;
  };
  const under = option('under');
  const skip = option('skip');
  const loaded = JSON.parse(await Deno.readTextFile(positional[0])) as Profile;
  const profile = under || skip ? filterSamples(loaded, under, skip) : loaded;
  const top = Number(positional[1] ?? 25);
  const focus = Deno.args.find((a) => a.startsWith('--focus='))?.slice('--focus='.length);
  const { total, rows } = topSelf(profile);
  const idle = (k: string) =>
    k.startsWith('(idle)') || (!!(under || skip) && k.startsWith('(root)'));
  const busy = rows.filter(([k]) => !idle(k)).reduce((a, [, v]) => a + v, 0);
  console.log(`total ${(total / 1e6).toFixed(1)} s, busy (not idle) ${(busy / 1e6).toFixed(1)} s`);
  const table = (title: string, list: [string, number][]) => {
    console.log(`| ${title} % of busy | ms | function (file:line) |`);
    console.log('|---:|---:|---|');
    for (const [key, us] of list.slice(0, top)) {
      console.log(`| ${(100 * us / busy).toFixed(1)} | ${Math.round(us / 1000)} | \`${key}\` |`);
    }
  };
  if (Deno.args.includes('--inclusive')) {
    const pattern = focus ? new RegExp(focus) : undefined;
    table(
      'inclusive',
      topInclusive(profile).filter(([k]) =>
        !idle(k) && !k.startsWith('(root)') && (!pattern || pattern.test(k))
      ),
    );
  } else table('self', rows.filter(([k]) => !idle(k)));
}
