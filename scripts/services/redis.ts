/**
 * A real `redis-server` for development and tests: started on a free loopback port in a temp
 * dir, with no persistence, and stopped (or killed, for fault tests) by its PID.
 *
 * @module
 */
import { freePort } from './process.ts';

/** Options of {@link startRedisServer}. */
export interface StartRedisServerOptions {
  /** Port to listen on; `0` picks a free one. @default 0 */
  port?: number;
  /** The `redis-server` executable. @default 'redis-server' */
  command?: string;
  /** Longest wait for the first `PING` answer. @default 10_000 */
  startTimeoutMs?: number;
  /** More `redis-server` arguments, e.g. `['--maxmemory', '64mb']`. @default [] */
  extraArgs?: string[];
}

/** A running redis-server. */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>`. */
  url: string;
  port: number;
  pid: number;
  /** Graceful shutdown (SIGTERM, SIGKILL after 5 s), then removes the temp dir. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL at once (fault tests), then removes the temp dir. Idempotent. */
  kill(): Promise<void>;
}

/** The Debian package that provides `redis-server`. */
export const REDIS_PACKAGE = 'redis-server';

/**
 * Starts a `redis-server` on 127.0.0.1 (free port, temp dir, `--save '' --appendonly no`) and
 * resolves once it answers `PING`. A port taken between picking and binding is retried.
 *
 * @example
 * ```ts
 * const redis = await startRedisServer();
 * try {
 *   console.log(redis.url); // redis://127.0.0.1:40123
 * } finally {
 *   await redis.stop();
 * }
 * ```
 */
export async function startRedisServer(
  options: StartRedisServerOptions = {},
): Promise<RedisServer> {
  const attempts = options.port ? 1 : 3;
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      return await startOnce(options);
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

async function startOnce(options: StartRedisServerOptions): Promise<RedisServer> {
  const port = options.port || freePort();
  const startTimeoutMs = options.startTimeoutMs ?? 10_000;
  const dir = await Deno.makeTempDir({ prefix: 'qf-redis-' });
  const logFile = `${dir}/redis.log`;
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    'no',
    '--daemonize',
    'no',
    '--logfile',
    logFile,
    ...(options.extraArgs ?? []),
  ];
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(options.command ?? 'redis-server', {
      args,
      stdin: 'null',
      stdout: 'null',
      stderr: 'null',
    }).spawn();
  } catch (error) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(
        `redis-server is not installed: install the Debian package '${REDIS_PACKAGE}' ` +
          `(apt-get install -y ${REDIS_PACKAGE}) or call ensureRedisInstalled()`,
        { cause: error },
      );
    }
    throw error;
  }

  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  let done: Promise<void> | undefined;
  const finish = (signal: Deno.Signal, graceMs: number): Promise<void> =>
    done ??= (async () => {
      if (!exited) {
        try {
          child.kill(signal);
        } catch { /* already gone */ }
        let timer: ReturnType<typeof setTimeout> | undefined;
        const forced = new Promise<void>((resolve) => {
          timer = setTimeout(() => {
            try {
              child.kill('SIGKILL');
            } catch { /* already gone */ }
            resolve();
          }, graceMs);
        });
        await Promise.race([status, forced]);
        clearTimeout(timer);
      }
      await status;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    })();

  const deadline = Date.now() + startTimeoutMs;
  while (true) {
    if (exited) {
      const log = await Deno.readTextFile(logFile).catch(() => '');
      await finish('SIGKILL', 0);
      throw new Error(
        `redis-server exited before answering PING on port ${port}: ${log.trim().slice(-500)}`,
      );
    }
    if (await answersPing(port)) break;
    if (Date.now() > deadline) {
      await finish('SIGKILL', 0);
      throw new Error(
        `redis-server did not answer PING on port ${port} within ${startTimeoutMs}ms`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }

  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: child.pid,
    stop: () => finish('SIGTERM', 5_000),
    kill: () => finish('SIGKILL', 0),
  };
}

/** Whether a Redis on `port` answers `PING` with `+PONG`. */
async function answersPing(port: number): Promise<boolean> {
  let conn: Deno.TcpConn | undefined;
  try {
    conn = await Deno.connect({ hostname: '127.0.0.1', port });
    await conn.write(new TextEncoder().encode('PING\r\n'));
    const buf = new Uint8Array(64);
    const n = await conn.read(buf);
    return n !== null && new TextDecoder().decode(buf.subarray(0, n)).startsWith('+PONG');
  } catch {
    return false;
  } finally {
    try {
      conn?.close();
    } catch { /* closed */ }
  }
}

/**
 * Makes sure `redis-server` is on PATH. When it is missing and we run as root, installs the
 * Debian package (`apt-get update`, then `apt-get install -y redis-server`, noninteractive);
 * when not root, throws an error naming the package. Resolves with `redis-server --version`.
 *
 * @example
 * ```ts
 * console.log(await ensureRedisInstalled()); // Redis server v=7.0.15 ...
 * ```
 */
export async function ensureRedisInstalled(): Promise<string> {
  const found = await redisVersion();
  if (found) return found;
  if (Deno.uid() !== 0) {
    throw new Error(
      `redis-server is not installed and this process is not root: install the Debian package ` +
        `'${REDIS_PACKAGE}' (sudo apt-get install -y ${REDIS_PACKAGE})`,
    );
  }
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update'], ['install', '-y', '--no-install-recommends', REDIS_PACKAGE]]) {
    const out = await new Deno.Command('apt-get', { args, env, stdin: 'null' }).output();
    if (!out.success) {
      const stderr = new TextDecoder().decode(out.stderr).trim().slice(-1000);
      throw new Error(`apt-get ${args.join(' ')} failed (exit ${out.code}): ${stderr}`);
    }
  }
  const installed = await redisVersion();
  if (!installed) {
    throw new Error(`apt-get installed '${REDIS_PACKAGE}' but redis-server is still not on PATH`);
  }
  return installed;
}

async function redisVersion(): Promise<string | undefined> {
  try {
    const out = await new Deno.Command('redis-server', {
      args: ['--version'],
      stdin: 'null',
      stderr: 'null',
    }).output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : undefined;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}
