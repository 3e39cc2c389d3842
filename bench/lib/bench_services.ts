/**
 * The services a benchmark script needs: the runner's shared ones when `npm run bench`
 * (bench/run.ts) passes them in the environment (`QF_BENCH_REDIS_URL`, `UPSTASH_REDIS_REST_URL`
 * + `UPSTASH_REDIS_REST_TOKEN`, `QF_BENCH_DB_URL`), else its own, started like the tests start
 * theirs (scripts/services/*) and stopped by PID with {@link BenchServices.stop}.
 *
 * @module
 */
import { startRedisServer } from '../../scripts/services/redis.ts';
import { applyMigrations, startPostgres } from '../../scripts/services/postgres.ts';
import { generateRobots } from '../../scripts/generate-robots.ts';

/** A redis-server and the Upstash REST bridge in front of it. */
export interface BenchRedis {
  /** `redis://127.0.0.1:<port>` of the redis-server. */
  redisUrl: string;
  /** The bridge (`UPSTASH_REDIS_REST_URL`). */
  restUrl: string;
  restToken: string;
  /** Whether this script started them (false: the runner's shared ones). */
  own: boolean;
}

/** A PostgreSQL 15 with migrations applied and generated robots. */
export interface BenchDb {
  url: string;
  robots: number;
  own: boolean;
}

/** What {@link benchServices} started; `stop` stops only what this script started. */
export interface BenchServices {
  redis?: BenchRedis;
  db?: BenchDb;
  stop(): Promise<void>;
}

/**
 * Uses the runner's services from the environment, or starts the missing ones.
 *
 * @example
 * ```ts
 * const services = await benchServices({ redis: true, db: { robots: 20_000 } });
 * try { ... services.redis!.restUrl ... } finally { await services.stop(); }
 * ```
 */
export async function benchServices(need: {
  redis?: boolean;
  /** Robots to generate when this script starts its own database. */
  db?: { robots: number };
}): Promise<BenchServices> {
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => {});
  };
  const out: BenchServices = { stop };
  try {
    if (need.redis) {
      const redisUrl = Deno.env.get('QF_BENCH_REDIS_URL');
      const restUrl = Deno.env.get('UPSTASH_REDIS_REST_URL');
      const restToken = Deno.env.get('UPSTASH_REDIS_REST_TOKEN');
      if (redisUrl && restUrl && restToken) {
        out.redis = { redisUrl, restUrl, restToken, own: false };
      } else {
        const server = await startRedisServer();
        stops.push(() => server.stop());
        const token = `bench-${crypto.randomUUID()}`;
        const bridge = await spawnBridge(server.url, token);
        stops.push(() => bridge.stop());
        out.redis = { redisUrl: server.url, restUrl: bridge.url, restToken: token, own: true };
      }
    }
    if (need.db) {
      const url = Deno.env.get('QF_BENCH_DB_URL');
      if (url) {
        out.db = { url, robots: Number(Deno.env.get('QF_BENCH_ROBOTS') ?? NaN), own: false };
      } else {
        const pg = await startPostgres({ withCron: false });
        stops.push(() => pg.stop());
        await applyMigrations(pg.url);
        await generateRobots(pg.url, need.db.robots, Math.max(10, need.db.robots / 1000));
        out.db = { url: pg.url, robots: need.db.robots, own: true };
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return out;
}

/**
 * Starts the Upstash REST bridge (scripts/redis-bridge.ts) as a child process, as the runner
 * does: in the benchmark's own process it would share its event loop and inflate every store
 * round trip measured.
 */
async function spawnBridge(
  redisUrl: string,
  token: string,
): Promise<{ url: string; stop(): Promise<void> }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ['run', '-A', new URL('../../scripts/redis-bridge.ts', import.meta.url).pathname],
    env: {
      DENO_NO_PACKAGE_JSON: '1',
      REDIS_URL: redisUrl,
      UPSTASH_REDIS_REST_TOKEN: token,
      UPSTASH_BRIDGE_PORT: '0',
    },
    stdout: 'piped',
    stderr: 'inherit',
  }).spawn();
  const stop = async () => {
    try {
      child.kill('SIGTERM');
    } catch {
      // already gone
    }
    await child.status;
  };
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  const deadline = setTimeout(() => stop(), 30_000);
  try {
    while (!/UPSTASH_REDIS_REST_URL=(\S+)/.test(text)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the bridge exited before it was ready: ${text}`);
      text += value;
    }
  } catch (error) {
    await stop();
    throw error;
  } finally {
    clearTimeout(deadline);
  }
  // Keep draining its output so it never blocks on a full pipe.
  (async () => {
    while (!(await reader.read().catch(() => ({ done: true }))).done) { /* drain */ }
  })();
  return { url: /UPSTASH_REDIS_REST_URL=(\S+)/.exec(text)![1], stop };
}

/** Whether the run is quick: `--quick` or `QF_BENCH_QUICK=1`. */
export function isQuick(args: string[] = Deno.args): boolean {
  return args.includes('--quick') || Deno.env.get('QF_BENCH_QUICK') === '1';
}
