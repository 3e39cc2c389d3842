/**
 * The rate limit's settings: their schema with defaults, the `QF_RATELIMIT_*` variables that set
 * them, and reading them from the environment (the table: `../rate_limit.ts`).
 *
 * @module
 */
import { z } from 'zod';
import { type EnvReader, processEnv } from '../../runtime/env.ts';
import { ConfigError, type EnvBinding, readEnvBindings } from '../../optimizer/env.ts';

/** The settings, defaults applied. */
export const rateLimitSettingsSchema = z.object({
  enabled: z.boolean().default(true),
  anonLimit: z.number().int().min(1).max(1_000_000).default(300),
  userLimit: z.number().int().min(1).max(1_000_000).default(600),
  serviceLimit: z.number().int().min(0).max(1_000_000).default(0),
  windowMs: z.number().int().min(100).max(86_400_000).default(60_000),
  timeoutMs: z.number().int().min(1).max(10_000).default(100),
  fallbackMs: z.number().int().min(0).max(600_000).default(1_000),
  prefix: z.string().min(1).max(100).default('qf:ratelimit'),
}).strict();

/** `RateLimitOptions` (`../rate_limit.ts`) with defaults applied. */
export type RateLimitSettings = z.infer<typeof rateLimitSettingsSchema>;

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
      value !== undefined && name in rateLimitSettingsSchema.shape
    ),
  );
  const result = rateLimitSettingsSchema.safeParse({
    ...readEnvBindings(rateLimitEnvBindings, env),
    ...defined,
  });
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
