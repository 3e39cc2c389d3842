/**
 * Pre-warming is real in the served API: a robots listing declares the public strategies it
 * references as `dependencies`, the loaders `_shared/loaders.ts` registers (robots and warmup)
 * load them in the background, and the strategies app of the same isolate then answers from
 * memory as `prewarmed`, counted in `cache.prewarm.dependency` and `cache.prewarm`. Real
 * PostgreSQL 15 and Redis behind the Upstash REST bridge.
 */
import assert from 'node:assert/strict';
import { createPostgresDatabase } from '../../shared/db/postgres.ts';
import { signLocalJwt } from '../../shared/http/auth.ts';
import {
  AdvancedBackendOptimizer,
  Metrics,
  parseOptimizationConfig,
} from '../../shared/optimizer/mod.ts';
import { BackendOptimizationManager } from '../../shared/optimizer/manager/mod.ts';
import { settleBackground } from '../../shared/runtime/background.ts';
import { UpstashStore } from '../../shared/store/upstash.ts';
import {
  createRobotsApp,
  MAX_STRATEGY_DEPENDENCIES,
  prewarmableRobotKeys,
  publicRobotsListKey,
  strategyDependencies,
} from '../../supabase/functions/robots/app.ts';
import { createStrategiesApp, publicStrategyKey } from '../../supabase/functions/strategies/app.ts';
import { createWarmupApp } from '../../supabase/functions/warmup/app.ts';
import { databaseUrl, upstashBridge } from '../support/services.ts';

type App = { request: (path: string, init?: RequestInit) => Response | Promise<Response> };

async function call(
  app: App,
  method: string,
  path: string,
  options: { token?: string; body?: unknown } = {},
): Promise<Response> {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] = 'application/json';
  }
  const response = await app.request(path, { method, headers, body });
  await settleBackground();
  return response;
}

const xCache = (response: Response) => response.headers.get('x-cache') ?? '';

Deno.test('strategyDependencies: the first few distinct public strategy keys, in order', () => {
  const ids = Array.from({ length: 8 }, () => crypto.randomUUID());
  const items = [
    { strategy_id: ids[0] },
    { strategy_id: null },
    { strategy_id: ids[0] },
    {},
    ...ids.slice(1).map((strategy_id) => ({ strategy_id })),
    { strategy_id: 'not-a-uuid' },
  ];
  const keys = strategyDependencies(items);
  assert.equal(keys.length, MAX_STRATEGY_DEPENDENCIES);
  assert.deepEqual(
    keys,
    ids.slice(0, MAX_STRATEGY_DEPENDENCIES).map((id) => publicStrategyKey(id)),
  );
  assert.deepEqual(strategyDependencies(undefined), []);
  assert.deepEqual(strategyDependencies([{ strategy_id: 'x' }]), []);
  assert.deepEqual(prewarmableRobotKeys([undefined]), [publicRobotsListKey()]);
  assert.equal(prewarmableRobotKeys('all').length, 11);
});

