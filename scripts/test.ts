/**
 * The test runner (`npm test`, `deno task test`).
 *
 * 1. Installs what is missing on this machine kind (`redis-server`, `postgresql-15-cron` through
 *    apt-get when running as root; otherwise it stops naming the package to install).
 * 2. Starts a real `redis-server`, the Upstash REST bridge in front of it and a PostgreSQL 15
 *    cluster, each on a free loopback port; applies the bootstrap SQL and the migrations with the
 *    real Supabase CLI, and checks they were applied.
 * 3. Runs `deno check`, `deno lint`, `deno fmt --check`, then under the edge runtime's Deno
 *    (`tools/edge-deno`) a type check of every function and the health and robots smoke tests,
 *    then every test under `tests/`, passing the servers as `TEST_*` variables.
 * 4. Stops every server it started, also on failure or Ctrl-C, and prints, alone on its last
 *    line, `N passed, N failed` (each static check counts as one test).
 *
 * Other arguments go to `deno test` (e.g. `npm test -- tests/unit/cache_test.ts --filter hit`);
 * `--no-static` skips check/lint/fmt.
 *
 * @module
 */
import { ensureRedisInstalled, startRedisServer } from './services/redis.ts';
import { ensureChromiumInstalled } from './services/chromium.ts';
import { startRedisBridge } from './redis-bridge.ts';
import { applyMigrations, ensurePostgresReady, startPostgres } from './services/postgres.ts';

const root = new URL('../', import.meta.url).pathname;
const deno = Deno.execPath();

interface Stoppable {
  name: string;
  stop(): Promise<void>;
}

const started: Stoppable[] = [];

async function stopAll(): Promise<void> {
  while (started.length) {
    const service = started.pop()!;
    try {
      await service.stop();
    } catch (error) {
      console.error(`[test] stopping ${service.name} failed:`, error);
    }
  }
}

async function run(
  label: string,
  args: string[],
  env: Record<string, string> = {},
  binary = deno,
): Promise<{ ok: boolean; output: string }> {
  console.log(`\n[test] ${label}: deno ${args.join(' ')}`);
  const child = new Deno.Command(binary, {
    args,
    cwd: root,
    env: { ...env, NO_COLOR: '1' },
    stdout: 'piped',
    stderr: 'inherit',
  }).spawn();
  const chunks: string[] = [];
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout) {
    const text = decoder.decode(chunk, { stream: true });
    chunks.push(text);
    await Deno.stdout.write(chunk);
  }
  const status = await child.status;
  return { ok: status.success, output: chunks.join('') };
}

/**
 * The Deno that Supabase's edge runtime embeds (2.1.4 in edge-runtime v1.78.1, the image the
 * pinned CLI names), installed in `tools/edge-deno` (its own package and lockfile, so the root's
 * `node_modules/.bin/deno` stays the project's Deno).
 */
const edgeDeno = `${root}tools/edge-deno/node_modules/deno/deno`;

/**
 * Under the edge runtime's Deno: type-checks every function with its own import map (one
 * count), then runs the health and robots smoke tests (counted as deno test counts them), so a
 * newer-Deno-only API cannot slip in.
 */
async function runUnderEdgeDeno(counts: Counts): Promise<void> {
  // Deno 2.1 trusts only its bundled CA roots by default; the system store is what 2.9 uses.
  const env = { DENO_TLS_CA_STORE: 'system', DENO_NO_PACKAGE_JSON: '1' };
  const functions: string[] = [];
  for await (const entry of Deno.readDir(`${root}supabase/functions`)) {
    if (entry.isDirectory && !entry.name.startsWith('_') && !entry.name.startsWith('.')) {
      functions.push(entry.name);
    }
  }
  let checked = true;
  for (const name of functions.sort()) {
    const dir = `supabase/functions/${name}`;
    const args = ['check', '--no-lock', '--config', `${dir}/deno.json`, `${dir}/index.ts`];
    checked = (await run(`edge runtime Deno: check ${name}`, args, env, edgeDeno)).ok && checked;
  }
  if (checked) counts.passed++;
  else counts.failed++;
  const smoke = await run(
    'edge runtime Deno: smoke tests',
    [
      'test',
      '-A',
      '--no-lock',
      'tests/unit/health_test.ts',
      'tests/integration/robots_read_smoke_test.ts',
    ],
    env,
    edgeDeno,
  );
  const summary = parseDenoTestSummary(smoke.output);
  counts.passed += summary?.passed ?? 0;
  counts.failed += summary && (smoke.ok || summary.failed) ? summary.failed : 1;
}

