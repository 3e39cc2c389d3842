/**
 * Robots: schema (fields whitelist, strategy types, write schemas) and repository.
 *
 * @module
 */
export {
  type Robot,
  ROBOT_FIELDS,
  type RobotCreate,
  robotCreateSchema,
  type RobotUpdate,
  robotUpdateSchema,
  STRATEGY_TYPES,
  type StrategyType,
} from './schema.ts';
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
  type WriteHooks,
} from './repository.ts';
