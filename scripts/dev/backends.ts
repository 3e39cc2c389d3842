/**
 * The dev server's backends: the key-value store (memory, or Upstash checked by one PING) and
 * the database (Postgres on `SUPABASE_DB_URL` / `DATABASE_URL`, else PGlite in the data folder).
 *
 * @module
 */
import type { Database } from '../../shared/db/types.ts';
import type { KeyValueStore } from '../../shared/store/types.ts';
import { errorText, failStart, redactUrl } from './startup_errors.ts';

const root = new URL('../../', import.meta.url);

/** The dev server's data folder (`QF_LOCAL_DATA_DIR`, default `.data/pglite` in the repo). */
export function localDataDir(env = (name: string) => Deno.env.get(name)): string {
  const dir = env('QF_LOCAL_DATA_DIR');
  if (dir === 'memory://') return dir;
  return dir
    ? new URL(dir, new URL(`file://${Deno.cwd()}/`)).pathname
    : new URL('.data/pglite', root).pathname;
}

/**
 * The database: Postgres on `SUPABASE_DB_URL` / `DATABASE_URL` (checked with one query), else
 * PGlite in the data folder, emptied first on `--reset` / `QF_LOCAL_DB_RESET=1`.
 */
export async function openDatabase(reset: boolean): Promise<{ db: Database; note: string }> {
  const { createPostgresDatabase, setDatabase } = await import('../../shared/db/mod.ts');
  const variable = Deno.env.get('SUPABASE_DB_URL') ? 'SUPABASE_DB_URL' : 'DATABASE_URL';
  const url = Deno.env.get(variable);
  if (url) {
    let db: Database;
    try {
      db = createPostgresDatabase(url, { connectTimeoutMs: 5_000 });
    } catch (error) {
      failStart(
        `${variable} is not a usable Postgres URL (${errorText(error)}). ` +
          `Fix it (postgresql://user:password@host:5432/postgres) or unset it to use the embedded database.`,
      );
    }
    const ping = await db.ping();
    // Nothing listening, or no answer in time: the database may be starting (`supabase start`,
    // a restart), so serve anyway, as deployed functions do (reads answer 503 db_unavailable
    // until it answers), and say so once. Anything else (wrong password, no such database) is
    // a mistake to fix before starting.
    const unreachable = /^Database unavailable \((connect|timeout|connection-lost)\b/;
    if (!ping.ok && unreachable.test(ping.reason ?? '')) {
      console.error(
        `dev server: cannot reach the database at ${variable}=${redactUrl(url)} yet ` +
          `(${ping.reason}); serving anyway: database reads answer 503 until it answers. ` +
          `Check the host and port, or unset ${variable} to use the embedded database.`,
      );
    } else if (!ping.ok) {
      await db.close().catch(() => {});
      failStart(
        `cannot use the database at ${variable}=${redactUrl(url)}: ${ping.reason}. ` +
          `Check the host, port, user and password, or unset ${variable} to use the embedded database.`,
      );
    }
    setDatabase(db);
    return { db, note: '' };
  }
  const dataDir = localDataDir();
  if (dataDir !== 'memory://') await lockDataDir(dataDir);
  if (reset && dataDir !== 'memory://') {
    await Deno.remove(dataDir, { recursive: true }).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }
  if (dataDir !== 'memory://') await Deno.mkdir(dataDir, { recursive: true });
  const { createEmbeddedDatabase } = await import('../pglite.ts');
  let note = '';
  let db: Database;
  try {
    db = await createEmbeddedDatabase({
      dataDir,
      onStart: ({ fresh, applied }) => {
        const where = dataDir === 'memory://' ? 'in memory' : relative(dataDir);
        note = fresh
          ? `${where} (new: ${applied.length} migrations and the seed applied)`
          : `${where} (kept; ${
            applied.length ? `applied ${applied.join(', ')}` : 'no new migrations'
          })`;
      },
    });
  } catch (error) {
    failStart(
      `the embedded database in ${dataDir} did not open: ${errorText(error)}. ` +
        'Start clean with `npm start -- --reset` (deletes its data) or set QF_LOCAL_DATA_DIR to another folder.',
    );
  }
  setDatabase(db);
  return { db, note };
}

/**
 * Takes an exclusive lock on `<dataDir>.lock` for the life of the process: PGlite is one
 * process's database, and a second dev server on the same folder would corrupt it. The kernel
 * drops the lock when the process ends, however it ends.
 */
async function lockDataDir(dataDir: string): Promise<void> {
  const path = `${dataDir.replace(/\/+$/, '')}.lock`;
  await Deno.mkdir(new URL('.', new URL(`file://${path}`)), { recursive: true });
  const file = await Deno.open(path, { create: true, write: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const locked = await Promise.race([
    file.lock(true).then(() => true),
    new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), 500)),
  ]);
  clearTimeout(timer);
  if (!locked) {
    failStart(
      `another dev server is using the data folder ${relative(dataDir)}. Stop it, or give this` +
        ' one its own folder: QF_LOCAL_DATA_DIR=.data/other npm start',
    );
  }
}

export const relative = (path: string) => {
  const base = Deno.cwd() + '/';
  return path.startsWith(base) ? path.slice(base.length) : path;
};

/** The key-value store, with Upstash credentials checked by one PING. */
export async function openStore(): Promise<KeyValueStore> {
  const { getStore } = await import('../../shared/store/mod.ts');
  const { UpstashStore } = await import('../../shared/store/upstash.ts');
  let store: KeyValueStore;
  try {
    store = getStore();
  } catch (error) {
    failStart(
      `${
        errorText(error)
      }. Set both UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN, or neither for the in-memory store.`,
    );
  }
  if (store instanceof UpstashStore) {
    const url = Deno.env.get('UPSTASH_REDIS_REST_URL') ?? '';
    try {
      const timeout = new Promise<never>((_, reject) => {
        const timer = setTimeout(() => reject(new Error('no answer within 5 s')), 5_000);
        Deno.unrefTimer(timer);
      });
      await Promise.race([store.redis.ping(), timeout]);
    } catch (error) {
      failStart(
        `Upstash Redis at UPSTASH_REDIS_REST_URL=${redactUrl(url)} did not answer PING: ${
          errorText(error)
        }. Check UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN (the REST URL and token of your database in the Upstash console), or unset both for the in-memory store.`,
      );
    }
  }
  return store;
}

/**
 * A database that is still opening: queries and transactions wait for it, and `ping` answers at
 * once that it is starting (so the health check says so instead of waiting out its timeout).
 * The dev server serves with it while PGlite opens (about 1-2 s), then replaces it with the real
 * one (`setDatabase`).
 *
 * @example
 * ```ts
 * setDatabase(startingDatabase(openDatabase(false).then(({ db }) => db)));
 * ```
 */
export function startingDatabase(ready: Promise<Database>): Database {
  let opened: Database | undefined;
  ready.then((db) => opened = db, () => {});
  return {
    backend: 'pglite',
    query: async (text, params) => await (await ready).query(text, params),
    transaction: async (fn) => await (await ready).transaction(fn),
    asUser: async (claims, fn) => await (await ready).asUser(claims, fn),
    ping: (timeoutMs) =>
      opened ? opened.ping(timeoutMs) : Promise.resolve({
        ok: false,
        latencyMs: 0,
        reason: 'Database starting (the embedded PGlite is opening its data folder)',
      }),
    close: async () => await (await ready).close(),
  };
}
