/**
 * The listing filters robots and strategies share, validated and turned into SQL conditions over
 * alias `t` by one builder ({@link listingWhere}); each repository says which filters it allows.
 *
 * @module
 */
import { DbValidationError } from './errors.ts';
import { WhereBuilder } from './pagination.ts';
import { STRATEGY_TYPES } from './strategies/schema.ts';
import { parseTimestamp, requireUuid } from './validate.ts';

/** Every filter a listing may allow. */
export interface ListingFilters {
  /** Only this owner's rows. */
  ownerId?: string;
  /** Only public (`true`) or only private (`false`) rows. */
  isPublic?: boolean;
  /** Only this strategy type. */
  strategyType?: string;
  /** Only rows built from this strategy. */
  strategyId?: string;
  /** Created at or after (ISO 8601). */
  createdAfter?: string | Date;
  /** Created before (ISO 8601). */
  createdBefore?: string | Date;
}

/** The name of a listing filter. */
export type ListingFilter = keyof ListingFilters;

/**
 * Validates `filters` against the `allowed` names and builds their conditions, in one fixed
 * order (owner, visibility, type, strategy, creation range). Bad input is a
 * {@link DbValidationError} naming the filter: `isPublic` must be a boolean, ids UUIDs, the
 * strategy type one of {@link STRATEGY_TYPES}, timestamps ISO 8601.
 *
 * @example
 * ```ts
 * const where = listingWhere({ isPublic: true }, ['ownerId', 'isPublic', 'strategyType']);
 * where.toSql(); // 'where t.is_public'
 * ```
 */
export function listingWhere(
  filters: ListingFilters,
  allowed: readonly ListingFilter[],
): WhereBuilder {
  if (filters === null || typeof filters !== 'object') {
    throw new DbValidationError(
      'filters',
      `must be an object: received ${JSON.stringify(filters)}`,
      filters,
    );
  }
  const unknown = Object.keys(filters).filter((key) =>
    !(allowed as readonly string[]).includes(key)
  );
  if (unknown.length > 0) {
    throw new DbValidationError(
      'filters',
      `has unknown filter(s) ${unknown.join(', ')}; allowed: ${allowed.join(', ')}`,
      unknown,
    );
  }
  const where = new WhereBuilder();
  if (filters.ownerId !== undefined) {
    where.add(`t.user_id = ${where.param(requireUuid('filters.ownerId', filters.ownerId))}::uuid`);
  }
  if (filters.isPublic !== undefined) {
    if (typeof filters.isPublic !== 'boolean') {
      throw new DbValidationError(
        'filters.isPublic',
        `must be a boolean: received ${JSON.stringify(filters.isPublic)}`,
        filters.isPublic,
      );
    }
    // A literal, not a parameter: the planner must see `is_public` to use the partial index.
    where.add(filters.isPublic ? 't.is_public' : 'not t.is_public');
  }
  if (filters.strategyType !== undefined) {
    if (!(STRATEGY_TYPES as readonly string[]).includes(filters.strategyType)) {
      throw new DbValidationError(
        'filters.strategyType',
        `must be one of ${STRATEGY_TYPES.join(', ')}: received ${
          JSON.stringify(filters.strategyType)
        }`,
        filters.strategyType,
      );
    }
    where.add(`t.strategy_type = ${where.param(filters.strategyType)}`);
  }
  if (filters.strategyId !== undefined) {
    where.add(
      `t.strategy_id = ${where.param(requireUuid('filters.strategyId', filters.strategyId))}::uuid`,
    );
  }
  if (filters.createdAfter !== undefined) {
    where.add(
      `t.created_at >= ${
        where.param(parseTimestamp('filters.createdAfter', filters.createdAfter))
      }::text::timestamptz`,
    );
  }
  if (filters.createdBefore !== undefined) {
    where.add(
      `t.created_at < ${
        where.param(parseTimestamp('filters.createdBefore', filters.createdBefore))
      }::text::timestamptz`,
    );
  }
  return where;
}

/** Escapes `\`, `%` and `_` so a search text matches literally inside a `like` pattern. */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}
