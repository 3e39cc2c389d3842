/**
 * {@link Database} on PGlite (embedded PostgreSQL in WebAssembly): the zero-install default of
 * `npm start`. `createEmbeddedDatabase()` applies the bootstrap SQL, the migrations not yet
 * applied and (on a new database) the seed at start, so the embedded database has exactly the
 * schema a Supabase project gets; with a data folder it survives restarts.
 *
 * Dev-only, so it lives in scripts/ and not in shared/db/: `supabase functions deploy` uploads
 * every file under shared/ (the functions' import maps map `@shared/` to that folder), and no
 * function ever runs on PGlite (deployed functions have `SUPABASE_DB_URL`). The dev server and the
 * tests create it and hand it to the functions with `setDatabase` (docs/deploy.md).
 *
 * @module
 */
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { userTransaction } from '../shared/db/claims.ts';
import { loadSchemaSql, type SchemaSql } from '../shared/db/schema_files.ts';
import {
  type Database,
  type PingResult,
  pingResult,
  type Row,
  type SqlExecutor,
} from '../shared/db/types.ts';
import { timeProbe } from '../shared/runtime/ping.ts';

/** What {@link createEmbeddedDatabase} did to the data folder at start. */
export interface EmbeddedStartReport {
  /** The data folder was empty: bootstrap, every migration and the seed were applied. */
  fresh: boolean;
  /** The migrations applied at this start (file names), in order. */
  applied: string[];
  /** Migrations already recorded as applied before this start. */
  alreadyApplied: number;
}

/** Options of {@link createEmbeddedDatabase}. */
export interface EmbeddedDatabaseOptions {
  /**
   * Where PGlite keeps its files: `memory://` (nothing persists) or a directory path. A
   * directory keeps its data across starts; each start applies only the migrations not yet
   * recorded in `supabase_migrations.schema_migrations` (as the Supabase CLI does), and the
   * seed only when the folder was empty.
   * @default 'memory://'
   */
  dataDir?: string;
  /**
   * Apply `supabase/seed.sql` after the migrations when the database is new.
   * @default true
   */
  seed?: boolean;
  /**
   * The SQL to apply (bootstrap, migrations in order, seed). Defaults to reading the repo's
   * `supabase/` files; pass it where there is no file system.
   * @default loadSchemaSql()
   */
  schema?: SchemaSql;
  /** Told what the start applied (the dev server prints it). */
  onStart?: (report: EmbeddedStartReport) => void;
}

type PgliteLike = Pick<PGlite, 'query'>;

class PgliteExecutor implements SqlExecutor {
  #db: PgliteLike;
  constructor(db: PgliteLike) {
    this.#db = db;
  }
  async query<T = Row>(text: string, params: readonly unknown[] = []): Promise<T[]> {
    const result = await this.#db.query<T>(text, params as unknown[]);
    return result.rows;
  }
}

/** The Supabase CLI's record of applied migrations, created where it is missing. */
const MIGRATIONS_TABLE = `
create schema if not exists supabase_migrations;
create table if not exists supabase_migrations.schema_migrations (
  version text primary key,
  statements text[],
  name text
);`;

/**
 * Brings a PGlite database up to date: the bootstrap (idempotent, every start), then the
 * migrations not yet recorded in `supabase_migrations.schema_migrations`, then the seed when the
 * database was new.
 */
async function migrate(
  pg: PGlite,
  schema: SchemaSql,
  seed: boolean,
): Promise<EmbeddedStartReport> {
  const fresh = (await pg.query<{ fresh: boolean }>(
    `select to_regclass('supabase_migrations.schema_migrations') is null
        and to_regclass('public.robots') is null as fresh`,
  )).rows[0].fresh;
  await pg.exec(schema.bootstrap);
  await pg.exec(MIGRATIONS_TABLE);
  const recorded = new Set(
    (await pg.query<{ version: string }>(
      'select version from supabase_migrations.schema_migrations',
    )).rows.map((row) => row.version),
  );
  const record = (tx: Pick<PGlite, 'query'>, migration: SchemaSql['migrations'][number]) =>
    tx.query(
      `insert into supabase_migrations.schema_migrations (version, name) values ($1, $2)
       on conflict (version) do nothing`,
      [migration.version, migration.name.replace(/^\d{14}_|\.sql$/g, '')],
    );
  if (!fresh && recorded.size === 0) {
    // A folder migrated before versions were recorded: everything in it counts as applied.
    for (const migration of schema.migrations) await record(pg, migration);
    return { fresh, applied: [], alreadyApplied: schema.migrations.length };
  }
  const applied: string[] = [];
  for (const migration of schema.migrations) {
    if (recorded.has(migration.version)) continue;
    try {
      await pg.transaction(async (tx) => {
        await tx.exec(migration.sql);
        await record(tx, migration);
      });
    } catch (error) {
      throw new Error(
        `migration ${migration.name} failed on PGlite: ${
          error instanceof Error ? error.message : String(error)
        }`,
      );
    }
    applied.push(migration.name);
  }
  if (fresh && seed && schema.seed) await pg.exec(schema.seed);
  return { fresh, applied, alreadyApplied: recorded.size };
}

/**
 * Starts an embedded PGlite database with `pg_trgm`, the Supabase bootstrap, every migration
 * and (by default) the seed applied. With a `dataDir` folder the data survives restarts and
 * only new migrations are applied.
 *
 * @example
 * ```ts
 * const db = await createEmbeddedDatabase({ dataDir: '.data/pglite' });
 * const [{ n }] = await db.query<{ n: number }>('select count(*)::int as n from robots');
 * await db.close();
 * ```
 */
export async function createEmbeddedDatabase(
  options: EmbeddedDatabaseOptions = {},
): Promise<Database> {
  const { dataDir = 'memory://', seed = true } = options;
  const schema = options.schema ?? await loadSchemaSql();
  const pg = await PGlite.create({ dataDir, extensions: { pg_trgm } });
  try {
    const report = await migrate(pg, schema, seed);
    options.onStart?.(report);
  } catch (error) {
    await pg.close();
    throw error;
  }
  return wrapPglite(pg);
}

/**
 * Wraps an existing PGlite instance (already migrated) as a {@link Database}.
 *
 * @example
 * ```ts
 * const db = wrapPglite(await PGlite.create({ extensions: { pg_trgm } }));
 * ```
 */
export function wrapPglite(pg: PGlite): Database {
  const root = new PgliteExecutor(pg);
  const transaction = async <T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> =>
    await pg.transaction((tx) => fn(new PgliteExecutor(tx)));
  return {
    backend: 'pglite',
    query: (text, params) => root.query(text, params),
    transaction,
    asUser: userTransaction(transaction),
    async ping(): Promise<PingResult> {
      return pingResult(await timeProbe(() => pg.query('select 1')));
    },
    async close(): Promise<void> {
      if (!pg.closed) await pg.close();
    },
  };
}
