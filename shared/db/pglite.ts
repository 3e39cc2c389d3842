/**
 * {@link Database} on PGlite (embedded PostgreSQL in WebAssembly): the zero-install default of
 * `npm start`. `createEmbeddedDatabase()` applies the bootstrap SQL, every migration and the seed
 * at start, so the embedded database has exactly the schema a Supabase project gets.
 *
 * @module
 */
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { userTransaction } from './claims.ts';
import { loadSchemaSql, type SchemaSql } from './schema_files.ts';
import type { Database, PingResult, Row, SqlExecutor } from './types.ts';

/** Options of {@link createEmbeddedDatabase}. */
export interface EmbeddedDatabaseOptions {
  /**
   * Where PGlite keeps its files: `memory://` (nothing persists) or a directory path.
   * A persisted directory is migrated only once (on creation).
   * @default 'memory://'
   */
  dataDir?: string;
  /**
   * Apply `supabase/seed.sql` after the migrations.
   * @default true
   */
  seed?: boolean;
  /**
   * The SQL to apply (bootstrap, migrations in order, seed). Defaults to reading the repo's
   * `supabase/` files; pass it where there is no file system.
   * @default loadSchemaSql()
   */
  schema?: SchemaSql;
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

/**
 * Starts an embedded PGlite database with `pg_trgm`, the Supabase bootstrap, every migration
 * and (by default) the seed applied.
 *
 * @example
 * ```ts
 * const db = await createEmbeddedDatabase();
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
    const fresh = (await pg.query<{ exists: boolean }>(
      `select to_regclass('public.robots') is null as exists`,
    )).rows[0].exists;
    if (fresh) {
      await pg.exec(schema.bootstrap);
      for (const migration of schema.migrations) {
        try {
          await pg.exec(migration.sql);
        } catch (error) {
          throw new Error(
            `migration ${migration.name} failed on PGlite: ${
              error instanceof Error ? error.message : String(error)
            }`,
          );
        }
      }
      if (seed && schema.seed) await pg.exec(schema.seed);
    }
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
      const started = performance.now();
      try {
        await pg.query('select 1');
        return { ok: true, latencyMs: performance.now() - started };
      } catch (error) {
        return {
          ok: false,
          latencyMs: performance.now() - started,
          reason: error instanceof Error ? error.message : String(error),
        };
      }
    },
    async close(): Promise<void> {
      if (!pg.closed) await pg.close();
    },
  };
}
