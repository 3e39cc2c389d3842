/**
 * The miss path's CPU in one process, without HTTP servers (docs/performance.md, the miss path's
 * third pass): the robots app's `fetch` against bare Hono calling the same repository, 50 callers
 * at a time, `GET /robots/:id` of random public robots, caching off, memory store, rounds
 * alternated; the CPU time of this process (user + system) per request. It moves far less with
 * the machine's load than a server pair's requests per second, so it shows changes of a few
 * microseconds that wrk's rounds hide.
 *
 * - `--db=real` (default): the robots on `<postgres url>` (at least 20,000 generated), the
 *   app's and the reference's queries real;
 * - `--db=fake`: a database answering every query at once with one real row: what the HTTP
 *   layer and the optimizer cost without the driver;
 * - `--bypass-optimizer`: the app's reads call the repository directly (what the optimizer
 *   costs, by difference);
 * - `--only=app|bare`: only that side's rounds (for `--cpu-prof`).
 *
 * ```sh
 * DENO_NO_PACKAGE_JSON=1 ./node_modules/.bin/deno run -A bench/hot_path/miss_inprocess.ts \
 *   <postgres url> [--db=real|fake] [--rounds=5] [--requests=3000] [--bypass-optimizer]
 * ```
 *
 * A database to point it at: `deno run -A scripts/services/postgres.ts` (prints the URL).
 *
 * @module
 */
import process from 'node:process';

const args = Deno.args;
const url = args.find((a) => !a.startsWith('--'));
const option = (name: string, fallback: string) =>
  args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
if (!url) throw new Error('usage: miss_inprocess.ts <postgres url> [--db=real|fake] ...');
const fake = option('db', 'real') === 'fake';
const rounds = Number(option('rounds', '5'));
const requests = Number(option('requests', fake ? '10000' : '3000'));
const only = option('only', '');

Deno.env.set('SUPABASE_DB_URL', url);
Deno.env.set('QF_ENABLE_PREDICTIVE_CACHING', 'false');
Deno.env.set('QF_RATELIMIT_ENABLED', 'false');
// In one process the app answers more than the default 10,000 calls a second: not the subject.
Deno.env.set('QF_THROTTLE_LIMIT', '1000000');
Deno.env.set('LOCAL_CRON', 'off');
Deno.env.delete('UPSTASH_REDIS_REST_URL');

const { default: postgres } = await import('postgres');
const sql = postgres(url, { max: 1, onnotice: () => {}, prepare: false });
const [{ n }] = await sql<{ n: number }[]>`select count(*)::int as n from public.robots`;
if (n < 20_000) await sql`select public.generate_demo_robots(${20_000 - n}::int, 1000)`;
const ids = (await sql<{ id: string }[]>`
  select id::text as id from public.robots where is_public limit 5000`).map((r) => r.id);
await sql.end();

const { createPostgresDatabase, RobotsRepository } = await import('../../shared/db/mod.ts');
const { ANON_CALLER } = await import('../../shared/http/caller.ts');
type Db = ReturnType<typeof createPostgresDatabase>;
let db: Db = createPostgresDatabase(url);
if (fake) {
  const real = db;
  let row: Record<string, unknown> | undefined;
  const spy = Object.create(real) as Db;
  spy.asUser = (claims, fn) =>
    real.asUser(claims, (tx) =>
      fn(
        {
          query: async (text, params) => {
            const rows = await tx.query(text, params);
            row ??= rows[0];
            return rows;
          },
        } as typeof tx,
      ));
  await new RobotsRepository(spy).getById(ANON_CALLER, ids[0]);
  await real.close();
  if (!row) throw new Error('no robot read');
  const tx = { query: () => Promise.resolve([{ ...row }]) };
  db = {
    backend: 'postgres',
    query: () => Promise.resolve([]),
    asUser: (_claims: unknown, fn: (t: unknown) => Promise<unknown>) =>
      Promise.resolve().then(() => fn(tx)),
    transaction: (fn: (t: unknown) => Promise<unknown>) => Promise.resolve().then(() => fn(tx)),
    ping: () => Promise.resolve({ ok: true }),
    close: () => Promise.resolve(),
  } as unknown as Db;
}
if (args.includes('--bypass-optimizer')) {
  const { advancedBackendOptimizer } = await import('../../shared/optimizer/mod.ts');
  advancedBackendOptimizer.executeOptimizedOperationDetailed = async (_client, operation) => ({
    value: await operation(),
    cache: undefined,
    throttle: 'disabled',
    originCalled: true,
    durationMs: 0,
  });
}
const { createRobotsApp } = await import('../../supabase/functions/robots/app.ts');
const app = createRobotsApp({ db: () => Promise.resolve(db) });
const { Hono } = await import('hono');
const repo = new RobotsRepository(db);
const bare = new Hono();
bare.get('/robots/:id', async (c) => {
  const robot = await repo.getById(ANON_CALLER, c.req.param('id'));
  return robot ? c.json(robot) : c.json({ error: 'not found' }, 404);
});
const info = { remoteAddr: { hostname: '127.0.0.1', port: 1, transport: 'tcp' } };
const servers = {
  bare: (r: Request) => bare.fetch(r, info),
  app: (r: Request) => app.fetch(r, info),
};

/** `count` requests, 50 at a time; CPU microseconds per request and the non-200 answers. */
async function run(kind: 'bare' | 'app', count: number) {
  let started = 0;
  let failed = 0;
  const caller = async () => {
    while (started < count) {
      started++;
      const id = ids[(Math.random() * ids.length) | 0];
      const response = await servers[kind](new Request(`http://127.0.0.1/robots/${id}`));
      if (response.status !== 200) failed++;
      await response.text();
    }
  };
  const before = process.cpuUsage();
  await Promise.all(Array.from({ length: 50 }, caller));
  const cpu = process.cpuUsage(before);
  return { us: (cpu.user + cpu.system) / count, failed };
}

await run('bare', 2000);
await run('app', 2000);
const kinds: ('bare' | 'app')[] = only === 'app' || only === 'bare' ? [only] : ['bare', 'app'];
const cpu: Record<'bare' | 'app', number[]> = { bare: [], app: [] };
for (let round = 0; round < rounds; round++) {
  for (const kind of kinds) {
    const result = await run(kind, requests);
    cpu[kind].push(Number(result.us.toFixed(1)));
    if (result.failed) console.error(`${kind}: ${result.failed} answers not 200`);
  }
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];
const ratios = cpu.app.map((app, i) => app / cpu.bare[i]).filter(Number.isFinite);
console.log(JSON.stringify({
  db: fake ? 'fake' : 'real',
  bypassOptimizer: args.includes('--bypass-optimizer'),
  cpuUsPerRequest: cpu,
  median: { bare: median(cpu.bare), app: median(cpu.app) },
  ratioMedian: ratios.length ? Number(median(ratios).toFixed(3)) : null,
}));
Deno.exit(0);
