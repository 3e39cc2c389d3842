import assert from 'node:assert/strict';
import {
  ConfigError,
  optimizationConfigFromEnv,
  optimizationEnvBindings,
  parseOptimizationConfig,
} from '../../shared/optimizer/config.ts';

const envOf = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test('config: defaults apply with no environment', () => {
  const config = optimizationConfigFromEnv(envOf({}));
  assert.equal(config.enablePredictiveCaching, true);
  assert.equal(config.enableQueryPlanOptimization, true);
  assert.equal(config.enableResourcePooling, true);
  assert.equal(config.enableAdaptiveThrottling, true);
  assert.equal(config.enableIntelligentRetries, true);
  assert.equal(config.predictiveCacheTTL, 300_000);
  assert.equal(config.maxRetryAttempts, 3);
  assert.equal(config.retryBackoffBase, 100);
});

Deno.test('config: environment variables set options, booleans in several spellings', () => {
  const config = optimizationConfigFromEnv(envOf({
    QF_ENABLE_PREDICTIVE_CACHING: 'off',
    QF_ENABLE_ADAPTIVE_THROTTLING: 'FALSE',
    QF_ENABLE_INTELLIGENT_RETRIES: '1',
    QF_MAX_RETRY_ATTEMPTS: '5',
    QF_RETRY_BACKOFF_BASE_MS: '250',
    QF_PREDICTIVE_CACHE_TTL_MS: ' 60000 ',
  }));
  assert.equal(config.enablePredictiveCaching, false);
  assert.equal(config.enableAdaptiveThrottling, false);
  assert.equal(config.enableIntelligentRetries, true);
  assert.equal(config.maxRetryAttempts, 5);
  assert.equal(config.retryBackoffBase, 250);
  assert.equal(config.predictiveCacheTTL, 60_000);
});

Deno.test('config: overrides win over the environment', () => {
  const config = optimizationConfigFromEnv(envOf({ QF_MAX_RETRY_ATTEMPTS: '5' }), {
    maxRetryAttempts: 2,
  });
  assert.equal(config.maxRetryAttempts, 2);
});

Deno.test('config: a non-number names the variable and what it received', () => {
  assert.throws(
    () => optimizationConfigFromEnv(envOf({ QF_MAX_RETRY_ATTEMPTS: 'three' })),
    (error: unknown) =>
      error instanceof ConfigError &&
      error.message === 'QF_MAX_RETRY_ATTEMPTS must be a finite number: received "three"',
  );
});

Deno.test('config: a bad boolean names the variable', () => {
  assert.throws(
    () => optimizationConfigFromEnv(envOf({ QF_ENABLE_RESOURCE_POOLING: 'maybe' })),
    /QF_ENABLE_RESOURCE_POOLING must be true or false.*received "maybe"/,
  );
});

Deno.test('config: out-of-range values are rejected with the option and the value', () => {
  assert.throws(
    () => parseOptimizationConfig({ maxRetryAttempts: 0 }),
    (error: unknown) =>
      error instanceof ConfigError && /'maxRetryAttempts' .*: received 0/.test(error.message),
  );
  assert.throws(
    () => parseOptimizationConfig({ predictiveCacheTTL: 10 }),
    /'predictiveCacheTTL' .*: received 10/,
  );
});

Deno.test('config: unknown options are rejected, not ignored', () => {
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => parseOptimizationConfig({ enablePredictiveCache: true } as any),
    ConfigError,
  );
});

Deno.test('config: every binding names a distinct QF_ variable that the parser accepts', () => {
  const names = optimizationEnvBindings.map((b) => b.env);
  assert.equal(new Set(names).size, names.length);
  for (const binding of optimizationEnvBindings) {
    assert.match(binding.env, /^QF_[A-Z0-9_]+$/);
  }
});
