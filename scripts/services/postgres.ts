/**
 * A throwaway PostgreSQL 15 cluster for tests and benchmarks, and the real Supabase CLI applying
 * the project's migrations to it.
 *
 * - {@link startPostgres} initdb's a cluster in a temp dir (as the `postgres` OS user when running
 *   as root: initdb refuses root), starts it on a free 127.0.0.1 port with fast, unsafe test
 *   settings (fsync off) and `pg_stat_statements` (+ `pg_cron` when installed) preloaded, and
 *   returns its URL (superuser `postgres`, password `postgres`). `stop()` kills the postmaster by
 *   PID and removes the directory.
 * - `applyMigrations` (`migrations.ts`, re-exported here) applies `supabase/bootstrap.sql`
 *   (Supabase roles and `auth` schema), then `supabase migration up --remote=<url>`, then verifies
 *   every migration file's version is recorded in `supabase_migrations.schema_migrations` and the
 *   tables exist.
 *
 * @example
 * ```ts
 * const pg = await startPostgres();
 * try {
 *   await applyMigrations(pg.url);
 *   // ... TEST_DATABASE_URL=pg.url
 * } finally {
 *   await pg.stop();
 * }
 * ```
 * @module
 */
import postgres from 'postgres';
import { freePort, isRoot, killByPid, run } from './process.ts';
import { applyMigrations } from './migrations.ts';

export { applyMigrations, type ApplyMigrationsOptions, migrationFiles } from './migrations.ts';

const PG_BIN = '/usr/lib/postgresql/15/bin';
const PG_EXTENSION_DIR = '/usr/share/postgresql/15/extension';

/** A running cluster. */
export interface RunningPostgres {
  /** `postgres://postgres:postgres@127.0.0.1:<port>/postgres` (superuser). */
  url: string;
  port: number;
  /** Postmaster PID (changes after {@link RunningPostgres.startServer}). */
  pid: number;
  /** `server_version`, e.g. `15.10 (Debian 15.10-1)`. */
  version: string;
  /** Stops the postmaster by PID (fast shutdown, then immediate) and removes the data dir. */
  stop(): Promise<void>;
  /**
   * Fault injection: `pg_ctl stop -m fast` (sessions terminated, the port closed), keeping the
   * data dir, so {@link RunningPostgres.startServer} brings the same cluster back on the same port.
   */
  stopServer(): Promise<void>;
  /** Starts the cluster again after {@link RunningPostgres.stopServer}; resolves once it accepts connections. */
  startServer(): Promise<void>;
}

/** Options of {@link startPostgres}. */
export interface StartPostgresOptions {
  /**
   * Extra `-c name=value` server settings.
   * @default {}
   */
  settings?: Record<string, string>;
  /**
   * Preload pg_cron when it is installed (the schedules migration still skips: pg_net is absent).
   * @default true
   */
  withCron?: boolean;
  /**
   * How long to wait for the server to accept connections.
   * @default 30000
   */
  startTimeoutMs?: number;
}

