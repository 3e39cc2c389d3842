/**
 * Deploy what runs, nothing else: the real pinned Supabase CLI (`node_modules/.bin/supabase`,
 * npm `supabase` 3.1.0) runs `functions deploy --use-api` against a stand-in of the Management API
 * on 127.0.0.1 (tests/support/management_api.ts), reached through a CLI profile whose `api_url`
 * points there. With `--use-api` the CLI uploads the source files as multipart form data and
 * Supabase bundles them server-side (there is no Docker here, and this is what a CI deploy does).
 *
 * Per function in supabase/functions/ (not `_shared`) it asserts that:
 * - every local module of the function's graph (`deno info --json` with the function's own
 *   import map) is uploaded, and nothing beyond that graph, the import map and `shared/` is;
 * - no PGlite and no dev-only file (scripts/, tests/, bench/, the local auth, shared/db/pglite*)
 *   is uploaded, and no uploaded file names `@electric-sql/pglite`;
 * - the upload is under Supabase's 5 MB limit for server-side bundling, and so is the function
 *   bundled with its npm packages (`deno bundle`: an estimate of what the server builds, since
 *   the upload holds no npm code);
 * and that the CLI exited 0, printed no warning, called no route the stand-in does not implement
 * and connected nowhere else (an egress trap is its proxy). The sizes are printed; docs/deploy.md
 * records them.
 */
import assert from 'node:assert/strict';
import {
  type ReceivedDeploy,
  startEgressTrap,
  startManagementApi,
} from '../support/management_api.ts';

const root = new URL('../../', import.meta.url).pathname;
const functionsDir = `${root}supabase/functions/`;
const cli = `${root}node_modules/.bin/supabase`; // runs in a copy (deployableCopy)

/** Supabase's limit for a function bundled server-side (Management API, `--use-api`). */
const SERVER_SIDE_BUNDLE_LIMIT_BYTES = 5 * 1024 * 1024;
/** The whole CLI run (5 functions) normally takes a few seconds. */
const CLI_TIMEOUT_MS = 45_000;

/** Files no deployed function may carry: dev server, local auth, test and bench code, PGlite. */
const DEV_ONLY = /^(scripts|tests|bench|tools|node_modules)\/|(^|\/)pglite[^/]*$|local_auth/;

async function functionNames(): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(functionsDir)) {
    if (entry.isDirectory && !entry.name.startsWith('_') && !entry.name.startsWith('.')) {
      names.push(entry.name);
    }
  }
  return names.sort();
}

/** The function's local modules (paths from the repo root), as Deno resolves its graph. */
async function localGraph(name: string): Promise<string[]> {
  const result = await new Deno.Command(Deno.execPath(), {
    args: ['info', '--json', '--config', 'deno.json', '--no-lock', 'index.ts'],
    cwd: `${functionsDir}${name}`,
    env: { DENO_NO_PACKAGE_JSON: '1', NO_COLOR: '1' },
    stdout: 'piped',
    stderr: 'piped',
  }).output();
  assert.equal(result.code, 0, `deno info ${name}: ${new TextDecoder().decode(result.stderr)}`);
  const graph = JSON.parse(new TextDecoder().decode(result.stdout));
  return graph.modules
    .map((m: { specifier: string }) => m.specifier)
    .filter((s: string) => s.startsWith('file://'))
    .map((s: string) => decodeURIComponent(new URL(s).pathname).slice(root.length))
    .sort();
}

/**
 * The size of the function bundled with its npm packages (`deno bundle`, esbuild), as an estimate
 * of what Supabase's server-side bundler builds from the upload; and that size gzip-compressed.
 */
async function bundledSize(name: string, outDir: string): Promise<{ raw: number; gzip: number }> {
  const out = `${outDir}/${name}.js`;
  const result = await new Deno.Command(Deno.execPath(), {
    args: [
      'bundle',
      '--quiet',
      '--config',
      'deno.json',
      '--no-lock',
      '--platform',
      'deno',
      '-o',
      out,
      'index.ts',
    ],
    cwd: `${functionsDir}${name}`,
    env: { DENO_NO_PACKAGE_JSON: '1', NO_COLOR: '1' },
    stdout: 'piped',
    stderr: 'piped',
  }).output();
  assert.equal(result.code, 0, `deno bundle ${name}: ${new TextDecoder().decode(result.stderr)}`);
  const bytes = await Deno.readFile(out);
  const gzip = new Blob([bytes]).stream().pipeThrough(new CompressionStream('gzip'));
  return { raw: bytes.byteLength, gzip: (await new Response(gzip).arrayBuffer()).byteLength };
}

