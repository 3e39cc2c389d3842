/**
 * {@link Database} on node-postgres (`pg`): production (Supabase's transaction pooler or a direct
 * connection) and the test PostgreSQL.
 *
 * Why `pg` and not postgres.js: postgres.js 3.4.9 throws an uncatchable
 * `TypeError: Cannot read properties of null (reading 'write')` from a timer when a connection
 * closes with a write pending (porsager/postgres #1154, #1208): Postgres stopping under load
 * killed the whole process. node-postgres reports a broken connection as an `error` event, which
 * this module always listens to, and as the rejection of the query in flight; the pool drops the
 * broken client and opens a new one on the next call. See docs/database.md.
 *
 * Failing fast: every connection attempt is bounded by `connectTimeoutMs`, every statement by
 * `statementTimeoutMs` (client side: the connection is destroyed when it fires; server side too
 * in transactions, `set local statement_timeout`). Connection failures and timeouts are thrown
 * as {@link DbUnavailableError} (503 + `Retry-After` at the HTTP layer, counted by the breaker).
 *
 * @module
 */
import pg from 'pg';
import { userTransaction } from './claims.ts';
import { DbUnavailableError, type DbUnavailableKind } from './errors.ts';
import { type Database, type PingResult, pingResult, type Row, type SqlExecutor } from './types.ts';
import { timeProbe } from '../runtime/ping.ts';

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
   * Give up opening a connection (or waiting for a free one of the pool) after this long (ms).
   * Env: `QF_DB_CONNECT_TIMEOUT_MS`.
   * @default 1500
   */
  connectTimeoutMs?: number;
  /**
   * Longest run of one statement (ms): the query is abandoned and its connection destroyed
   * (the server rolls the transaction back); inside transactions the server enforces it too.
   * Env: `QF_DB_STATEMENT_TIMEOUT_MS`.
   * @default 5000
   */
  statementTimeoutMs?: number;
  /**
   * Recycle connections after this long (ms), so pooler/server restarts are picked up.
   * @default 1800000
   */
  maxLifetimeMs?: number;
  /**
   * `Retry-After` carried by {@link DbUnavailableError} (ms).
   * @default 1000
   */
  unavailableRetryAfterMs?: number;
  /**
   * Called with server notices (the default ignores them).
   * @default undefined
   */
  onNotice?: (notice: { message?: string }) => void;
  /**
   * Called with errors of connections nobody was waiting on (an idle connection the server
   * closed). They are never thrown: the pool drops the connection and opens another on demand.
   * @default ignore
   */
  onConnectionError?: (error: Error) => void;
}

/** The pool's client, as far as this module uses it. */
interface PoolClient {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
  release(destroy?: boolean | Error): void;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'notice', listener: (notice: { message?: string }) => void): unknown;
}

interface PgPool {
  connect(): Promise<PoolClient>;
  end(): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'connect' | 'remove', listener: (client: PoolClient) => void): unknown;
  readonly totalCount: number;
  readonly idleCount: number;
  readonly waitingCount: number;
}

// Socket errors, and the messages node-postgres and pg-pool use for broken or absent connections.
const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ETIMEDOUT',
]);
const LOST_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);
const CONNECT_MESSAGE =
  /timeout exceeded when trying to connect|connection timeout|Connection terminated due to connection timeout/i;
const LOST_MESSAGE =
  /Connection terminated|not queryable|Client was closed|connection (closed|reset|ended)|socket hang up/i;

/**
 * The {@link DbUnavailableKind} of a driver error, or `undefined` for an error of the statement
 * itself (constraint, syntax, permission, data: those keep their SQLSTATE `code`).
 *
 * @example
 * ```ts
 * unavailableKind(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
 * // 'connect'
 * ```
 */
export function unavailableKind(error: unknown): DbUnavailableKind | undefined {
  if (!(error instanceof Error)) return undefined;
  const code = String((error as { code?: unknown }).code ?? '');
  if (CONNECT_CODES.has(code)) return 'connect';
  if (LOST_CODES.has(code)) return 'connection-lost';
  // 08: connection exception; 57P01/02: admin/crash shutdown; 57P03 cannot connect now;
  // 53300 too many connections; 57014 query canceled (statement_timeout).
  if (/^08/.test(code) || code === '57P01' || code === '57P02') return 'connection-lost';
  if (code === '57P03' || code === '53300') return 'overloaded';
  if (code === '57014') return 'timeout';
  if (code) return undefined;
  if (CONNECT_MESSAGE.test(error.message)) return 'connect';
  if (LOST_MESSAGE.test(error.message)) return 'connection-lost';
  return undefined;
}

class StatementTimeout extends Error {
  constructor(ms: number) {
    super(`statement timed out after ${ms}ms`);
  }
}

