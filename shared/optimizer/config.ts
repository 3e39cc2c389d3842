/**
 * `OptimizationConfig`: the optimizer's configuration, with the spec's option names, read from
 * the environment with defaults and validated with errors that say what was received.
 *
 * Durations are milliseconds throughout.
 *
 * @module
 */
import { z } from 'zod';
import { type EnvReader, processEnv } from '../runtime/env.ts';
import { ConfigError, type EnvBinding, readEnvBindings } from './env.ts';
import {
  cacheEnvBindings,
  cacheOptionsSchema,
  DEFAULT_PREDICTIVE_CACHE_TTL_MS,
} from './cache/options.ts';
import { resilienceEnvBindings, resilienceOptionsSchema } from './resilience/options.ts';
import { queryPlanEnvBindings, queryPlanOptionsSchema } from './query-plan/options.ts';

export { ConfigError } from './env.ts';

/** Schema of {@link OptimizationConfig}. */
export const optimizationConfigSchema = z.object({
  /** Cache operation results in two tiers with popularity-adjusted TTL and pre-warming. @default true */
  enablePredictiveCaching: z.boolean().default(true),
  /** Inspect query plans and pick the cheaper strategy; advise indexes. @default true */
  enableQueryPlanOptimization: z.boolean().default(true),
  /** Bound concurrency per resource (bulkheads) and pool database connections. @default true */
  enableResourcePooling: z.boolean().default(true),
  /** Rate windows per resource whose limits adapt to latency and errors. @default true */
  enableAdaptiveThrottling: z.boolean().default(true),
  /** Retry transient failures with exponential backoff and jitter. @default true */
  enableIntelligentRetries: z.boolean().default(true),
  /** Base time to live of a cache entry (ms), before popularity adjusts it. @default 300000 */
  predictiveCacheTTL: z.number().int().min(1000).max(7 * 86_400_000).default(
    DEFAULT_PREDICTIVE_CACHE_TTL_MS,
  ),
  /** Most attempts of one operation, the first included. @default 3 */
  maxRetryAttempts: z.number().int().min(1).max(10).default(3),
  /** Base delay of the exponential backoff (ms): `retryBackoffBase * 2^(n-1) + jitter`. @default 100 */
  retryBackoffBase: z.number().min(1).max(60_000).default(100),
  /** Predictive cache details. */
  cache: cacheOptionsSchema.default(cacheOptionsSchema.parse({})),
  /** Retry, breaker, throttle, pool, dedup and batch details. */
  resilience: resilienceOptionsSchema.default(resilienceOptionsSchema.parse({})),
  /** Query-plan analysis details. */
  queryPlan: queryPlanOptionsSchema.default(queryPlanOptionsSchema.parse({})),
}).strict();

/** The optimizer's configuration, defaults applied. */
export type OptimizationConfig = z.infer<typeof optimizationConfigSchema>;

/** What a caller may pass: any subset, nested sections partial too. */
export type OptimizationConfigInput =
  & Partial<Omit<OptimizationConfig, 'cache' | 'resilience' | 'queryPlan'>>
  & {
    cache?: Partial<OptimizationConfig['cache']>;
    resilience?: Partial<OptimizationConfig['resilience']>;
    queryPlan?: Partial<OptimizationConfig['queryPlan']>;
  };

/** Every environment variable of the configuration, for the README and the parser. */
export const optimizationEnvBindings: readonly EnvBinding[] = [
  { env: 'QF_ENABLE_PREDICTIVE_CACHING', path: 'enablePredictiveCaching', type: 'boolean' },
  {
    env: 'QF_ENABLE_QUERY_PLAN_OPTIMIZATION',
    path: 'enableQueryPlanOptimization',
    type: 'boolean',
  },
  { env: 'QF_ENABLE_RESOURCE_POOLING', path: 'enableResourcePooling', type: 'boolean' },
  { env: 'QF_ENABLE_ADAPTIVE_THROTTLING', path: 'enableAdaptiveThrottling', type: 'boolean' },
  { env: 'QF_ENABLE_INTELLIGENT_RETRIES', path: 'enableIntelligentRetries', type: 'boolean' },
  { env: 'QF_PREDICTIVE_CACHE_TTL_MS', path: 'predictiveCacheTTL', type: 'number' },
  { env: 'QF_MAX_RETRY_ATTEMPTS', path: 'maxRetryAttempts', type: 'number' },
  { env: 'QF_RETRY_BACKOFF_BASE_MS', path: 'retryBackoffBase', type: 'number' },
  ...cacheEnvBindings,
  ...resilienceEnvBindings,
  ...queryPlanEnvBindings,
];

/**
 * Validates a configuration, applying defaults. Throws {@link ConfigError} naming every bad
 * option and what it received.
 *
 * @example
 * ```ts
 * const config = parseOptimizationConfig({ maxRetryAttempts: 5 });
 * config.retryBackoffBase; // 100
 * ```
 */
export function parseOptimizationConfig(input: OptimizationConfigInput = {}): OptimizationConfig {
  const withSections = {
    ...input,
    cache: input.cache ?? {},
    resilience: input.resilience ?? {},
    queryPlan: input.queryPlan ?? {},
  };
  const result = optimizationConfigSchema.safeParse(withSections);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.join('.');
    const received = issue.path.reduce<unknown>(
      (node, key) => (node as Record<PropertyKey, unknown> | undefined)?.[key],
      withSections,
    );
    return `'${path}' ${issue.message}: received ${JSON.stringify(received)}`;
  });
  throw new ConfigError(`Invalid optimization config: ${problems.join('; ')}`);
}

/**
 * Reads the configuration from the environment (see {@link optimizationEnvBindings}); values
 * in `overrides` win.
 *
 * @example
 * ```ts
 * const config = optimizationConfigFromEnv(); // defaults with no environment
 * ```
 */
export function optimizationConfigFromEnv(
  env: EnvReader = processEnv,
  overrides: OptimizationConfigInput = {},
): OptimizationConfig {
  const fromEnv = readEnvBindings(optimizationEnvBindings, env) as OptimizationConfigInput;
  return parseOptimizationConfig({
    ...fromEnv,
    ...overrides,
    cache: { ...fromEnv.cache, ...overrides.cache },
    resilience: { ...fromEnv.resilience, ...overrides.resilience },
    queryPlan: { ...fromEnv.queryPlan, ...overrides.queryPlan },
  });
}
