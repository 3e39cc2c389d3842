/**
 * What a strategy is at the API boundary: the strategy types, selectable fields, and the zod
 * schemas of writes. Mirrors `supabase/migrations/*_domain.sql` (checks there, friendly errors
 * here), as `robots/schema.ts` does for robots.
 *
 * @module
 */
import { z } from 'zod';
import { listingFields, type ListingRow } from '../listing_row.ts';
import {
  boundedJsonObject,
  canonicalUuid,
  lazySchema,
  PARAMS_LIMITS,
  safeString,
} from '../validate.ts';

/** The strategy types the database's check constraint accepts (strategies and robots alike). */
export const STRATEGY_TYPES = [
  'trend_following',
  'mean_reversion',
  'breakout',
  'scalping',
  'grid',
  'martingale',
  'arbitrage',
  'momentum',
  'hedging',
  'custom',
] as const;

/** One of {@link STRATEGY_TYPES}. */
export type StrategyType = typeof STRATEGY_TYPES[number];

/** A strategy as the API returns it. */
export interface Strategy extends ListingRow {
  parameters: Record<string, unknown>;
}

/** Selectable strategy fields (the whitelist): API name -> SQL over alias `t`. */
export const STRATEGY_FIELDS = listingFields([
  'id',
  'user_id',
  'name',
  'description',
  'strategy_type',
  'parameters',
  'is_public',
  'created_at',
  'updated_at',
]);

/** A new strategy. Built on first use ({@link lazySchema}). */
export const strategyCreateSchema = lazySchema('strategyCreate', () =>
  z.object({
    id: canonicalUuid.optional(),
    user_id: canonicalUuid.optional(),
    name: safeString(120).trim().min(1),
    description: safeString(2000).optional(),
    strategy_type: z.enum(STRATEGY_TYPES),
    parameters: boundedJsonObject(PARAMS_LIMITS).optional(),
    is_public: z.boolean().optional(),
  }).strict());

/** Input of `StrategiesRepository.create`. */
export type StrategyCreate = z.input<typeof strategyCreateSchema>;

/** Changes to a strategy (owner and id are immutable). Built on first use ({@link lazySchema}). */
export const strategyUpdateSchema = lazySchema('strategyUpdate', () =>
  z.object({
    name: safeString(120).trim().min(1).optional(),
    description: safeString(2000).optional(),
    strategy_type: z.enum(STRATEGY_TYPES).optional(),
    parameters: boundedJsonObject(PARAMS_LIMITS).optional(),
    is_public: z.boolean().optional(),
  }).strict());

/** Input of `StrategiesRepository.update`. */
export type StrategyUpdate = z.input<typeof strategyUpdateSchema>;