/**
 * node-postgres-backed {@link Database}. Create it once per isolate, outside request handlers.
 * Statements are unnamed (no prepared statements): safe behind Supabase's transaction pooler.
 *
 * @example
 * ```ts
 * const db = createPostgresDatabase(Deno.env.get('SUPABASE_DB_URL')!, { connectTimeoutMs: 1500 });
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
    connectTimeoutMs = 1500,
    statementTimeoutMs = 5000,
    maxLifetimeMs = 1_800_000,
    unavailableRetryAfterMs = 1000,
    onNotice = () => {},
    onConnectionError = () => {},
  } = options;
  if (!Number.isInteger(maxConnections) || maxConnections < 1) {
    throw new RangeError(`'maxConnections' must be an integer >= 1: received ${maxConnections}`);
  }
  for (const [name, value] of Object.entries({ connectTimeoutMs, statementTimeoutMs })) {
    if (!Number.isFinite(value) || value < 1) {
      throw new RangeError(`'${name}' must be a finite number >= 1: received ${value}`);
    }
  }
  const pool = new pg.Pool({
    connectionString: url,
    max: maxConnections,
    idleTimeoutMillis: idleTimeoutMs,
    connectionTimeoutMillis: connectTimeoutMs,
    maxLifetimeSeconds: Math.max(1, Math.round(maxLifetimeMs / 1000)),
    keepAlive: true,
  }) as unknown as PgPool;
  // An idle connection that breaks is reported here; without a listener the `error` event
  // would be thrown and end the process.
  pool.on('error', (error) => onConnectionError(error));
  // Connections opened and not yet removed: when all of them are busy, a checkout that times out
  // waited in the pool's queue (the database is busy, 'overloaded'), it did not fail to connect.
  let established = 0;
  pool.on('remove', () => established--);
  pool.on('connect', (client) => {
    established++;
    // Checked-out connections have no pool listener: this one keeps a broken connection from
    // throwing; the query in flight rejects, and the pool drops the client on release.
    client.on('error', (error) => onConnectionError(error));
    client.on('notice', onNotice);
  });

  const unavailable = (error: unknown): unknown => {
    if (error instanceof DbUnavailableError) return error;
    const kind = error instanceof StatementTimeout ? 'timeout' : unavailableKind(error);
    if (!kind) return error;
    return new DbUnavailableError(kind, (error as Error).message, {
      retryAfterMs: unavailableRetryAfterMs,
      cause: error,
    });
  };

  const checkout = async (): Promise<PoolClient> => {
    const queued = established >= maxConnections;
    try {
      return await pool.connect();
    } catch (error) {
      if (queued && established >= maxConnections && unavailableKind(error) === 'connect') {
        throw new DbUnavailableError(
          'overloaded',
          `no free connection within ${connectTimeoutMs}ms (${maxConnections} busy)`,
          { retryAfterMs: unavailableRetryAfterMs, cause: error },
        );
      }
      throw unavailable(error);
    }
  };

  /** One statement on `client`, bounded; `broken` is set when the connection must be dropped. */
  const run = async (
    client: PoolClient,
    state: { broken?: Error },
    text: string,
    params?: readonly unknown[],
  ): Promise<unknown[]> => {
    if (state.broken) throw unavailable(state.broken);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new StatementTimeout(statementTimeoutMs)),
        statementTimeoutMs,
      );
    });
    try {
      const result = await Promise.race([
        client.query(text, params === undefined ? undefined : [...params]),
        timeout,
      ]);
      return result.rows;
    } catch (error) {
      if (error instanceof StatementTimeout || unavailableKind(error)) {
        state.broken = error as Error;
      }
      throw unavailable(error);
    } finally {
      clearTimeout(timer);
    }
  };

  const executor = (client: PoolClient, state: { broken?: Error }): SqlExecutor => ({
    async query<T = Row>(text: string, params: readonly unknown[] = []): Promise<T[]> {
      return await run(client, state, text, params) as T[];
    },
  });

  const query = async <T = Row>(text: string, params: readonly unknown[] = []): Promise<T[]> => {
    const client = await checkout();
    const state: { broken?: Error } = {};
    try {
      return await run(client, state, text, params) as T[];
    } finally {
      // A broken or timed-out connection is destroyed, never reused.
      client.release(state.broken ?? undefined);
    }
  };

  const transaction = async <T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> => {
    const client = await checkout();
    const state: { broken?: Error } = {};
    try {
      // One round trip: the server bounds every statement of the transaction too.
      await run(
        client,
        state,
        `begin; set local statement_timeout = ${Math.ceil(statementTimeoutMs)}`,
      );
      let result: T;
      try {
        result = await fn(executor(client, state));
      } catch (error) {
        if (!state.broken) {
          await run(client, state, 'rollback').catch(() => {});
        }
        throw unavailable(error);
      }
      await run(client, state, 'commit');
      return result;
    } finally {
      client.release(state.broken ?? undefined);
    }
  };

  return {
    backend: 'postgres',
    query,
    transaction,
    asUser: userTransaction(transaction),
    async ping(timeoutMs = 2000): Promise<PingResult> {
      return pingResult(
        await timeProbe(() => query('select 1'), {
          timeoutMs,
          timeoutMessage: (ms) => `ping timed out after ${ms} ms`,
        }),
      );
    },
    async close(): Promise<void> {
      await pool.end();
    },
  };
}
