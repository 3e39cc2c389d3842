/**
 * {@link Database} on postgres.js: production (Supabase's transaction pooler or a direct
 * connection) and the test PostgreSQL.
 *
 * @module
 */
import postgres from 'postgres';
import { userTransaction } from './claims.ts';
import type { Database, PingResult, Row, SqlExecutor } from './types.ts';

/** Options of {@link createPostgresDatabase}. */
export interface PostgresDatabaseOptions {
  /**
   * Maximum connections of this isolate's pool. Edge isolates are many and short-lived; keep
   * this small so that isolates x pool stays under the pooler's client limit.
   * @default 3
   */
  maxConnections?: number;
  /**
   * Close a connection idle this long (ms).
   * @default 20000
   */
  idleTimeoutMs?: number;
  /**
   * Give up connecting after this long (ms).
   * @default 10000
   */
  connectTimeoutMs?: number;
  /**
   * Recycle connections after this long (ms), so pooler/server restarts are picked up.
   * @default 1800000
   */
  maxLifetimeMs?: number;
  /**
   * Use named prepared statements. Supabase's transaction pooler (Supavisor, port 6543) does not
   * support them: keep `false` there.
   * @default false
   */
  prepare?: boolean;
  /**
   * Called with server notices (the default ignores them).
   * @default undefined
   */
  onNotice?: (notice: { message?: string }) => void;
}

type Sql = postgres.Sql<Record<string, never>>;
type TxSql = postgres.TransactionSql<Record<string, never>>;

class PostgresExecutor implements SqlExecutor {
  #sql: Sql | TxSql;
  constructor(sql: Sql | TxSql) {
    this.#sql = sql;
  }
  async query<T = Row>(text: string, params: readonly unknown[] = []): Promise<T[]> {
    // deno-lint-ignore no-explicit-any
    const rows = await this.#sql.unsafe(text, params as any[]);
    return rows as unknown as T[];
  }
}

/**
 * postgres.js-backed {@link Database}. Create it once per isolate, outside request handlers.
 *
 * @example
 * ```ts
 * const db = createPostgresDatabase(Deno.env.get('SUPABASE_DB_URL')!);
 * const rows = await db.query('select count(*)::int as n from robots');
 * await db.close();
 * ```
 */
export function createPostgresDatabase(
  url: string,
  options: PostgresDatabaseOptions = {},
): Database {
  const {
    maxConnections = 3,
    idleTimeoutMs = 20_000,
    connectTimeoutMs = 10_000,
    maxLifetimeMs = 1_800_000,
    prepare = false,
    onNotice = () => {},
  } = options;
  if (!Number.isInteger(maxConnections) || maxConnections < 1) {
    throw new RangeError(`'maxConnections' must be an integer >= 1: received ${maxConnections}`);
  }
  const sql: Sql = postgres(url, {
    max: maxConnections,
    idle_timeout: idleTimeoutMs / 1000,
    connect_timeout: connectTimeoutMs / 1000,
    max_lifetime: maxLifetimeMs / 1000,
    prepare,
    onnotice: onNotice,
    // Timestamps and int8 keep postgres.js's defaults (Date, string); repositories cast in SQL.
  }) as Sql;
  const root = new PostgresExecutor(sql);

  const transaction = async <T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> =>
    await sql.begin((tx) => fn(new PostgresExecutor(tx))) as T;
  return {
    backend: 'postgres',
    query: (text, params) => root.query(text, params),
    transaction,
    asUser: userTransaction(transaction),
    async ping(timeoutMs = 2000): Promise<PingResult> {
      const started = performance.now();
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        await Promise.race([
          sql.unsafe('select 1'),
          new Promise((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`ping timed out after ${timeoutMs} ms`)),
              timeoutMs,
            );
          }),
        ]);
        return { ok: true, latencyMs: performance.now() - started };
      } catch (error) {
        return {
          ok: false,
          latencyMs: performance.now() - started,
          reason: error instanceof Error ? error.message : String(error),
        };
      } finally {
        clearTimeout(timer);
      }
    },
    async close(): Promise<void> {
      await sql.end({ timeout: 5 });
    },
  };
}