async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    if (entry.isDirectory) await copyTree(`${from}/${entry.name}`, `${to}/${entry.name}`);
    else if (entry.isFile) await Deno.copyFile(`${from}/${entry.name}`, `${to}/${entry.name}`);
  }
}

/**
 * A copy of what a deploy reads (supabase/config.toml, supabase/functions/, shared/), so the CLI
 * cannot touch the checkout: it records the project it deployed to in supabase/.temp/, and a
 * later `supabase functions deploy` there would take that as the linked project.
 */
async function deployableCopy(into: string): Promise<void> {
  await Deno.mkdir(`${into}/supabase`, { recursive: true });
  await Deno.copyFile(`${root}supabase/config.toml`, `${into}/supabase/config.toml`);
  await copyTree(`${root}supabase/functions`, `${into}/supabase/functions`);
  await copyTree(`${root}shared`, `${into}/shared`);
}

function kb(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KB`;
}

Deno.test('deploy: the pinned Supabase CLI uploads each function graph and nothing dev-only', async () => {
  const names = await functionNames();
  assert.deepEqual(names, ['health', 'optimizer', 'robots', 'strategies', 'warmup']);
  const graphs = new Map(
    await Promise.all(names.map(async (n) => [n, await localGraph(n)] as const)),
  );
  const bundleDir = await Deno.makeTempDir({ prefix: 'qf-deploy-bundle-' });
  const bundles = new Map<string, { raw: number; gzip: number }>();
  try {
    for (const name of names) bundles.set(name, await bundledSize(name, bundleDir));
  } finally {
    await Deno.remove(bundleDir, { recursive: true });
  }

  const outsideCopy = [...graphs.values()].flat().filter((module) =>
    !module.startsWith('supabase/functions/') && !module.startsWith('shared/')
  );
  assert.deepEqual(outsideCopy, [], 'graph modules outside supabase/functions/ and shared/');

  const api = startManagementApi();
  const trap = startEgressTrap();
  const home = await Deno.makeTempDir({ prefix: 'qf-deploy-home-' });
  const workdir = `${home}/project`;
  let output = '';
  let code = -1;
  try {
    // A CLI profile: a YAML file with the API's URL (name, api_url, dashboard_url and
    // project_host are required); SUPABASE_PROFILE takes its path.
    await deployableCopy(workdir);
    const profile = `${home}/management-api-stand-in.yaml`;
    await Deno.writeTextFile(
      profile,
      [
        'name: management-api-stand-in',
        `api_url: ${api.url}`,
        `dashboard_url: ${api.url}/dashboard`,
        'project_host: localhost',
        '',
      ].join('\n'),
    );
    const result = await new Deno.Command(cli, {
      args: ['functions', 'deploy', '--use-api', `--remote=${api.projectRef}`, '--yes'],
      cwd: workdir,
      clearEnv: true,
      env: {
        PATH: Deno.env.get('PATH') ?? '/usr/bin:/bin',
        HOME: home, // no login, profile or telemetry state of the machine's user
        SUPABASE_HOME: `${home}/.supabase`,
        SUPABASE_PROFILE: profile,
        SUPABASE_ACCESS_TOKEN: api.accessToken,
        SUPABASE_TELEMETRY_DISABLED: '1',
        DO_NOT_TRACK: '1',
        SUPABASE_TELEMETRY_POSTHOG_HOST: api.url, // if it sent anyway: an unexpected route
        SUPABASE_NO_UPDATE_NOTIFIER: '1',
        // Everything not on loopback goes to the trap, which records it and answers nothing.
        HTTP_PROXY: trap.url,
        HTTPS_PROXY: trap.url,
        http_proxy: trap.url,
        https_proxy: trap.url,
        NO_PROXY: '127.0.0.1,localhost',
        no_proxy: '127.0.0.1,localhost',
        NO_COLOR: '1',
        CI: '1',
      },
      stdin: 'null',
      stdout: 'piped',
      stderr: 'piped',
      signal: AbortSignal.timeout(CLI_TIMEOUT_MS),
    }).output();
    code = result.code;
    output = new TextDecoder().decode(result.stdout) + new TextDecoder().decode(result.stderr);
  } finally {
    await api.close();
    await trap.close();
    await Deno.remove(home, { recursive: true });
  }

  assert.equal(code, 0, `supabase functions deploy exited ${code}:\n${output}`);
  assert.deepEqual(api.unexpected, [], 'the CLI called routes the stand-in does not implement');
  assert.deepEqual(trap.attempts, [], 'the CLI tried to reach something other than the stand-in');
  const warnings = output.split('\n').filter((line) =>
    !/^Uploading asset \([a-z_-]+\): [\w./-]+$/.test(line) &&
    /warn|failed|error|deprecated|skipping|not found|cannot/i.test(line)
  );
  assert.deepEqual(warnings, [], `the CLI printed warnings:\n${output}`);

  const bySlug = new Map<string, ReceivedDeploy>();
  for (const deploy of api.deploys) {
    assert.ok(!bySlug.has(deploy.slug), `${deploy.slug} was uploaded twice`);
    bySlug.set(deploy.slug, deploy);
  }
  assert.deepEqual([...bySlug.keys()].sort(), names);
  // Several functions: each is uploaded to be bundled only, then all go live in one bulk update.
  assert.ok(api.deploys.every((deploy) => deploy.bundleOnly), api.requests.join('\n'));
  assert.deepEqual(api.bulkUpdates.map((slugs) => [...slugs].sort()), [names]);

  const sizes: string[] = [];
  for (const name of names) {
    const deploy = bySlug.get(name)!;
    assert.equal(deploy.metadata.entrypoint_path, `supabase/functions/${name}/index.ts`);
    assert.equal(deploy.metadata.import_map_path, `supabase/functions/${name}/deno.json`);
    assert.equal(deploy.metadata.verify_jwt, false, `${name}: config.toml sets verify_jwt = false`);
    assert.equal(deploy.contentEncoding, null);

    const uploaded = new Set(deploy.files.map((f) => f.name));
    const graph = graphs.get(name)!;
    assert.ok(graph.includes(`supabase/functions/${name}/index.ts`), `${name}: graph ${graph}`);
    const missing = graph.filter((module) => !uploaded.has(module));
    assert.deepEqual(missing, [], `${name}: modules of its graph that were not uploaded`);
    assert.ok(uploaded.has(`supabase/functions/${name}/deno.json`), `${name}: no import map`);

    const devOnly = [...uploaded].filter((file) => DEV_ONLY.test(file));
    assert.deepEqual(devOnly, [], `${name}: dev-only files uploaded`);
    const mentionsPglite = deploy.files.filter((f) => f.text.includes('@electric-sql/pglite'));
    assert.deepEqual(mentionsPglite.map((f) => f.name), [], `${name}: PGlite in the upload`);
    // Beyond its graph and import map, only shared/: the import map maps `@shared/` to that folder
    // and the CLI uploads a mapped folder whole (the server-side bundler takes only the graph).
    const extra = [...uploaded].filter((file) =>
      !graph.includes(file) && file !== `supabase/functions/${name}/deno.json` &&
      !file.startsWith('shared/')
    );
    assert.deepEqual(extra, [], `${name}: uploaded files outside its graph and shared/`);

    assert.ok(
      deploy.bodyBytes < SERVER_SIDE_BUNDLE_LIMIT_BYTES,
      `${name}: ${deploy.bodyBytes} bytes uploaded, the limit is ${SERVER_SIDE_BUNDLE_LIMIT_BYTES}`,
    );
    assert.ok(deploy.gzipBytes < deploy.bodyBytes);
    const bundle = bundles.get(name)!;
    assert.ok(
      bundle.raw < SERVER_SIDE_BUNDLE_LIMIT_BYTES,
      `${name}: bundled with its npm packages it is ${bundle.raw} bytes`,
    );
    sizes.push(
      `${name}: ${deploy.files.length} files (${graph.length} in its graph), ` +
        `${kb(deploy.bodyBytes)} sent, ${kb(deploy.gzipBytes)} gzip; ` +
        `bundled with npm packages ${kb(bundle.raw)}, ${kb(bundle.gzip)} gzip`,
    );
  }
  console.log(`[deploy] per function (limit ${kb(SERVER_SIDE_BUNDLE_LIMIT_BYTES)}):`);
  for (const line of sizes) console.log(`[deploy]   ${line}`);
});
