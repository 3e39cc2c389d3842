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
  CACHE_OPTION_DEFAULTS,
  cacheEnvBindings,
  cacheOptionsSchema,
  DEFAULT_PREDICTIVE_CACHE_TTL_MS,
} from './cache/options.ts';
import {
  RESILIENCE_OPTION_DEFAULTS,
  resilienceEnvBindings,
  resilienceOptionsSchema,
} from './resilience/options.ts';
import {
  QUERY_PLAN_OPTION_DEFAULTS,
  queryPlanEnvBindings,
  queryPlanOptionsSchema,
} from './query-plan/options.ts';
import { countSchemaBuild, setsOnlyDefaults } from './options_defaults.ts';

export { ConfigError } from './env.ts';

/**
 * The top-level options' defaults (the spec's options; the sections have theirs:
 * `CACHE_OPTION_DEFAULTS`, `RESILIENCE_OPTION_DEFAULTS`, `QUERY_PLAN_OPTION_DEFAULTS`).
 */
const TOP_LEVEL_DEFAULTS = Object.freeze({
  enablePredictiveCaching: true,
  enableQueryPlanOptimization: true,
  enableResourcePooling: true,
  enableAdaptiveThrottling: true,
  enableIntelligentRetries: true,
  predictiveCacheTTL: DEFAULT_PREDICTIVE_CACHE_TTL_MS,
  maxRetryAttempts: 3,
  retryBackoffBase: 100,
});

/**
 * Schema of {@link OptimizationConfig}. Built on its first use (`z.lazy`): a configuration that
 * sets only defaults needs no schema (see {@link parseOptimizationConfig}).
 */
export const optimizationConfigSchema = z.lazy(() => {
  countSchemaBuild();
  return z.object({
    /** Cache operation results in two tiers with popularity-adjusted TTL and pre-warming. @default true */
    enablePredictiveCaching: z.boolean().default(TOP_LEVEL_DEFAULTS.enablePredictiveCaching),
    /** Inspect query plans and pick the cheaper strategy; advise indexes. @default true */
    enableQueryPlanOptimization: z.boolean().default(
      TOP_LEVEL_DEFAULTS.enableQueryPlanOptimization,
    ),
    /** Bound concurrency per resource (bulkheads) and pool database connections. @default true */
    enableResourcePooling: z.boolean().default(TOP_LEVEL_DEFAULTS.enableResourcePooling),
    /** Rate windows per resource whose limits adapt to latency and errors. @default true */
    enableAdaptiveThrottling: z.boolean().default(TOP_LEVEL_DEFAULTS.enableAdaptiveThrottling),
    /** Retry transient failures with exponential backoff and jitter. @default true */
    enableIntelligentRetries: z.boolean().default(TOP_LEVEL_DEFAULTS.enableIntelligentRetries),
    /** Base time to live of a cache entry (ms), before popularity adjusts it. @default 300000 */
    predictiveCacheTTL: z.number().int().min(1000).max(7 * 86_400_000).default(
      TOP_LEVEL_DEFAULTS.predictiveCacheTTL,
    ),
    /** Most attempts of one operation, the first included. @default 3 */
    maxRetryAttempts: z.number().int().min(1).max(10).default(TOP_LEVEL_DEFAULTS.maxRetryAttempts),
    /** Base delay of the exponential backoff (ms): `retryBackoffBase * 2^(n-1) + jitter`. @default 100 */
    retryBackoffBase: z.number().min(1).max(60_000).default(TOP_LEVEL_DEFAULTS.retryBackoffBase),
    /** Predictive cache details. */
    cache: cacheOptionsSchema.default({ ...CACHE_OPTION_DEFAULTS }),
    /** Retry, breaker, throttle, pool, dedup and batch details. */
    resilience: resilienceOptionsSchema.default({ ...RESILIENCE_OPTION_DEFAULTS }),
    /** Query-plan analysis details. */
    queryPlan: queryPlanOptionsSchema.default({ ...QUERY_PLAN_OPTION_DEFAULTS }),
  }).strict();
});

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

/** A fresh copy of the defaults (what validating `{}` yields). */
function defaultOptimizationConfig(): OptimizationConfig {
  return {
    ...TOP_LEVEL_DEFAULTS,
    cache: { ...CACHE_OPTION_DEFAULTS },
    resilience: { ...RESILIENCE_OPTION_DEFAULTS },
    queryPlan: { ...QUERY_PLAN_OPTION_DEFAULTS },
  };
}

/** True when `input` sets nothing but default values, in its sections too. */
function setsOnlyDefaultOptions(input: Record<string, unknown>): boolean {
  const { cache, resilience, queryPlan, ...top } = input;
  return setsOnlyDefaults(top, TOP_LEVEL_DEFAULTS) &&
    setsOnlyDefaults(cache, CACHE_OPTION_DEFAULTS) &&
    setsOnlyDefaults(resilience, RESILIENCE_OPTION_DEFAULTS) &&
    setsOnlyDefaults(queryPlan, QUERY_PLAN_OPTION_DEFAULTS);
}

/**
 * Validates a configuration, applying defaults. A configuration setting only default values is
 * answered without building the schema (a cold start's usual case). Throws {@link ConfigError} naming every bad
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
  if (setsOnlyDefaultOptions(withSections)) return defaultOptimizationConfig();
  const result = optimizationConfigSchema.safeParse(withSections, { jitless: true });
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
