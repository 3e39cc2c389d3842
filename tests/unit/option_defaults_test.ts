/**
 * The option parsers' default path (shared/optimizer/options_defaults.ts): a configuration that
 * sets only defaults is answered without building a zod schema (a cold start's usual case), and
 * yields exactly what the schemas yield; anything else is still validated, with the same errors.
 */
import assert from 'node:assert/strict';
import {
  optimizationConfigFromEnv,
  optimizationConfigSchema,
  parseOptimizationConfig,
} from '../../shared/optimizer/config.ts';
import {
  CACHE_OPTION_DEFAULTS,
  cacheOptionsSchema,
  defaultPredictiveCacheConfig,
  parseCacheOptions,
} from '../../shared/optimizer/cache/options.ts';
import {
  parseQueryPlanOptions,
  QUERY_PLAN_OPTION_DEFAULTS,
  queryPlanOptionsSchema,
} from '../../shared/optimizer/query-plan/options.ts';
import {
  parseResilienceOptions,
  RESILIENCE_OPTION_DEFAULTS,
  resilienceOptionsSchema,
} from '../../shared/optimizer/resilience/options.ts';
import { setsOnlyDefaults } from '../../shared/optimizer/options_defaults.ts';

Deno.test('option defaults: the constants are what the schemas yield for {}', () => {
  assert.deepEqual(cacheOptionsSchema.parse({}), { ...CACHE_OPTION_DEFAULTS });
  assert.deepEqual(queryPlanOptionsSchema.parse({}), { ...QUERY_PLAN_OPTION_DEFAULTS });
  assert.deepEqual(resilienceOptionsSchema.parse({}), { ...RESILIENCE_OPTION_DEFAULTS });
  const schemaDefaults = optimizationConfigSchema.parse({});
  assert.deepEqual(parseOptimizationConfig(), schemaDefaults);
  assert.deepEqual(
    parseOptimizationConfig({ cache: {}, resilience: {}, queryPlan: {} }),
    schemaDefaults,
  );
  assert.deepEqual(optimizationConfigFromEnv(() => undefined), schemaDefaults);
  assert.deepEqual(defaultPredictiveCacheConfig().cache, schemaDefaults.cache);
});

Deno.test('option defaults: the default path returns fresh copies', () => {
  const a = parseOptimizationConfig();
  a.cache.leaseMs = 1;
  a.maxRetryAttempts = 9;
  assert.equal(parseOptimizationConfig().cache.leaseMs, 5000);
  assert.equal(parseOptimizationConfig().maxRetryAttempts, 3);
  assert.notEqual(parseResilienceOptions(), parseResilienceOptions());
  assert.ok(Object.isFrozen(CACHE_OPTION_DEFAULTS));
});

Deno.test('option defaults: an input setting other values, or unknown keys, is still validated', () => {
  assert.equal(parseOptimizationConfig({ maxRetryAttempts: 5 }).maxRetryAttempts, 5);
  assert.equal(parseCacheOptions({ leaseMs: 2000 }).leaseMs, 2000);
  assert.equal(parseQueryPlanOptions({ explainAnalyze: true }).explainAnalyze, true);
  assert.throws(
    () => parseOptimizationConfig({ maxRetryAttempts: 0 }),
    /Invalid optimization config: 'maxRetryAttempts' Too small: expected number to be >=1: received 0/,
  );
  // An unknown key is refused even when its value is undefined (as .strict() does), or a default.
  assert.throws(
    () => parseOptimizationConfig({ nope: undefined } as never),
    /Unrecognized key: "nope"/,
  );
  assert.throws(() => parseCacheOptions({ keyprefix: 'qf:cache:' }), /Unrecognized key/);
  assert.throws(() => parseQueryPlanOptions({ adviceMaxSelectivity: 2 }));
  assert.throws(
    () => parseResilienceOptions({ breakerOpenMs: -1 }),
    /Invalid resilience options: 'resilience.breakerOpenMs'/,
  );
  // Wrong types equal to no default.
  assert.throws(() => parseCacheOptions('x'));
  assert.throws(() => parseCacheOptions([]));
  assert.equal(setsOnlyDefaults({ a: undefined }, { a: 1 }), true);
  assert.equal(setsOnlyDefaults({ b: undefined }, { a: 1 }), false);
  assert.equal(setsOnlyDefaults(new Map(), { a: 1 }), false);
  assert.equal(setsOnlyDefaults({ a: Number.NaN }, { a: Number.NaN }), true);
});

Deno.test('option defaults: a fresh isolate starting on defaults builds no option schema', async () => {
  const probe = `
    import { optimizationConfigFromEnv } from '${new URL(
    '../../shared/optimizer/config.ts',
    import.meta.url,
  )}';
    import { QueryPlanOptimizer } from '${new URL(
    '../../shared/optimizer/query-plan/optimizer.ts',
    import.meta.url,
  )}';
    import { parseResilienceOptions } from '${new URL(
    '../../shared/optimizer/resilience/options.ts',
    import.meta.url,
  )}';
    import { defaultPredictiveCacheConfig } from '${new URL(
    '../../shared/optimizer/cache/options.ts',
    import.meta.url,
  )}';
    import { optionSchemasBuilt } from '${new URL(
    '../../shared/optimizer/options_defaults.ts',
    import.meta.url,
  )}';
    const config = optimizationConfigFromEnv(() => undefined);
    parseResilienceOptions(config.resilience);
    new QueryPlanOptimizer({ query: async () => [], options: config.queryPlan });
    defaultPredictiveCacheConfig();
    const onDefaults = optionSchemasBuilt();
    optimizationConfigFromEnv(() => undefined, { cache: { leaseMs: 2000 } });
    console.log(JSON.stringify([onDefaults, optionSchemasBuilt()]));
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ['eval', '--config', new URL('../../deno.json', import.meta.url).pathname, probe],
    env: { DENO_NO_PACKAGE_JSON: '1', NO_COLOR: '1' },
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  // None on defaults; a non-default value builds the top-level schema and its three sections.
  assert.deepEqual(JSON.parse(text), [0, 4]);
});
