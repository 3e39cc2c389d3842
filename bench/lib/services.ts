/**
 * The shared services of a benchmark run: a real redis-server with the Upstash REST bridge in
 * front of it, and PostgreSQL 15 with the migrations applied and N generated robots.
 *
 * `bench/run.ts` starts them once and hands them to every script through the env contract
 * ({@link benchEnv}); a script run alone calls {@link benchRedis} / {@link benchDatabase}, which
 * use the env when it is set and otherwise start their own (stopped by `stop()`).
 *
 * | variable | meaning |
 * |---|---|
 * | `QF_BENCH_REDIS_URL` | `redis://127.0.0.1:<port>` of a real redis-server |
 * | `UPSTASH_REDIS_REST_URL`, `UPSTASH_REDIS_REST_TOKEN` | the bridge in front of it |
 * | `QF_BENCH_DB_URL` | PostgreSQL 15, migrations applied, `QF_BENCH_ROBOTS` robots |
 * | `QF_BENCH_ROBOTS` | how many robots were generated |
 * | `QF_BENCH_QUICK` | `1` in `--quick` runs |
 *
 * @module
 */
import postgres from 'postgres';
import { applyMigrations, startPostgres } from '../../scripts/services/postgres.ts';
import { startRedisServer } from '../../scripts/services/redis.ts';
import { startRedisBridge } from '../../scripts/redis-bridge.ts';

/** Robots in the shared database: 1,000,000 in a full run, fewer in `--quick`. */
export const FULL_ROBOTS = 1_000_000;
export const QUICK_ROBOTS = 50_000;
/** Demo users the robots are spread over (`generate_demo_robots(n, users)`). */
export const ROBOT_USERS = 1000;

/** Redis and the bridge, from the env or started here. */
export interface BenchRedis {
  redisUrl: string;
  restUrl: string;
  restToken: string;
  /** `redis-server` version, e.g. `7.0.15`. */
  version: string;
  /** Stops what this call started (nothing when it came from the env). */
  stop(): Promise<void>;
}

/** PostgreSQL with robots, from the env or started here. */
export interface BenchDatabase {
  url: string;
  robots: number;
  /** `server_version`, e.g. `15.14 (Debian 15.14-0+deb12u1)`. */
  version: string;
  /** Seconds spent generating the robots (0 when they came from the env). */
  generateSeconds: number;
  stop(): Promise<void>;
}

const env = (name: string): string | undefined => Deno.env.get(name) || undefined;

