/**
 * The columns every listing row (robot, strategy) has, and the field whitelist of a listing
 * table. Apart from `listing.ts` so that the schemas import it without the queries.
 *
 * @module
 */
import { type FieldMap, isoTimestamp } from './pagination.ts';
import type { StrategyType } from './strategies/schema.ts';

/** The columns every listing row has (timestamps as UTC ISO strings with microseconds). */
export interface ListingRow {
  id: string;
  user_id: string;
  name: string;
  description: string;
  strategy_type: StrategyType;
  is_public: boolean;
  created_at: string;
  updated_at: string;
}

/**
 * The field whitelist of a listing table, in `columns`' order (the order of a full row's keys):
 * API name -> SQL over alias `t`, timestamps rendered by {@link isoTimestamp}.
 *
 * @example
 * ```ts
 * listingFields(['id', 'name', 'created_at']);
 * // { id: 't.id', name: 't.name', created_at: "to_char(t.created_at at time zone 'UTC', ...)" }
 * ```
 */
export function listingFields(columns: readonly string[]): FieldMap {
  return Object.freeze(Object.fromEntries(columns.map((column) => [
    column,
    column === 'created_at' || column === 'updated_at'
      ? isoTimestamp(`t.${column}`)
      : `t.${column}`,
  ])));
}