Deno.test('robots listings pre-warm the strategies they reference (PostgreSQL, Redis)', async (t) => {
  const db = createPostgresDatabase(databaseUrl());
  const { url, token } = upstashBridge();
  const store = new UpstashStore({ url, token, timeoutMs: 2_000 });
  const metrics = new Metrics();
  const newOptimizer = (m: Metrics) =>
    new AdvancedBackendOptimizer({
      store,
      metrics: m,
      metricsFlushIntervalMs: 0,
      config: parseOptimizationConfig({
        predictiveCacheTTL: 60_000,
        // Memory copies trusted for 10 min: a memory hit here never depends on timing.
        cache: {
          keyPrefix: `qf:test:${crypto.randomUUID()}:`,
          storeTimeoutMs: 2_000,
          popularityFlushMs: 0,
          memoryStalenessMs: 600_000,
        },
      }),
    });
  const optimizer = newOptimizer(metrics);
  const deps = { db: () => Promise.resolve(db), optimizer };
  // One isolate: both functions on the same optimizer (as the dev server and a region would
  // not share them, the served robots function registers the strategies loaders itself).
  const robots = createRobotsApp(deps);
  const strategies = createStrategiesApp(deps);
  const aliceId = crypto.randomUUID();
  const alice = await signLocalJwt({ role: 'authenticated', sub: aliceId });
  try {
    const strategy = await (await call(strategies, 'POST', '/strategies', {
      token: alice,
      body: { name: 'Arb basics', strategy_type: 'arbitrage', is_public: true },
    })).json() as { id: string; name: string };
    assert.match(strategy.id, /^[0-9a-f-]{36}$/);
    const created = await call(robots, 'POST', '/robots', {
      token: alice,
      body: {
        name: 'Arb bot',
        strategy_type: 'arbitrage',
        strategy_id: strategy.id,
        is_public: true,
      },
    });
    assert.equal(created.status, 201);
    await created.body?.cancel();
    const strategyKey = publicStrategyKey(strategy.id);
    const listPath = '/robots/public?strategy_type=arbitrage&limit=5';

    await t.step(
      'a listing read pre-warms its strategies; strategies answers prewarmed',
      async () => {
        const before = metrics.snapshot().counters;
        const page = await call(robots, 'GET', listPath);
        assert.equal(page.status, 200);
        const items = (await page.json() as { items: { id: string; strategy_id: string }[] }).items;
        assert.equal(items[0].strategy_id, strategy.id, 'the newest public arbitrage robot');
        const after = metrics.snapshot().counters;
        const delta = (name: string) => (after[name] ?? 0) - (before[name] ?? 0);
        assert.ok(delta('cache.prewarm.dependency') >= 1, JSON.stringify(after));
        assert.ok(delta('cache.prewarm') >= 1, JSON.stringify(after));

        const originBefore = optimizer.getMetrics().originCalls;
        const read = await call(strategies, 'GET', `/strategies/${strategy.id}`);
        assert.equal(read.status, 200);
        assert.equal(xCache(read), 'prewarmed; tier=memory; reason=prewarmed');
        assert.equal((await read.json() as { name: string }).name, 'Arb basics');
        assert.equal(optimizer.getMetrics().originCalls, originBefore, 'no origin call');
        const again = await call(strategies, 'GET', `/strategies/${strategy.id}`);
        assert.match(xCache(again), /^hit; tier=memory/);
        await again.body?.cancel();
      },
    );

    await t.step('the next read declares them: the cache pre-warms what is gone', async () => {
      await optimizer.invalidate(strategyKey);
      const before = metrics.counter('cache.prewarm.dependency');
      const page = await call(robots, 'GET', listPath);
      assert.match(xCache(page), /^hit; tier=memory/);
      await page.body?.cancel();
      assert.equal(metrics.counter('cache.prewarm.dependency'), before + 1);
      const read = await call(strategies, 'GET', `/strategies/${strategy.id}`);
      assert.equal(xCache(read), 'prewarmed; tier=memory; reason=prewarmed');
      await read.body?.cancel();
      // Warm already: a further listing read pre-warms nothing.
      await (await call(robots, 'GET', listPath)).body?.cancel();
      assert.equal(metrics.counter('cache.prewarm.dependency'), before + 1);
    });

    await t.step(
      'the public listing has a loader; a public write drops its pre-warmed page',
      async () => {
        const key = publicRobotsListKey({ strategy_type: 'arbitrage' });
        await optimizer.invalidate(key);
        // Loaded by the loader, with no tags (no earlier copy): only the exact key reaches it.
        const report = await optimizer.cache.prewarm([key]);
        assert.deepEqual(report.warmed, [key]);
        const page = await call(robots, 'GET', '/robots/public?strategy_type=arbitrage');
        assert.equal(xCache(page), 'prewarmed; tier=memory; reason=prewarmed');
        await page.body?.cancel();
        const newer = await (await call(robots, 'POST', '/robots', {
          token: alice,
          body: { name: 'Arb bot 2', strategy_type: 'arbitrage', is_public: true },
        })).json() as { id: string };
        const fresh = await call(robots, 'GET', '/robots/public?strategy_type=arbitrage');
        assert.match(xCache(fresh), /^miss/);
        const ids = (await fresh.json() as { items: { id: string }[] }).items.map((r) => r.id);
        assert.ok(ids.includes(newer.id), 'the new public robot is listed');
      },
    );

    await t.step('warmup registers the same loaders on its optimizer', async () => {
      const warmMetrics = new Metrics();
      const warmOptimizer = newOptimizer(warmMetrics);
      const manager = new BackendOptimizationManager({
        optimizer: warmOptimizer,
        database: () => Promise.resolve(db),
      });
      try {
        const unregistered = await warmOptimizer.cache.prewarm([strategyKey]);
        assert.deepEqual(unregistered.skipped, [{ key: strategyKey, reason: 'no-loader' }]);
        createWarmupApp({ manager, db: () => Promise.resolve(db) });
        const report = await warmOptimizer.cache.prewarm([strategyKey, publicRobotsListKey()]);
        assert.deepEqual(report.skipped, []);
        assert.deepEqual(report.warmed.sort(), [strategyKey, publicRobotsListKey()].sort());
        assert.equal(warmMetrics.counter('cache.prewarm'), 2);
      } finally {
        await manager.close();
        await warmOptimizer.close();
      }
    });
  } finally {
    await settleBackground();
    await optimizer.close();
    await db.close();
  }
});
