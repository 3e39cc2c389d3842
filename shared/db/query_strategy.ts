/**
 * The two choices the data layer makes per request, as pure functions: count exactly or
 * estimate, page by offset or by keyset. Each returns the choice, a `reason`, and the estimated
 * improvement over the other option (the "query plan improvement" metric). It lives in the
 * data layer, its main user (`pagination.ts`); the query-plan optimizer imports it from here and
 * re-exports it.
 *
 * @module
 */

/** How to produce a listing's total. */
export type CountStrategy = 'exact' | 'estimated';

/** Inputs of {@link chooseCountStrategy}. */
export interface CountStrategyInput {
  /** Rows the planner expects the filter to match (EXPLAIN's top `Plan Rows`). */
  estimatedRows: number;
  /** Rows in the whole table (`pg_class.reltuples`), when known. */
  tableRows?: number;
  /** The caller asked for an exact total. @default false */
  exactRequested?: boolean;
  /** Count exactly up to this many expected rows. @default 10000 */
  exactCountMaxRows?: number;
}

/** Outcome of {@link chooseCountStrategy}. */
export interface CountStrategyChoice {
  strategy: CountStrategy;
  reason: 'requested' | 'small-table' | 'selective-filter' | 'large-result';
  /** The planner's estimate (the total to report when `estimated`). */
  estimatedRows: number;
}

function check(name: string, value: unknown, min: number, integer = true): void {
  if (
    typeof value !== 'number' || !Number.isFinite(value) || value < min ||
    (integer && !Number.isInteger(value))
  ) {
    throw new RangeError(
      `'${name}' must be a finite ${integer ? 'integer' : 'number'} >= ${min}: received ${
        String(value)
      }`,
    );
  }
}

/**
 * Exact `count(*)` reads every matching row; the planner's estimate costs nothing. Count exactly
 * when asked, when the table is small, or when the filter is selective enough that the count is
 * cheap; estimate otherwise.
 *
 * @example
 * ```ts
 * chooseCountStrategy({ estimatedRows: 400_000, tableRows: 1_000_000 });
 * // { strategy: 'estimated', reason: 'large-result', estimatedRows: 400000 }
 * chooseCountStrategy({ estimatedRows: 120, tableRows: 1_000_000 });
 * // { strategy: 'exact', reason: 'selective-filter', estimatedRows: 120 }
 * ```
 */
export function chooseCountStrategy(input: CountStrategyInput): CountStrategyChoice {
  check('estimatedRows', input.estimatedRows, 0, false);
  if (input.tableRows !== undefined && input.tableRows >= 0) {
    check('tableRows', input.tableRows, 0, false);
  }
  const max = input.exactCountMaxRows ?? 10_000;
  check('exactCountMaxRows', max, 0);
  const estimatedRows = Math.round(input.estimatedRows);
  if (input.exactRequested) return { strategy: 'exact', reason: 'requested', estimatedRows };
  if (input.tableRows !== undefined && input.tableRows >= 0 && input.tableRows <= max) {
    return { strategy: 'exact', reason: 'small-table', estimatedRows };
  }
  if (estimatedRows <= max) return { strategy: 'exact', reason: 'selective-filter', estimatedRows };
  return { strategy: 'estimated', reason: 'large-result', estimatedRows };
}

/** How to fetch a page. */
export type PaginationStrategy = 'offset' | 'keyset';

/** Inputs of {@link choosePaginationStrategy}. */
export interface PaginationStrategyInput {
  /** Rows to skip that the caller asked for. */
  offset: number;
  /** Page size. */
  limit: number;
  /** A cursor (the last row's sort key) is at hand, so keyset can start there. @default true */
  cursorAvailable?: boolean;
  /** Keyset from this offset on. @default 1000 */
  keysetOffsetThreshold?: number;
}

/** Outcome of {@link choosePaginationStrategy}. */
export interface PaginationStrategyChoice {
  strategy: PaginationStrategy;
  reason: 'small-offset' | 'large-offset' | 'no-cursor';
  /** Index entries read by each option: `offset + limit` versus `limit`. */
  rowsRead: { offset: number; keyset: number };
  /** Rows not read thanks to the choice, as a percentage of the offset option's (0 for offset). */
  improvementPercent: number;
}

/**
 * Offset pagination reads and throws away `offset` rows; keyset (`where (created_at, id) <
 * (cursor)`) starts at the cursor. Keyset whenever the offset is large and a cursor exists.
 *
 * @example
 * ```ts
 * choosePaginationStrategy({ offset: 50_000, limit: 20 });
 * // { strategy: 'keyset', reason: 'large-offset', rowsRead: { offset: 50020, keyset: 20 }, improvementPercent: 99.96 }
 * ```
 */
export function choosePaginationStrategy(input: PaginationStrategyInput): PaginationStrategyChoice {
  check('offset', input.offset, 0);
  check('limit', input.limit, 1);
  const threshold = input.keysetOffsetThreshold ?? 1000;
  check('keysetOffsetThreshold', threshold, 0);
  const rowsRead = { offset: input.offset + input.limit, keyset: input.limit };
  if (input.offset < threshold || input.offset === 0) {
    return { strategy: 'offset', reason: 'small-offset', rowsRead, improvementPercent: 0 };
  }
  if (input.cursorAvailable === false) {
    return { strategy: 'offset', reason: 'no-cursor', rowsRead, improvementPercent: 0 };
  }
  const improvementPercent = Number(
    ((1 - rowsRead.keyset / rowsRead.offset) * 100).toFixed(2),
  );
  return { strategy: 'keyset', reason: 'large-offset', rowsRead, improvementPercent };
}

/**
 * Relative cost saved going from `before` to `after`, in percent (negative when worse).
 *
 * @example
 * ```ts
 * improvementPercent(2000, 50); // 97.5
 * ```
 */
export function improvementPercent(before: number, after: number): number {
  if (!(before > 0)) return 0;
  return Number(((1 - after / before) * 100).toFixed(2));
}
