/**
 * What a robot is at the API boundary: selectable fields and the zod schemas of writes (the
 * strategy types are `strategies/schema.ts`'s). Mirrors `supabase/migrations/*_domain.sql` (checks there, friendly errors here).
 *
 * @module
 */
import { z } from 'zod';
import { listingFields, type ListingRow } from '../listing_row.ts';
import { STRATEGY_TYPES } from '../strategies/schema.ts';
import {
  boundedJsonObject,
  canonicalUuid,
  lazySchema,
  PARAMS_LIMITS,
  safeString,
} from '../validate.ts';

/** A robot as the API returns it (timestamps as UTC ISO strings with microseconds). */
export interface Robot extends ListingRow {
  strategy_id: string | null;
  strategy_params: Record<string, unknown>;
}

/** Selectable robot fields (the whitelist): API name -> SQL over alias `t`. */
export const ROBOT_FIELDS = listingFields([
  'id',
  'user_id',
  'strategy_id',
  'name',
  'description',
  'strategy_type',
  'strategy_params',
  'is_public',
  'created_at',
  'updated_at',
]);

/**
 * `name`, `description` and `strategy_params` (bounded by {@link PARAMS_LIMITS}: depth, keys,
 * sizes; no NUL), made for each schema as it is built.
 */
const fields = () => ({
  name: safeString(120).trim().min(1),
  description: safeString(2000),
  params: boundedJsonObject(PARAMS_LIMITS),
});

/**
 * A new robot. `user_id` is taken from the caller's JWT for users; required for the service.
 * Built on first use ({@link lazySchema}).
 */
export const robotCreateSchema = lazySchema('robotCreate', () => {
  const { name, description, params } = fields();
  return z.object({
    id: canonicalUuid.optional(),
    user_id: canonicalUuid.optional(),
    strategy_id: canonicalUuid.nullable().optional(),
    name,
    description: description.optional(),
    strategy_type: z.enum(STRATEGY_TYPES),
    strategy_params: params.optional(),
    is_public: z.boolean().optional(),
  }).strict();
});

/** Changes to a robot (owner and id are immutable). Built on first use ({@link lazySchema}). */
export const robotUpdateSchema = lazySchema('robotUpdate', () => {
  const { name, description, params } = fields();
  return z.object({
    strategy_id: canonicalUuid.nullable().optional(),
    name: name.optional(),
    description: description.optional(),
    strategy_type: z.enum(STRATEGY_TYPES).optional(),
    strategy_params: params.optional(),
    is_public: z.boolean().optional(),
  }).strict();
});

/** Input of create. */
export type RobotCreate = z.input<typeof robotCreateSchema>;
/** Input of update. */
export type RobotUpdate = z.input<typeof robotUpdateSchema>;
