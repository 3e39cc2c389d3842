/**
 * The isolate's database: node-postgres on `SUPABASE_DB_URL` (else `DATABASE_URL`), created once
 * on first use, or the one the dev server and tests hand over with {@link setDatabase}. Apart from
 * shared/db/mod.ts so a function that only pings the database (health) does not load the
 * repositories and their schemas at start-up (issue 11: cold start).
 *
 * @module
 */
import { createPostgresDatabase, type PostgresDatabaseOptions } from './postgres.ts';
import type { Database } from './types.ts';
import { type EnvReader, processEnv } from '../runtime/env.ts';

/** Environment variables of the Postgres driver's bounds (docs/database.md). */
export const DATABASE_ENV_VARIABLES = ['QF_DB_CONNECT_TIMEOUT_MS', 'QF_DB_STATEMENT_TIMEOUT_MS'];

function positiveMs(read: (name: string) => string | undefined, name: string): number | undefined {
  const raw = read(name);
  if (raw === undefined || raw.trim() === '') return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 1 || value > 600_000) {
    throw new RangeError(`${name} must be a number of ms from 1 to 600000: received '${raw}'`);
  }
  return value;
}

/**
 * The Postgres driver's options read from the environment: `QF_DB_CONNECT_TIMEOUT_MS`
 * (default 1500) and `QF_DB_STATEMENT_TIMEOUT_MS` (default 5000).
 *
 * @example
 * ```ts
 * postgresOptionsFromEnv((n) => ({ QF_DB_CONNECT_TIMEOUT_MS: '800' })[n]); // { connectTimeoutMs: 800 }
 * ```
 */
export function postgresOptionsFromEnv(
  read: EnvReader = processEnv,
): PostgresDatabaseOptions {
  const options: PostgresDatabaseOptions = {};
  const connect = positiveMs(read, 'QF_DB_CONNECT_TIMEOUT_MS');
  const statement = positiveMs(read, 'QF_DB_STATEMENT_TIMEOUT_MS');
  if (connect !== undefined) options.connectTimeoutMs = connect;
  if (statement !== undefined) options.statementTimeoutMs = statement;
  return options;
}

/**
 * The database the environment asks for: node-postgres on `SUPABASE_DB_URL` / `DATABASE_URL`.
 * Without either it fails with what to set (the embedded database is the dev server's, given to
 * the functions with `setDatabase`, never loaded from here).
 *
 * @example
 * ```ts
 * const db = await databaseFromEnv();
 * console.log(db.backend); // 'postgres'
 * ```
 */
export function databaseFromEnv(read: EnvReader = processEnv): Promise<Database> {
  const url = read('SUPABASE_DB_URL') || read('DATABASE_URL');
  if (url) return Promise.resolve(createPostgresDatabase(url, postgresOptionsFromEnv(read)));
  return Promise.reject(
    new Error(
      'SUPABASE_DB_URL is not set: Supabase sets it for deployed functions; locally `npm start` ' +
        'serves the functions on its embedded database',
    ),
  );
}

let shared: Promise<Database> | undefined;

/**
 * The isolate-wide database, created on first use (once per isolate, outside handlers).
 *
 * @example
 * ```ts
 * const db = await getDatabase();
 * ```
 */
export function getDatabase(): Promise<Database> {
  shared ??= databaseFromEnv().catch((error) => {
    shared = undefined;
    throw error;
  });
  return shared;
}

/**
 * Replaces the isolate-wide database (tests, dev server). Pass `undefined` to reset.
 *
 * @example
 * ```ts
 * setDatabase(await createEmbeddedDatabase());
 * ```
 */
export function setDatabase(db: Database | undefined): void {
  shared = db ? Promise.resolve(db) : undefined;
}
