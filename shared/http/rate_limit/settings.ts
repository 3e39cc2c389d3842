/**
 * The rate limit's settings: their schema with defaults, the `QF_RATELIMIT_*` variables that set
 * them, and reading them from the environment (the table: `../rate_limit.ts`).
 *
 * @module
 */
import { z } from 'zod';
import { type EnvReader, processEnv } from '../../runtime/env.ts';
import { lazySchema } from '../../db/validate.ts';
import { ConfigError, type EnvBinding, readEnvBindings } from '../../optimizer/env.ts';

/** The numeric settings' bounds (integers, inclusive) and defaults (schema and plain path). */
const NUMBER_SETTINGS = {
  anonLimit: { min: 1, max: 1_000_000, default: 300 },
  userLimit: { min: 1, max: 1_000_000, default: 600 },
  serviceLimit: { min: 0, max: 1_000_000, default: 0 },
  windowMs: { min: 100, max: 86_400_000, default: 60_000 },
  timeoutMs: { min: 1, max: 10_000, default: 100 },
  fallbackMs: { min: 0, max: 600_000, default: 1_000 },
} as const;

/** Bounds of `prefix`, characters. */
const PREFIX_LENGTH = { min: 1, max: 100 } as const;

/** The settings' defaults. */
const DEFAULT_SETTINGS = Object.freeze({
  enabled: true,
  ...Object.fromEntries(Object.entries(NUMBER_SETTINGS).map(([k, v]) => [k, v.default])),
  prefix: 'qf:ratelimit',
}) as Readonly<RateLimitSettings>;

/**
 * The settings, defaults applied. Built on first use (`lazySchema`):
 * {@link rateLimitSettingsFromEnv} needs it only for values it cannot accept at a glance (to word
 * the error). Its bounds are `NUMBER_SETTINGS` and `PREFIX_LENGTH`, which the plain path checks.
 */
export const rateLimitSettingsSchema = lazySchema('rateLimitSettings', () => {
  const int = (name: keyof typeof NUMBER_SETTINGS) =>
    z.number().int().min(NUMBER_SETTINGS[name].min).max(NUMBER_SETTINGS[name].max)
      .default(NUMBER_SETTINGS[name].default);
  return z.object({
    enabled: z.boolean().default(true),
    anonLimit: int('anonLimit'),
    userLimit: int('userLimit'),
    serviceLimit: int('serviceLimit'),
    windowMs: int('windowMs'),
    timeoutMs: int('timeoutMs'),
    fallbackMs: int('fallbackMs'),
    prefix: z.string().min(PREFIX_LENGTH.min).max(PREFIX_LENGTH.max).default('qf:ratelimit'),
  }).strict();
});

/**
 * `input` with defaults applied when every value it sets is plainly valid (what the schema would
 * answer, without building it: a cold start reads these settings at import); `undefined`
 * otherwise (the schema then says what is wrong).
 */
function plainlyValid(input: Record<string, unknown>): RateLimitSettings | undefined {
  for (const [name, value] of Object.entries(input)) {
    if (value === undefined) continue;
    if (name === 'enabled') {
      if (typeof value !== 'boolean') return undefined;
    } else if (name === 'prefix') {
      if (
        typeof value !== 'string' || value.length < PREFIX_LENGTH.min ||
        value.length > PREFIX_LENGTH.max
      ) return undefined;
    } else if (Object.hasOwn(NUMBER_SETTINGS, name)) {
      const bounds = NUMBER_SETTINGS[name as keyof typeof NUMBER_SETTINGS];
      if (
        !Number.isInteger(value) || (value as number) < bounds.min || (value as number) > bounds.max
      ) {
        return undefined;
      }
    } else {
      return undefined;
    }
  }
  const settings: Record<string, unknown> = { ...DEFAULT_SETTINGS };
  for (const [name, value] of Object.entries(input)) {
    if (value !== undefined) settings[name] = value;
  }
  return settings as unknown as RateLimitSettings;
}

/** `RateLimitOptions` (`../rate_limit.ts`) with defaults applied. */
export interface RateLimitSettings {
  enabled: boolean;
  anonLimit: number;
  userLimit: number;
  serviceLimit: number;
  windowMs: number;
  timeoutMs: number;
  fallbackMs: number;
  prefix: string;
}

/** How each option's variable is read. */
const OPTION_TYPES: Readonly<Record<keyof RateLimitSettings, EnvBinding['type']>> = {
  enabled: 'boolean',
  anonLimit: 'number',
  userLimit: 'number',
  serviceLimit: 'number',
  windowMs: 'number',
  timeoutMs: 'number',
  fallbackMs: 'number',
  prefix: 'string',
};

/**
 * Every `QF_RATELIMIT_*` variable and the option it sets (README and docs/security.md): the
 * option's name in upper snake case (`anonLimit`: `QF_RATELIMIT_ANON_LIMIT`).
 */
export const rateLimitEnvBindings: readonly EnvBinding[] = Object.entries(OPTION_TYPES).map((
  [path, type],
) => ({ env: `QF_RATELIMIT_${path.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`, path, type }));

/**
 * Reads the settings from the environment; defined values in `overrides` win.
 *
 * @example
 * ```ts
 * rateLimitSettingsFromEnv(() => undefined).anonLimit; // 300
 * ```
 */
export function rateLimitSettingsFromEnv(
  env: EnvReader = processEnv,
  overrides: Partial<RateLimitSettings> = {},
): RateLimitSettings {
  const defined = Object.fromEntries(
    Object.entries(overrides).filter(([name, value]) =>
      value !== undefined && Object.hasOwn(OPTION_TYPES, name)
    ),
  );
  const input = { ...readEnvBindings(rateLimitEnvBindings, env), ...defined };
  const plain = plainlyValid(input);
  if (plain) return plain;
  const result = rateLimitSettingsSchema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0];
    const binding = rateLimitEnvBindings.find((b) => b.path === issue.path.join('.'));
    throw new ConfigError(
      `rate limit option '${issue.path.join('.')}'${
        binding ? ` (${binding.env})` : ''
      } ${issue.message}`,
    );
  }
  return result.data;
}
