/**
 * The manager applies bounded settings in the store that every isolate reads within its refresh
 * bound; optimizeSystem follows its priority, target and time bound; warm-up pings and the
 * warming interval.
 */
import assert from 'node:assert/strict';
import { MemoryStore } from '../../shared/store/memory.ts';
import { Metrics } from '../../shared/optimizer/metrics.ts';
import { AdvancedBackendOptimizer } from '../../shared/optimizer/advanced.ts';
import {
  AppliedSettingsReader,
  BackendOptimizationManager,
  keyPrefixClass,
  nextWarmingInterval,
  SettingsStore,
} from '../../shared/optimizer/manager/mod.ts';
import { settleBackground } from '../../shared/runtime/background.ts';
import { createFunctionApp } from '../../shared/http/app.ts';
import { resetWarmState } from '../../shared/http/warmup_ping.ts';
import type { Database } from '../../shared/db/types.ts';

const noDatabase = () => Promise.reject(new Error('no database in this test')) as Promise<Database>;

function setup() {
  const store = new MemoryStore();
  const metrics = new Metrics();
  const optimizer = new AdvancedBackendOptimizer({
    store,
    metrics,
    metricsFlushIntervalMs: 0,
    config: { enableAdaptiveThrottling: false },
  });
  const manager = new BackendOptimizationManager({ optimizer, database: noDatabase });
  return { store, metrics, optimizer, manager };
}

/** 100 reads over 40 public keys on one prefix (hit rate ~0.6) with a 30 ms origin. */
async function skewedWorkload(optimizer: AdvancedBackendOptimizer, prefix: string) {
  for (let i = 0; i < 100; i++) {
    await optimizer.executeOptimizedOperation(undefined, async () => {
      await new Promise((r) => setTimeout(r, 1));
      return { i };
    }, { cacheKey: `${prefix}:k${i % 40}` });
  }
}

Deno.test('keyPrefixClass: user ids never reach a prefix class', () => {
  assert.equal(keyPrefixClass('pub:robots:list:%5B%5D'), 'pub:robots:list');
  assert.equal(keyPrefixClass('u=6f1c:robots:get:abc'), 'u=*:robots:get');
  assert.equal(keyPrefixClass('r=anon:robots'), 'r=anon:robots');
});

Deno.test('manager: a run applies a bounded TTL for the hot prefix and the optimizer uses it', async () => {
  const { optimizer, manager, store } = setup();
  await skewedWorkload(optimizer, 'pub:robots:list');
  const before = await optimizer.executeOptimizedOperationDetailed(
    undefined,
    () => Promise.resolve(1),
    {
      cacheKey: 'pub:robots:list:fresh-1',
    },
  );
  const result = await manager.performPredictiveOptimization();
  assert.equal(result.success, true, result.errors.join());
  const change = result.optimizationsApplied.find((c) =>
    c.setting === 'ttlByPrefix.pub:robots:list'
  );
  assert.ok(change, JSON.stringify(result.optimizationsApplied));
  assert.equal(change.from, 300_000);
  assert.equal(change.to, 600_000);
  assert.ok(change.evidence.length > 0);
  assert.ok(result.estimatedGainPercent > 0);
  // Recorded where every isolate reads it.
  assert.equal((await new SettingsStore(store).read()).ttlByPrefix['pub:robots:list'], 600_000);
  // The next entry of that prefix lives twice as long (same popularity: a fresh key).
  const after = await optimizer.executeOptimizedOperationDetailed(
    undefined,
    () => Promise.resolve(1),
    {
      cacheKey: 'pub:robots:list:fresh-2',
    },
  );
  const ratio = after.cache!.ttlMs / before.cache!.ttlMs;
  assert.ok(Math.abs(ratio - 2) < 0.01, `TTL ratio ${ratio}`);
  // No database: the run still applies, and says the record failed.
  assert.match(result.errors.join(), /record: no database/);
  // A second run with the same evidence goes further, never beyond the bound.
  for (let i = 0; i < 5; i++) await manager.performPredictiveOptimization();
  assert.equal(
    (await new SettingsStore(store).read()).ttlByPrefix['pub:robots:list'],
    manager.options.bounds.ttlMs[1],
  );
  await optimizer.close();
  await manager.close();
  await settleBackground();
});