async function redisVersion(): Promise<string> {
  try {
    const out = await new Deno.Command('redis-server', { args: ['--version'] }).output();
    return new TextDecoder().decode(out.stdout).match(/v=(\S+)/)?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * Redis + bridge: `QF_BENCH_REDIS_URL` and `UPSTASH_REDIS_REST_URL`/`_TOKEN` when set, else a
 * fresh redis-server on a free loopback port and the bridge in this process.
 *
 * @example
 * ```ts
 * const redis = await benchRedis();
 * try { console.log(redis.restUrl); } finally { await redis.stop(); }
 * ```
 */
export async function benchRedis(): Promise<BenchRedis> {
  const version = await redisVersion();
  const redisUrl = env('QF_BENCH_REDIS_URL');
  const restUrl = env('UPSTASH_REDIS_REST_URL');
  const restToken = env('UPSTASH_REDIS_REST_TOKEN');
  if (redisUrl && restUrl && restToken) {
    return { redisUrl, restUrl, restToken, version, stop: () => Promise.resolve() };
  }
  const redis = await startRedisServer();
  const bridge = await startRedisBridge({ redisUrl: redis.url, token: 'qf-bench-token' });
  return {
    redisUrl: redis.url,
    restUrl: bridge.url,
    restToken: bridge.token,
    version,
    async stop() {
      await bridge.close();
      await redis.stop();
    },
  };
}

/**
 * PostgreSQL 15 with robots: `QF_BENCH_DB_URL` (+ `QF_BENCH_ROBOTS`) when set, else a fresh
 * cluster with the migrations and `robots` generated robots (`scripts/generate-robots.ts`).
 *
 * @example
 * ```ts
 * const db = await benchDatabase({ robots: 50_000 });
 * try { console.log(db.url, db.robots); } finally { await db.stop(); }
 * ```
 */
export async function benchDatabase(
  options: { robots: number; log?: (line: string) => void },
): Promise<BenchDatabase> {
  const given = env('QF_BENCH_DB_URL');
  if (given) {
    return {
      url: given,
      robots: Number(env('QF_BENCH_ROBOTS') ?? options.robots),
      version: await serverVersion(given),
      generateSeconds: 0,
      stop: () => Promise.resolve(),
    };
  }
  const pg = await startPostgres({ settings: { shared_buffers: '256MB' } });
  try {
    const t0 = performance.now();
    await applyMigrations(pg.url);
    options.log?.(`migrations applied in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const generated = await generateRobotsBulk(pg.url, options.robots, ROBOT_USERS);
    const generateSeconds = generated.seconds;
    options.log?.(
      `${generated.inserted} robots generated in ${generated.generateSeconds.toFixed(1)} s, ` +
        `indexes rebuilt in ${generated.indexSeconds.toFixed(1)} s (${generated.totalSize})`,
    );
    return {
      url: pg.url,
      robots: generated.inserted,
      version: pg.version,
      generateSeconds,
      stop: () => pg.stop(),
    };
  } catch (error) {
    await pg.stop();
    throw error;
  }
}

/**
 * `public.generate_demo_robots(n, users)` with the robots' secondary indexes dropped first and
 * rebuilt from their own definitions afterwards (a bulk build is several times faster than n
 * inserts into seven indexes, two of them trigram GIN), then ANALYZE.
 */
async function generateRobotsBulk(url: string, count: number, users: number) {
  const sql = postgres(url, { max: 1, onnotice: () => {}, prepare: false });
  try {
    const indexes = await sql<{ name: string; definition: string }[]>`
      select indexname as name, indexdef as definition from pg_indexes
       where schemaname = 'public' and tablename = 'robots' and indexname <> 'robots_pkey'`;
    for (const index of indexes) await sql.unsafe(`drop index public.${index.name}`);
    let t0 = performance.now();
    const [{ inserted }] = await sql<{ inserted: string }[]>`
      select public.generate_demo_robots(${count}::int, ${users}::int) as inserted`;
    const generateSeconds = (performance.now() - t0) / 1000;
    t0 = performance.now();
    await sql`set maintenance_work_mem = '256MB'`;
    for (const index of indexes) await sql.unsafe(index.definition);
    await sql`analyze public.robots`;
    const indexSeconds = (performance.now() - t0) / 1000;
    const [{ size }] = await sql<{ size: string }[]>`
      select pg_size_pretty(pg_total_relation_size('public.robots')) as size`;
    return {
      inserted: Number(inserted),
      generateSeconds,
      indexSeconds,
      seconds: generateSeconds + indexSeconds,
      totalSize: size,
    };
  } finally {
    await sql.end({ timeout: 5 });
  }
}

async function serverVersion(url: string): Promise<string> {
  const sql = postgres(url, { max: 1, onnotice: () => {}, prepare: false });
  try {
    const [{ server_version }] = await sql<{ server_version: string }[]>`show server_version`;
    return server_version;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** The env contract of the runner, for a child script. */
export function benchEnv(
  redis: BenchRedis,
  db: BenchDatabase | undefined,
  quick: boolean,
): Record<string, string> {
  return {
    QF_BENCH_REDIS_URL: redis.redisUrl,
    UPSTASH_REDIS_REST_URL: redis.restUrl,
    UPSTASH_REDIS_REST_TOKEN: redis.restToken,
    ...(db ? { QF_BENCH_DB_URL: db.url, QF_BENCH_ROBOTS: String(db.robots) } : {}),
    ...(quick ? { QF_BENCH_QUICK: '1' } : {}),
  };
}

/** Robots a section should expect: the env's count, else full/quick default. */
export function robotsFor(quick: boolean): number {
  const given = Number(env('QF_BENCH_ROBOTS'));
  if (Number.isInteger(given) && given > 0) return given;
  return quick ? QUICK_ROBOTS : FULL_ROBOTS;
}

/** A free loopback TCP port. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: '127.0.0.1', port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}
