import assert from 'node:assert/strict';
import {
  optimizationConfigFromEnv,
  parseOptimizationConfig,
} from '../../shared/optimizer/config.ts';
import { resilienceEnvBindings } from '../../shared/optimizer/resilience/options.ts';

Deno.test('resilience options: defaults, env bindings and clear errors', () => {
  const config = parseOptimizationConfig({});
  assert.equal(config.resilience.breakerFailureRateThreshold, 0.5);
  assert.equal(config.resilience.throttleMaxWaitMs, 100);
  const env: Record<string, string> = {
    QF_BREAKER_OPEN_MS: '2000',
    QF_THROTTLE_LIMIT: '7',
    QF_POOL_MAX_QUEUE: '0',
  };
  const fromEnv = optimizationConfigFromEnv((name) => env[name]);
  assert.equal(fromEnv.resilience.breakerOpenMs, 2000);
  assert.equal(fromEnv.resilience.throttleLimit, 7);
  assert.equal(fromEnv.resilience.poolMaxQueue, 0);
  assert.throws(
    () => parseOptimizationConfig({ resilience: { breakerFailureRateThreshold: 2 } }),
    /'resilience.breakerFailureRateThreshold' .*received 2/,
  );
  // Every binding points at a real option.
  const keys = Object.keys(config.resilience);
  for (const b of resilienceEnvBindings) {
    assert.ok(b.env.startsWith('QF_'));
    assert.ok(keys.includes(b.path.replace('resilience.', '')), b.path);
  }
  assert.equal(resilienceEnvBindings.length, keys.length);
});