Deno.test('settings: another isolate sees applied settings within its refresh bound', async () => {
  const store = new MemoryStore();
  let now = 1_000_000;
  const reader = new AppliedSettingsReader(store, { refreshMs: 5000, now: () => now });
  assert.equal(reader.ttlFor('pub:a:b:c'), undefined);
  await reader.settle();
  const writer = new SettingsStore(store);
  await writer.write({ ...(await writer.read()), ttlByPrefix: { 'pub:a:b': 42_000 } });
  now += 4999;
  assert.equal(reader.ttlFor('pub:a:b:c'), undefined, 'still within the refresh bound');
  now += 1;
  reader.ttlFor('pub:a:b:c'); // starts the refresh
  await reader.settle();
  assert.equal(reader.ttlFor('pub:a:b:c'), 42_000);
});

Deno.test('optimizeSystem: priority picks the changes; stops at the target', async () => {
  const { optimizer, manager } = setup();
  await skewedWorkload(optimizer, 'pub:robots:list');
  await skewedWorkload(optimizer, 'pub:strategies:list');
  const cost = await manager.optimizeSystem({ priority: 'cost', targetGainPercent: 100 });
  assert.ok(cost.optimizationsApplied.length > 0);
  assert.ok(cost.optimizationsApplied.every((c) => c.area === 'cache' || c.area === 'edge'));
  const reliability = await manager.optimizeSystem({ priority: 'reliability' });
  assert.deepEqual(reliability.optimizationsApplied, [], 'no reliability evidence, no change');
  assert.equal(reliability.stoppedBecause, 'no-more-changes');
  const { manager: fresh, optimizer: o2 } = setup();
  await skewedWorkload(o2, 'pub:robots:list');
  await skewedWorkload(o2, 'pub:strategies:list');
  const one = await fresh.optimizeSystem({ priority: 'performance', targetGainPercent: 0.0001 });
  assert.equal(one.optimizationsApplied.length, 1);
  assert.equal(one.stoppedBecause, 'target-reached');
  await assert.rejects(
    () => fresh.optimizeSystem({ priority: 'speed' as never }),
    /'priority' must be 'performance', 'cost' or 'reliability': received "speed"/,
  );
  for (const o of [optimizer, o2]) await o.close();
  await settleBackground();
});

Deno.test('warming interval: shorter after cold starts, longer while warm, within 1..15 min', () => {
  assert.equal(nextWarmingInterval(300_000, 1, 4).nextMs, 150_000);
  assert.equal(nextWarmingInterval(300_000, 3, 4).nextMs, 75_000);
  assert.equal(nextWarmingInterval(300_000, 0, 4).nextMs, 450_000);
  assert.equal(nextWarmingInterval(70_000, 4, 4).nextMs, 60_000);
  assert.equal(nextWarmingInterval(800_000, 0, 4).nextMs, 900_000);
  assert.equal(nextWarmingInterval(300_000, 0, 0).nextMs, 300_000);
});

Deno.test('warm-up ping: answered before any route or database work; cold once per function', async () => {
  resetWarmState();
  const app = createFunctionApp('pingtest');
  let routeRan = 0;
  app.all('*', () => {
    routeRan++;
    throw new Error('the database must not be touched by a ping');
  });
  const first = await app.request('/pingtest/__warmup', { method: 'POST' });
  assert.equal(first.status, 200);
  const body = await first.json();
  assert.equal(body.function, 'pingtest');
  assert.equal(body.coldStart, true);
  assert.equal(typeof body.instanceId, 'string');
  const second = await app.request('/pingtest/anything', { headers: { 'x-warmup': '1' } });
  assert.equal((await second.json()).coldStart, false);
  assert.equal(routeRan, 0);
  resetWarmState();
  assert.equal((await (await app.request('/pingtest/__warmup')).json()).coldStart, true);
});
