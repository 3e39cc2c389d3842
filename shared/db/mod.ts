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

// The isolate's database (getDatabase, setDatabase, databaseFromEnv) lives in ./isolate.ts, so a
// function that needs only it (health) does not load the repositories and their schemas.
export {
  DATABASE_ENV_VARIABLES,
  databaseFromEnv,
  getDatabase,
  postgresOptionsFromEnv,
  setDatabase,
} from './isolate.ts';
