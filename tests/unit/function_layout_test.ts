/**
 * Every function is deployable as the Supabase CLI bundles it: its own deno.json is its import
 * map, so that map alone must resolve everything the function imports (shared/ included).
 */
import assert from 'node:assert/strict';

const root = new URL('../../', import.meta.url);
const functionsDir = new URL('supabase/functions/', root);

/** Functions whose index.ts loads app.ts on first use (warm-up pings answer without it). */
const LAZY_FUNCTIONS = ['optimizer', 'warmup'];

/** `deno info --json` of a function's `index.ts` with its own import map (its deployed graph). */
async function functionGraph(name: string) {
  const result = await new Deno.Command(Deno.execPath(), {
    args: ['info', '--json', '--config', 'deno.json', '--no-lock', 'index.ts'],
    cwd: new URL(`${name}/`, functionsDir).pathname,
    env: { DENO_NO_PACKAGE_JSON: '1', NO_COLOR: '1' },
    stdout: 'piped',
    stderr: 'piped',
  }).output();
  assert.equal(result.code, 0, new TextDecoder().decode(result.stderr));
  return JSON.parse(new TextDecoder().decode(result.stdout));
}

async function functionNames(): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(functionsDir)) {
    if (entry.isDirectory && !entry.name.startsWith('_') && !entry.name.startsWith('.')) {
      names.push(entry.name);
    }
  }
  return names.sort();
}

Deno.test('functions: index.ts only serves app.ts; config.toml has a block for each', async () => {
  const names = await functionNames();
  assert.ok(names.includes('health'));
  const config = await Deno.readTextFile(new URL('supabase/config.toml', root));
  for (const name of names) {
    const index = await Deno.readTextFile(new URL(`${name}/index.ts`, functionsDir));
    const code = index.split('\n').filter((l) => l.trim() && !l.trim().startsWith('//'));
    // app.ts statically, or through a dynamic import where the first call is usually a warm-up
    // ping (supabase/functions/_shared/serve.ts, cold start).
    const served = LAZY_FUNCTIONS.includes(name)
      ? [
        "import { lazyFunctionApp } from '../_shared/serve.ts';",
        `Deno.serve(lazyFunctionApp('${name}', () => import('./app.ts')).fetch);`,
      ]
      : ["import { app } from './app.ts';", 'Deno.serve(app.fetch);'];
    assert.deepEqual(code, served, name);
    assert.match(config, new RegExp(`\\[functions\\.${name}\\]`), `config.toml lacks ${name}`);
    const map = JSON.parse(await Deno.readTextFile(new URL(`${name}/deno.json`, functionsDir)));
    assert.equal(map.imports['@shared/'], '../../../shared/', name);
  }
});

Deno.test('functions: each function type-checks with only its own import map', async () => {
  const rootImports = JSON.parse(await Deno.readTextFile(new URL('deno.json', root))).imports;
  for (const name of await functionNames()) {
    const dir = new URL(`${name}/`, functionsDir);
    const map = JSON.parse(await Deno.readTextFile(new URL('deno.json', dir)));
    for (const [specifier, target] of Object.entries(map.imports)) {
      if (specifier === '@shared/') continue;
      assert.equal(target, rootImports[specifier], `${name}: ${specifier} differs from the root`);
    }
    const result = await new Deno.Command(Deno.execPath(), {
      args: ['check', '--quiet', '--config', 'deno.json', '--no-lock', 'index.ts'],
      cwd: dir.pathname,
      env: { DENO_NO_PACKAGE_JSON: '1', NO_COLOR: '1' },
      stdout: 'piped',
      stderr: 'piped',
    }).output();
    assert.equal(
      result.code,
      0,
      `${name} does not resolve with its own deno.json:\n${
        new TextDecoder().decode(result.stderr)
      }`,
    );
  }
});

Deno.test('functions: no dev-only module (PGlite, the local auth server) is in a deployed graph', async () => {
  for (const name of await functionNames()) {
    const graph = await functionGraph(name);
    const specifiers: string[] = [
      ...graph.modules.map((m: { specifier: string }) => m.specifier),
      ...Object.keys(graph.npmPackages ?? {}),
    ];
    const devOnly = specifiers.filter((s) => /pglite|scripts\/|bcryptjs|playwright/.test(s));
    assert.deepEqual(devOnly, [], `${name} would deploy dev-only modules`);
  }
});

Deno.test('functions: health loads no repository, schema or zod it does not use (cold start, issue 11)', async () => {
  const graph = await functionGraph('health');
  const specifiers: string[] = graph.modules.map((m: { specifier: string }) => m.specifier);
  const unused = specifiers.filter((s) =>
    /shared\/db\/(robots\/|strategies\.ts|mod\.ts|pagination\.ts)|shared\/http\/(auth|validate)|^npm:\/?zod@/
      .test(s)
  );
  assert.deepEqual(unused, []);
});

Deno.test('functions: optimizer and warmup answer pings before loading a driver, zod or the manager (cold start, issue 11)', async () => {
  for (const name of LAZY_FUNCTIONS) {
    const graph = await functionGraph(name);
    type Dependency = { code?: { specifier?: string }; isDynamic?: boolean };
    const modules = new Map<string, { dependencies?: Dependency[] }>(
      graph.modules.map((m: { specifier: string }) => [m.specifier, m]),
    );
    // The static graph of index.ts: what Deno evaluates before Deno.serve listens.
    const seen = new Set<string>();
    const stack: string[] = [...graph.roots];
    while (stack.length) {
      const specifier = stack.pop()!;
      if (seen.has(specifier)) continue;
      seen.add(specifier);
      for (const dependency of modules.get(specifier)?.dependencies ?? []) {
        if (!dependency.isDynamic && dependency.code?.specifier) {
          stack.push(dependency.code.specifier);
        }
      }
    }
    const heavy = [...seen].filter((s) =>
      /npm:(pg|zod|postgres|@upstash\/ratelimit)@|\/app\.ts$|shared\/(db\/(mod|isolate|postgres)|optimizer\/(mod|manager|query-plan|config))/
        .test(s) && !s.endsWith('shared/http/app.ts')
    );
    assert.deepEqual(heavy, [], `${name}: loaded before the first request`);
    assert.ok(
      graph.modules.some((m: { specifier: string }) => m.specifier.endsWith(`${name}/app.ts`)),
      `${name}: app.ts is in the deployed graph (a dynamic import the bundler follows)`,
    );
  }
});
