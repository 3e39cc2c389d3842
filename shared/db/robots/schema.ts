/**
 * What a robot is at the API boundary: selectable fields, strategy types, and the zod schemas of
 * writes. Mirrors `supabase/migrations/*_domain.sql` (checks there, friendly errors here).
 *
 * @module
 */
import { z } from 'zod';
import { type FieldMap, isoTimestamp } from '../pagination.ts';
import { boundedJsonObject, canonicalUuid, PARAMS_LIMITS, safeString } from '../validate.ts';

/** The strategy types the database's check constraint accepts. */
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

/** A robot as the API returns it (timestamps as UTC ISO strings with microseconds). */
export interface Robot {
  id: string;
  user_id: string;
  strategy_id: string | null;
  name: string;
  description: string;
  strategy_type: StrategyType;
  strategy_params: Record<string, unknown>;
  is_public: boolean;
  created_at: string;
  updated_at: string;
}

/** Selectable robot fields (the whitelist): API name -> SQL over alias `t`. */
export const ROBOT_FIELDS: FieldMap = Object.freeze({
  id: 't.id',
  user_id: 't.user_id',
  strategy_id: 't.strategy_id',
  name: 't.name',
  description: 't.description',
  strategy_type: 't.strategy_type',
  strategy_params: 't.strategy_params',
  is_public: 't.is_public',
  created_at: isoTimestamp('t.created_at'),
  updated_at: isoTimestamp('t.updated_at'),
});

const name = safeString(120).trim().min(1);
const description = safeString(2000);
/** `strategy_params`: bounded by {@link PARAMS_LIMITS} (depth, keys, sizes; no NUL). */
const params = boundedJsonObject(PARAMS_LIMITS);

/** A new robot. `user_id` is taken from the caller's JWT for users; required for the service. */
export const robotCreateSchema = z.object({
  id: canonicalUuid.optional(),
  user_id: canonicalUuid.optional(),
  strategy_id: canonicalUuid.nullable().optional(),
  name,
  description: description.optional(),
  strategy_type: z.enum(STRATEGY_TYPES),
  strategy_params: params.optional(),
  is_public: z.boolean().optional(),
}).strict();

/** Changes to a robot (owner and id are immutable). */
export const robotUpdateSchema = z.object({
  strategy_id: canonicalUuid.nullable().optional(),
  name: name.optional(),
  description: description.optional(),
  strategy_type: z.enum(STRATEGY_TYPES).optional(),
  strategy_params: params.optional(),
  is_public: z.boolean().optional(),
}).strict();

/** Input of create. */
export type RobotCreate = z.input<typeof robotCreateSchema>;
/** Input of update. */
export type RobotUpdate = z.input<typeof robotUpdateSchema>;