async function readPostmasterPid(dataDir: string): Promise<number | undefined> {
  try {
    const text = await Deno.readTextFile(`${dataDir}/postmaster.pid`);
    const pid = Number(text.split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** True when the pg_cron extension files are installed for PostgreSQL 15. */
export async function isPostgresCronInstalled(): Promise<boolean> {
  try {
    await Deno.stat(`${PG_EXTENSION_DIR}/pg_cron.control`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Installs pg_cron (`apt-get install postgresql-15-cron`) when it is missing and we are root.
 * Returns whether pg_cron is installed afterwards; never throws for a missing package.
 *
 * @example
 * ```ts
 * if (!(await ensurePostgresCronInstalled())) console.warn('pg_cron unavailable');
 * ```
 */
export async function ensurePostgresCronInstalled(): Promise<boolean> {
  if (await isPostgresCronInstalled()) return true;
  if (!isRoot()) return false;
  const result = await run('apt-get', [
    'install',
    '-y',
    '--no-install-recommends',
    'postgresql-15-cron',
  ], {
    env: { DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (result.code !== 0) {
    console.warn(
      `apt-get install postgresql-15-cron failed (${result.code}): ${result.stderr.trim()}`,
    );
  }
  return await isPostgresCronInstalled();
}

/**
 * Checks the PostgreSQL 15 binaries exist and installs pg_cron when possible (root). Throws a
 * clear error when initdb is missing.
 *
 * @example
 * ```ts
 * await ensurePostgresReady();
 * ```
 */
export async function ensurePostgresReady(): Promise<{ cron: boolean }> {
  try {
    await Deno.stat(`${PG_BIN}/initdb`);
  } catch {
    throw new Error(
      `PostgreSQL 15 server binaries not found in ${PG_BIN} (apt package postgresql-15)`,
    );
  }
  return { cron: await ensurePostgresCronInstalled() };
}

/**
 * Starts a fresh PostgreSQL 15 cluster on a free 127.0.0.1 port. The caller must `stop()` it.
 *
 * @example
 * ```ts
 * const pg = await startPostgres();
 * console.log(pg.url); // postgres://postgres:postgres@127.0.0.1:54873/postgres
 * await pg.stop();
 * ```
 */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<RunningPostgres> {
  const { settings = {}, withCron = true, startTimeoutMs = 30_000 } = options;
  const baseDir = await Deno.makeTempDir({ prefix: 'qf-postgres-' });
  const dataDir = `${baseDir}/data`;
  const socketDir = baseDir;
  let pid: number | undefined;
  const cleanup = async () => {
    await killByPid(pid ?? await readPostmasterPid(dataDir));
    await Deno.remove(baseDir, { recursive: true }).catch(() => {});
  };

  try {
    const pwFile = `${baseDir}/pwfile`;
    await Deno.writeTextFile(pwFile, 'postgres\n');
    if (isRoot()) {
      const chown = await run('chown', ['-R', 'postgres:postgres', baseDir]);
      if (chown.code !== 0) throw new Error(`chown ${baseDir} failed: ${chown.stderr}`);
    }
    const init = await run(`${PG_BIN}/initdb`, [
      '-D',
      dataDir,
      '-U',
      'postgres',
      `--pwfile=${pwFile}`,
      '--auth-local=trust',
      '--auth-host=scram-sha-256',
      '--encoding=UTF8',
      '--locale=C.UTF-8',
      '--no-sync',
    ], { asPostgres: true });
    if (init.code !== 0) {
      throw new Error(`initdb failed (${init.code}): ${init.stderr || init.stdout}`);
    }

    const cron = withCron && await isPostgresCronInstalled();
    const port = freePort();
    const conf: Record<string, string> = {
      listen_addresses: "'127.0.0.1'",
      port: String(port),
      unix_socket_directories: `'${socketDir}'`,
      shared_preload_libraries: cron ? "'pg_stat_statements,pg_cron'" : "'pg_stat_statements'",
      'pg_stat_statements.track': "'all'",
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
      max_connections: '200',
      shared_buffers: "'128MB'",
      max_wal_size: "'2GB'",
      log_min_messages: "'warning'",
      ...(cron ? { 'cron.database_name': "'postgres'" } : {}),
      ...settings,
    };
    const confText = Object.entries(conf).map(([key, value]) => `${key} = ${value}`).join('\n');
    // Appended to postgresql.conf (the file belongs to the postgres user; write via root is fine).
    await Deno.writeTextFile(`${dataDir}/postgresql.conf`, `\n# qf test settings\n${confText}\n`, {
      append: true,
    });

    // `pg_ctl start -w`: resolves once the server accepts connections (or the timeout passed).
    const pgCtlStart = async () => {
      const result = await run(`${PG_BIN}/pg_ctl`, [
        '-D',
        dataDir,
        '-l',
        `${baseDir}/postgres.log`,
        '-w',
        '-t',
        String(Math.ceil(startTimeoutMs / 1000)),
        'start',
      ], { asPostgres: true });
      pid = await readPostmasterPid(dataDir);
      return result;
    };
    const start = await pgCtlStart();
    if (start.code !== 0) {
      const log = await Deno.readTextFile(`${baseDir}/postgres.log`).catch(() => '');
      throw new Error(`pg_ctl start failed (${start.code}): ${start.stderr}\n${log.slice(-2000)}`);
    }
    if (pid === undefined) throw new Error(`postmaster.pid missing in ${dataDir}`);

    const url = `postgres://postgres:postgres@127.0.0.1:${port}/postgres`;
    const postmasterPid = pid;
    const probe = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
    const version = await probe.unsafe<{ server_version: string }[]>('show server_version')
      .then((rows) => rows[0].server_version)
      .finally(() => probe.end({ timeout: 5 }));
    let stopped = false;
    const server: RunningPostgres = {
      url,
      port,
      pid: postmasterPid,
      version,
      async stop() {
        if (stopped) return;
        stopped = true;
        await cleanup();
      },
      async stopServer() {
        const result = await run(`${PG_BIN}/pg_ctl`, ['-D', dataDir, '-m', 'fast', '-w', 'stop'], {
          asPostgres: true,
        });
        if (result.code !== 0) throw new Error(`pg_ctl stop failed: ${result.stderr}`);
        pid = undefined;
      },
      async startServer() {
        const result = await pgCtlStart();
        if (result.code !== 0) throw new Error(`pg_ctl start failed: ${result.stderr}`);
        if (pid !== undefined) server.pid = pid;
      },
    };
    return server;
  } catch (error) {
    await cleanup();
    throw error;
  }
}

if (import.meta.main) {
  // deno run -A scripts/services/postgres.ts [--seed]: start, migrate, print the URL, wait.
  const pg = await startPostgres();
  try {
    await applyMigrations(pg.url, { seed: Deno.args.includes('--seed') });
    console.log(`export TEST_DATABASE_URL='${pg.url}'  # postmaster pid ${pg.pid}; Ctrl-C stops`);
    await new Promise<void>((resolve) => {
      Deno.addSignalListener('SIGINT', () => resolve());
      Deno.addSignalListener('SIGTERM', () => resolve());
    });
  } finally {
    await pg.stop();
  }
}
