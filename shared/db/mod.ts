/**
 * Data access: one {@link Database} interface, node-postgres (`pg`) for real PostgreSQL/Supabase,
 * plus the repositories built on it: `robots/` and `strategies/` alike (`schema.ts`: the row and
 * its write schemas; `repository.ts`: the queries), their listing and search written once in
 * `listing.ts`. The embedded PGlite database is the dev server's (scripts/pglite.ts), handed over
 * with {@link setDatabase}.
 *
 * | env | backend |
 * |---|---|
 * | `SUPABASE_DB_URL` (else `DATABASE_URL`) | node-postgres on that URL (unnamed statements, max 3 connections, connect/statement timeouts) |
 * | neither | an error naming `SUPABASE_DB_URL` (the dev server and tests set PGlite instead) |
 *
 * @module
 */
import { createPostgresDatabase, type PostgresDatabaseOptions } from './postgres.ts';
import type { Database } from './types.ts';
import { type EnvReader, processEnv } from '../runtime/env.ts';

export {
  type Database,
  type DatabaseBackend,
  type JwtClaims,
  type PingResult,
  type Row,
  type SqlExecutor,
  USER_ROLES,
} from './types.ts';
export {
  DbNotFoundError,
  DbUnavailableError,
  type DbUnavailableKind,
  DbValidationError,
  isDbUnavailableError,
  isDbValidationError,
} from './errors.ts';
export { claimsStatement, isUuid } from './claims.ts';
export {
  createPostgresDatabase,
  type PostgresDatabaseOptions,
  unavailableKind,
} from './postgres.ts';
// PGlite (about 26 MB with its WebAssembly) stays out of the functions' module graph and out of
// shared/ (the deploy uploads every file under shared/): deployed functions run on SUPABASE_DB_URL,
// and the dev server and tests load scripts/pglite.ts and hand the database over with setDatabase.
export { loadSchemaSql, type SchemaSql } from './schema_files.ts';
export {
  type Robot,
  ROBOT_FIELDS,
  type RobotCreate,
  robotCreateSchema,
  type RobotUpdate,
  robotUpdateSchema,
} from './robots/schema.ts';
export {
  type DeletedRobot,
  type RobotFilters,
  type RobotListOptions,
  type RobotSearchHit,
  type RobotSearchOptions,
  RobotsRepository,
  type RobotsRepositoryOptions,
  robotWhere,
  type UpsertResult,
} from './robots/repository.ts';
export {
  type Strategy,
  STRATEGY_FIELDS,
  STRATEGY_TYPES,
  type StrategyCreate,
  strategyCreateSchema,
  type StrategyType,
  type StrategyUpdate,
  strategyUpdateSchema,
} from './strategies/schema.ts';
export {
  type DependentRobot,
  StrategiesRepository,
  type StrategiesRepositoryOptions,
  type StrategyFilters,
  type StrategyListOptions,
  type StrategySearchHit,
  type StrategySearchOptions,
  type StrategyVisibility,
  strategyWhere,
  type StrategyWrite,
} from './strategies/repository.ts';
export { ListingRepository, type ListingTable } from './listing.ts';
export type { WriteHooks } from './hooks.ts';
export {
  type CursorPosition,
  decodeCursor,
  DEFAULT_PAGE_LIMIT,
  encodeCursor,
  estimateRows,
  type FieldMap,
  isoTimestamp,
  keysetPage,
  type KeysetQuery,
  MAX_PAGE_LIMIT,
  type Page,
  type PageOptions,
  parseLimit,
  selectFields,
  selectList,
  type TotalMode,
  validatePage,
  WhereBuilder,
} from './pagination.ts';
export { escapeLike, type ListingFilter, type ListingFilters, listingWhere } from './filters.ts';
export { type Caller, runAs, SERVICE_CALLER, userCaller } from './caller.ts';
export { parseInput, parseTimestamp, requireUuid } from './validate.ts';

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
