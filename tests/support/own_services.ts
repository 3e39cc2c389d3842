/**
 * A test file's own PostgreSQL 15 cluster, redis-server and Upstash REST bridge, which it may
 * stop, pause, kill and restart without disturbing the test files running in parallel on the
 * runner's shared servers.
 *
 * @module
 */
import { startRedisBridge } from '../../scripts/redis-bridge.ts';
import { startRedisServer } from '../../scripts/services/redis.ts';
import { applyMigrations, startPostgres } from '../../scripts/services/postgres.ts';
import postgres from 'postgres';

const PG_BIN = '/usr/lib/postgresql/15/bin';

function alive(pid: number): boolean {
  try {
    Deno.kill(pid, 'SIGCONT');
    return true;
  } catch {
    return false;
  }
}

async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive(pid)) return true;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return !alive(pid);
}

/** A cluster this test owns: it can stop it (fast shutdown) and start it again on its port. */
export interface OwnPostgres {
  /** Superuser URL. */
  url: string;
  port: number;
  /** Fast shutdown (SIGINT to the postmaster: sessions are cut, as in an outage). */
  stopFast(): Promise<void>;
  /** Starts the stopped cluster again on the same port and data. */
  start(): Promise<void>;
  /** One superuser connection for checks (snapshots, pg_stat_statements). */
  sql: postgres.Sql;
  /** Resolves once the bootstrap SQL and every migration are applied. */
  ready: Promise<void>;
  /** Stops everything and removes the data. */
  stop(): Promise<void>;
}

/**
 * Starts a fresh cluster (about 1 s); the bootstrap SQL and migrations follow (`ready`).
 *
 * @example
 * ```ts
 * const pg = await startOwnPostgres();
 * await pg.ready;
 * await pg.stopFast(); ...; await pg.start();
 * await pg.stop();
 * ```
 */
export async function startOwnPostgres(): Promise<OwnPostgres> {
  const pg = await startPostgres({ withCron: false });
  // Migrations run while the caller starts what needs the URL (a dev server connects lazily);
  // `ready` resolves once they are applied.
  const ready = applyMigrations(pg.url).then(() => {});
  ready.catch(() => {}); // reported through `ready`
  const probe = postgres(pg.url, { max: 1, onnotice: () => {} });
  const [{ data_directory: dataDir }] = await probe`show data_directory`;
  await probe.end({ timeout: 5 });
  let postmaster: number | undefined = pg.pid;
  const sql = postgres(pg.url, {
    max: 2,
    onnotice: () => {},
    connect_timeout: 2,
    idle_timeout: 1,
  });
  const readPid = async () =>
    Number((await Deno.readTextFile(`${dataDir}/postmaster.pid`)).split('\n')[0]);
  return {
    url: pg.url,
    port: pg.port,
    sql,
    ready,
    async stopFast() {
      if (postmaster === undefined) return;
      Deno.kill(postmaster, 'SIGINT');
      if (!await waitGone(postmaster, 15_000)) Deno.kill(postmaster, 'SIGQUIT');
      await waitGone(postmaster, 5_000);
      postmaster = undefined;
    },
    async start() {
      if (postmaster !== undefined) return;
      const args = ['-D', dataDir, '-l', `${dataDir}/../restart.log`, '-w', '-t', '30', 'start'];
      const [cmd, finalArgs] = Deno.uid?.() === 0
        ? ['runuser', ['-u', 'postgres', '--', `${PG_BIN}/pg_ctl`, ...args]]
        : [`${PG_BIN}/pg_ctl`, args];
      const out = await new Deno.Command(cmd, { args: finalArgs, stdout: 'piped', stderr: 'piped' })
        .output();
      if (out.code !== 0) {
        throw new Error(`pg_ctl start failed: ${new TextDecoder().decode(out.stderr)}`);
      }
      postmaster = await readPid();
    },
    async stop() {
      await ready.catch(() => {});
      await sql.end({ timeout: 1 }).catch(() => {});
      // pg.stop() knows only the first postmaster: stop a restarted one first.
      if (postmaster !== undefined && postmaster !== pg.pid) {
        Deno.kill(postmaster, 'SIGINT');
        if (!await waitGone(postmaster, 10_000)) Deno.kill(postmaster, 'SIGKILL');
        await waitGone(postmaster, 5_000);
      }
      await pg.stop();
    },
  };
}

/** A redis-server and a bridge this test owns, for pauses, kills and bridge outages. */
export interface OwnRedis {
  /** The bridge's URL (`UPSTASH_REDIS_REST_URL`). */
  url: string;
  token: string;
  /** SIGSTOP: Redis holds every connection without answering. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** SIGKILL only; {@link restartRedis} brings it back on the same port with its data. */
  kill(): Promise<void>;
  restartRedis(): Promise<void>;
  /** Stops the bridge (connections refused); {@link startBridge} brings it back on its port. */
  stopBridge(): Promise<void>;
  startBridge(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts a redis-server and an Upstash REST bridge in front of it.
 *
 * @example
 * ```ts
 * const redis = await startOwnRedis();
 * redis.pause(); ...; redis.resume();
 * await redis.stop();
 * ```
 */
export async function startOwnRedis(options: { durable?: boolean } = {}): Promise<OwnRedis> {
  // Durable like Upstash (`durable: true`, the fault suite): every write reaches the append-only
  // file before Redis answers, so a killed Redis restarts with its data (a flushed cache would
  // hide lost invalidations). An fsync per write is slow on a loaded machine: store calls then
  // pass the cache's 150 ms bound and fail open, so suites that never kill Redis skip it.
  const dataDir = await Deno.makeTempDir({ prefix: 'qf-own-redis-' });
  const extraArgs = options.durable
    ? ['--dir', dataDir, '--appendonly', 'yes', '--appendfsync', 'always']
    : ['--dir', dataDir];
  let server = await startRedisServer({ extraArgs });
  const port = server.port;
  const token = `own-${crypto.randomUUID()}`;
  const bridgeOptions = {
    redisUrl: server.url,
    token,
    // A paused Redis must not hold the bridge's connections for long.
    commandTimeoutMs: 1_000,
    poolSize: 16,
  };
  let bridge: Awaited<ReturnType<typeof startRedisBridge>> | undefined = await startRedisBridge(
    bridgeOptions,
  );
  const bridgePort = bridge.port;
  let paused = false;
  return {
    url: bridge.url,
    token,
    pause() {
      Deno.kill(server.pid, 'SIGSTOP');
      paused = true;
    },
    resume() {
      Deno.kill(server.pid, 'SIGCONT');
      paused = false;
    },
    async kill() {
      await server.kill();
    },
    async restartRedis() {
      server = await startRedisServer({ port, extraArgs });
    },
    async stopBridge() {
      await bridge?.close();
      bridge = undefined;
    },
    async startBridge() {
      bridge ??= await startRedisBridge({ ...bridgeOptions, port: bridgePort });
    },
    async stop() {
      if (paused) Deno.kill(server.pid, 'SIGCONT');
      await bridge?.close();
      await server.stop();
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    },
  };
}