/** Reads deno test's closing line: `ok | 12 passed (3 steps) | 0 failed | 1 ignored (2s)`. */
export function parseDenoTestSummary(output: string): { passed: number; failed: number } | null {
  const lines = output.trim().split('\n').reverse();
  for (const line of lines) {
    const match = /^(ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/.exec(
      line.trim(),
    );
    if (match) return { passed: Number(match[2]), failed: Number(match[3]) };
  }
  return null;
}

interface Counts {
  passed: number;
  failed: number;
}

async function main(counts: Counts): Promise<void> {
  // `--no-static` is the runner's; everything else (files, --filter ...) goes to deno test.
  const runStatic = !Deno.args.includes('--no-static');
  const testArgs = Deno.args.filter((arg) => arg !== '--no-static' && arg !== '--');
  await ensureRedisInstalled();
  await ensurePostgresReady();
  await ensureChromiumInstalled();

  const redis = await startRedisServer();
  started.push({ name: 'redis-server', stop: redis.stop });
  console.log(`[test] redis-server ${redis.url} (pid ${redis.pid})`);

  const token = `test-${crypto.randomUUID()}`;
  const bridge = await startRedisBridge({ redisUrl: redis.url, token });
  started.push({ name: 'upstash bridge', stop: bridge.close });
  console.log(`[test] Upstash REST bridge ${bridge.url} -> ${redis.url}`);

  const postgres = await startPostgres();
  started.push({ name: 'postgresql', stop: postgres.stop });
  console.log(
    `[test] PostgreSQL ${postgres.version ?? '15'} at ${
      postgres.url.replace(/:[^:@/]+@/, ':***@')
    }`,
  );
  const applied = await applyMigrations(postgres.url);
  console.log(`[test] Supabase CLI applied ${applied.length} migrations: ${applied.join(', ')}`);

  if (runStatic) {
    for (
      const [label, args] of [
        ['type check', ['task', '--quiet', 'check']],
        ['lint', ['lint']],
        ['format', ['fmt', '--check']],
      ] as const
    ) {
      const result = await run(label, [...args]);
      if (result.ok) counts.passed++;
      else counts.failed++;
    }
    await runUnderEdgeDeno(counts);
  }

  const env = {
    TEST_REDIS_URL: redis.url,
    TEST_UPSTASH_URL: bridge.url,
    TEST_UPSTASH_TOKEN: token,
    TEST_DATABASE_URL: postgres.url,
  };
  const tests = await run('tests', [
    'test',
    '-A',
    '--parallel',
    ...(testArgs.length ? testArgs : ['tests/']),
  ], env);
  const summary = parseDenoTestSummary(tests.output);
  if (summary) {
    counts.passed += summary.passed;
    counts.failed += summary.failed;
    if (!tests.ok && summary.failed === 0) counts.failed++; // e.g. a leak or an uncaught error
  } else {
    console.error('[test] deno test printed no summary line: counted as one failure');
    counts.failed++;
  }
  console.log(
    `\n[test] tests ran against real servers: redis-server ${redis.url} (via the bridge ${bridge.url}), PostgreSQL ${
      postgres.version ?? '15'
    } on port ${postgres.port}`,
  );
}

if (import.meta.main) {
  const counts: Counts = { passed: 0, failed: 0 };
  const interrupt = async () => {
    await stopAll();
    console.log('interrupted');
    Deno.exit(130);
  };
  Deno.addSignalListener('SIGINT', interrupt);
  Deno.addSignalListener('SIGTERM', interrupt);
  try {
    await main(counts);
  } catch (error) {
    console.error('[test] the runner failed:', error instanceof Error ? error.message : error);
    counts.failed++;
  } finally {
    await stopAll();
  }
  // Alone on the last line, for CI.
  console.log(`${counts.passed} passed, ${counts.failed} failed`);
  Deno.exit(counts.failed === 0 ? 0 : 1);
}
