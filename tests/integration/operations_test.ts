/**
 * The operations half on real Redis (through the Upstash REST bridge) and real PostgreSQL 15:
 * exact metrics across instances under store faults, a scripted workload tuned by
 * `POST /optimizer/run` with an observed effect, the run recorded, recommendations with their
 * evidence (and none without it), and auth on every service route.
 */
import assert from 'node:assert/strict';
import { UpstashStore } from '../../shared/store/upstash.ts';
import { Metrics, readSharedMetrics } from '../../shared/optimizer/metrics.ts';
import { AdvancedBackendOptimizer } from '../../shared/optimizer/advanced.ts';
import { BackendOptimizationManager } from '../../shared/optimizer/manager/mod.ts';
import { createPostgresDatabase } from '../../shared/db/postgres.ts';
import { signLocalJwt } from '../../shared/http/auth.ts';
import { settleBackground } from '../../shared/runtime/background.ts';
import { startRedisBridge } from '../../scripts/redis-bridge.ts';
import { startRedisServer } from '../../scripts/services/redis.ts';
import { createOptimizerApp } from '../../supabase/functions/optimizer/app.ts';
import { createWarmupApp } from '../../supabase/functions/warmup/app.ts';
import { databaseUrl, upstashBridge } from '../support/services.ts';

Deno.test('metrics on Redis: N events across 3 instances read back as N, with Redis paused and the bridge stopped mid-flush', async () => {
  const redis = await startRedisServer();
  let bridge = await startRedisBridge({ redisUrl: redis.url, token: 'metrics-token' });
  try {
    let store = new UpstashStore({ url: bridge.url, token: bridge.token, timeoutMs: 400 });
    const instances = [new Metrics(), new Metrics(), new Metrics()];
    let expected = 0;
    let expectedMs = 0;
    const record = () => {
      instances.forEach((m, i) => {
        for (let n = 0; n < 20 + i; n++) {
          m.increment('optimizer.operations');
          m.increment('cache.origin.saved.ms', 0.75); // fractional: HINCRBY refused these
          m.observe('optimizer.origin.ms', 12.5);
          expected++;
          expectedMs += 0.75;
        }
      });
    };
    record();
    for (const m of instances) await m.flushTo(store);

    // Redis paused: the flushes time out, and Redis applies them once it resumes.
    record();
    Deno.kill(redis.pid, 'SIGSTOP');
    try {
      for (const m of instances) await assert.rejects(m.flushTo(store));
    } finally {
      Deno.kill(redis.pid, 'SIGCONT');
    }
    for (const m of instances) await m.flushTo(store); // the retry: same totals again

    // The bridge stopped: nothing reaches Redis; a new bridge takes the retries.
    record();
    await bridge.close();
    for (const m of instances) await assert.rejects(m.flushTo(store));
    bridge = await startRedisBridge({ redisUrl: redis.url, token: 'metrics-token' });
    store = new UpstashStore({ url: bridge.url, token: bridge.token, timeoutMs: 2000 });
    for (const m of instances) await m.flushTo(store);
    for (const m of instances) await m.flushTo(store); // nothing new: nothing added

    const shared = await readSharedMetrics(store);
    assert.equal(shared.counters['optimizer.operations'], expected);
    assert.equal(shared.counters['cache.origin.saved.ms'], expectedMs);
    assert.equal(shared.histograms['optimizer.origin.ms'].count, expected);
    assert.equal(shared.histograms['optimizer.origin.ms'].sum, expected * 12.5);
  } finally {
    await bridge.close();
    await redis.stop();
  }
});

const CRON_SECRET = 'operations-test-cron-secret';
const env = (name: string) => (name === 'CRON_SECRET' ? CRON_SECRET : undefined);

function setup(db: ReturnType<typeof createPostgresDatabase>) {
  const ns = `qf:ops${crypto.randomUUID().slice(0, 8)}:`;
  const store = new UpstashStore({ ...upstashBridge(), timeoutMs: 5000 });
  const metrics = new Metrics();
  const optimizer = new AdvancedBackendOptimizer({
    store,
    metrics,
    metricsFlushIntervalMs: 0,
    config: { enableAdaptiveThrottling: false, cache: { keyPrefix: `${ns}cache:` } },
  });
  const manager = new BackendOptimizationManager({
    optimizer,
    database: () => Promise.resolve(db),
    namespace: ns,
    options: { thresholds: { slowOriginP95Ms: 20 } },
  });
  const app = createOptimizerApp({ manager, database: () => Promise.resolve(db), env });
  return { ns, store, metrics, optimizer, manager, app };
}

Deno.test('optimizer run on Redis + Postgres: a hot prefix and a slow query -> a TTL change whose effect is observed, recorded in optimization_runs', async () => {
  const db = createPostgresDatabase(databaseUrl());
  const { optimizer, manager, app } = setup(db);
  const idle = setup(db);
  try {
    // Skewed access: 90 reads over 50 public keys of one prefix; each miss is a slow query.
    for (let i = 0; i < 90; i++) {
      await optimizer.executeOptimizedOperation(
        db,
        () => db.query('select pg_sleep(0.03), $1::int as i', [i % 50]),
        { cacheKey: `pub:robots:list:k${i % 50}`, resourceKey: 'robots_db' },
      );
    }
    const fresh = (n: number) =>
      optimizer.executeOptimizedOperationDetailed(db, () => db.query('select 1 as one'), {
        cacheKey: `pub:robots:list:fresh-${n}`,
        resourceKey: 'robots_db',
      });
    const before = await fresh(1);

    const recommendations = await (await app.request('/optimizer/recommendations', {
      headers: { 'x-cron-secret': CRON_SECRET },
    })).json();
    const ids = recommendations.recommendations.map((r: { id: string }) => r.id);
    assert.ok(ids.includes('cache-ttl:pub:robots:list'), ids.join());
    assert.ok(ids.includes('cache-and-index'), ids.join());
    const correlation = recommendations.recommendations.find((r: { id: string }) =>
      r.id === 'cache-and-index'
    );
    assert.deepEqual(
      correlation.evidence.map((e: { metric: string }) => e.metric),
      ['cache.hit_rate', 'optimizer.origin.p95_ms'],
    );
    assert.ok(correlation.evidence[1].value > 20, 'the slow query is the evidence');

    const res = await app.request('/optimizer/run', {
      method: 'POST',
      headers: { 'x-cron-secret': CRON_SECRET, 'content-type': 'application/json' },
      body: JSON.stringify({ trigger: 'cron', job: 'quantforge-optimizer-run' }),
    });
    assert.equal(res.status, 200);
    const run = await res.json();
    const ttl = run.optimizationsApplied.find((c: { setting: string }) =>
      c.setting === 'ttlByPrefix.pub:robots:list'
    );
    assert.ok(ttl, JSON.stringify(run.optimizationsApplied));
    assert.equal(ttl.area, 'cache');
    assert.ok(ttl.to > ttl.from);
    assert.ok(ttl.evidence.length >= 2);
    assert.ok(run.estimatedGainPercent > 0);
    assert.ok(run.maintenance.metricRowsAggregated > 0);

    // The effect: the next entry of the prefix is cached with the raised TTL.
    const after = await fresh(2);
    // (Popularity scales both entries alike; its rounding may differ by a millisecond.)
    const ratio = after.cache!.ttlMs / before.cache!.ttlMs;
    assert.ok(Math.abs(ratio - ttl.to / ttl.from) < 0.01, `TTL ratio ${ratio}`);

    // The run row, with what it applied.
    const [row] = await db.query<{ status: string; trigger: string; applied: unknown }>(
      'select status, trigger, applied from public.optimization_runs where id = $1',
      [run.runId],
    );
    assert.equal(row.trigger, 'cron');
    assert.ok(['succeeded', 'partial'].includes(row.status), row.status);
    const applied = typeof row.applied === 'string' ? JSON.parse(row.applied) : row.applied;
    assert.ok(
      applied.some((c: { setting: string }) => c.setting === 'ttlByPrefix.pub:robots:list'),
    );
    const runs = await (await app.request('/optimizer/runs?limit=5', {
      headers: { 'x-cron-secret': CRON_SECRET },
    })).json();
    assert.ok(runs.runs.some((r: { id: string }) => r.id === run.runId));

    // Without the conditions (no traffic in its namespace): no recommendation, no change.
    const quiet = await (await idle.app.request('/optimizer/recommendations', {
      headers: { 'x-cron-secret': CRON_SECRET },
    })).json();
    assert.deepEqual(quiet.recommendations, []);
    const quietRun = await (await idle.app.request('/optimizer/run', {
      method: 'POST',
      headers: { 'x-cron-secret': CRON_SECRET },
    })).json();
    assert.deepEqual(quietRun.optimizationsApplied, []);

    const status = await (await app.request('/optimizer/status', {
      headers: { 'x-cron-secret': CRON_SECRET },
    })).json();
    assert.equal(status.overrides.ttlByPrefix['pub:robots:list'], ttl.to);
    assert.ok(status.metrics['15m'].cache.requests >= 90);
    assert.ok(status.lastRuns.length > 0);
  } finally {
    await optimizer.close();
    await idle.optimizer.close();
    await manager.close();
    await settleBackground();
    await db.close();
  }
});

Deno.test('service routes: anon 401, user 403, service_role JWT and cron secret 200; bad input 4xx JSON', async () => {
  const db = createPostgresDatabase(databaseUrl());
  const { optimizer, manager, app } = setup(db);
  const warmup = createWarmupApp({
    manager,
    env: (name) =>
      ({
        CRON_SECRET,
        FUNCTIONS_URL: 'http://127.0.0.1:9/functions/v1',
        WARMUP_FUNCTIONS: 'health',
      })[name],
    timeoutMs: 1000,
  });
  try {
    const [anon, user, service] = await Promise.all([
      signLocalJwt({ role: 'anon' }),
      signLocalJwt({ role: 'authenticated', sub: crypto.randomUUID() }),
      signLocalJwt({ role: 'service_role' }),
    ]);
    const routes: [typeof app | typeof warmup, string, string][] = [
      [app, 'POST', '/optimizer/run'],
      [app, 'POST', '/optimizer/system'],
      [app, 'GET', '/optimizer/status'],
      [app, 'GET', '/optimizer/recommendations'],
      [app, 'GET', '/optimizer/metrics?window=1m'],
      [app, 'GET', '/optimizer/runs'],
      [warmup, 'POST', '/warmup'],
    ];
    for (const [target, method, path] of routes) {
      const call = async (headers: Record<string, string>) => {
        const res = await target.request(path, { method, headers });
        const body = await res.json();
        return { status: res.status, body };
      };
      const none = await call({});
      assert.equal(none.status, 401, `${method} ${path} without credentials`);
      assert.equal(typeof none.body.error.code, 'string');
      assert.equal((await call({ authorization: `Bearer ${anon}` })).status, 403, path);
      assert.equal((await call({ authorization: `Bearer ${user}` })).status, 403, path);
      assert.equal((await call({ authorization: `Bearer ${service}` })).status, 200, path);
      assert.equal((await call({ 'x-cron-secret': CRON_SECRET })).status, 200, path);
      assert.equal((await call({ 'x-cron-secret': 'wrong' })).status, 401, path);
    }
    const h = { 'x-cron-secret': CRON_SECRET };
    for (
      const [path, init, status] of [
        ['/optimizer/metrics?window=2h', {}, 400],
        ['/optimizer/runs?limit=0', {}, 400],
        ['/optimizer/runs?kind=other', {}, 400],
        ['/optimizer/system', {
          method: 'POST',
          body: '{"priority":"speed"}',
          headers: { 'content-type': 'application/json' },
        }, 400],
        ['/optimizer/system', {
          method: 'POST',
          body: '{"priority":',
          headers: { 'content-type': 'application/json' },
        }, 400],
        ['/optimizer/run', {
          method: 'POST',
          body: 'run',
          headers: { 'content-type': 'text/plain' },
        }, 415],
      ] as [string, RequestInit, number][]
    ) {
      const res = await app.request(path, { ...init, headers: { ...h, ...init.headers } });
      assert.equal(res.status, status, path);
      const body = await res.json();
      assert.equal(typeof body.error.code, 'string');
      assert.doesNotMatch(JSON.stringify(body), /at .*\.ts:\d+/);
    }
    const system = await (await app.request('/optimizer/system', {
      method: 'POST',
      headers: { ...h, 'content-type': 'application/json' },
      body: JSON.stringify({ priority: 'reliability', maxDurationMs: 5000, targetGainPercent: 5 }),
    })).json();
    assert.equal(system.success, true);
    const [row] = await db.query<{ trigger: string }>(
      'select trigger from public.optimization_runs where id = $1',
      [system.runId],
    );
    assert.equal(row.trigger, 'system:reliability');
    const report = await (await warmup.request('/warmup', { method: 'POST', headers: h })).json();
    assert.deepEqual(report.functions.map((f: { function: string }) => f.function), ['health']);
    assert.equal(report.functions[0].ok, false, 'nothing listens on port 9');
    assert.equal(report.interval.nextMs, report.interval.previousMs, 'no answer: interval kept');
  } finally {
    await optimizer.close();
    await manager.close();
    await settleBackground();
    await db.close();
  }
});

Deno.test('alerts on Postgres: a degradation against the previous window is recorded, sent to the webhook, and resolved once gone', async () => {
  const db = createPostgresDatabase(databaseUrl());
  const received: unknown[] = [];
  const hook = Deno.serve({ hostname: '127.0.0.1', port: 0, onListen: () => {} }, async (req) => {
    received.push(await req.json());
    return new Response(null, { status: 204 });
  });
  const ns = `qf:alert${crypto.randomUUID().slice(0, 8)}:`;
  const store = new UpstashStore({ ...upstashBridge(), timeoutMs: 5000 });
  const optimizer = new AdvancedBackendOptimizer({
    store,
    metrics: new Metrics(),
    metricsFlushIntervalMs: 0,
  });
  let shift = 0;
  const manager = new BackendOptimizationManager({
    optimizer,
    database: () => Promise.resolve(db),
    namespace: ns,
    now: () => Date.now() + shift,
    env: (name) =>
      name === 'ALERT_WEBHOOK_URL' ? `http://127.0.0.1:${hook.addr.port}/alerts` : undefined,
  });
  try {
    // The previous 15 minutes: fast and healthy. The current ones: slow, failing, missing.
    const window = (at: number, ms: number, errors: number, hits: number) => {
      const m = new Metrics();
      for (let i = 0; i < 100; i++) {
        m.increment('optimizer.operations');
        m.observe('optimizer.operation.ms', ms);
        if (i < errors) m.increment('optimizer.errors');
        m.increment(`cache.prefix.requests:pub:alerts:list`);
        if (i < hits) m.increment(`cache.prefix.hits:pub:alerts:list`);
      }
      return m.flushTo(store, { prefix: `${ns}metrics:`, now: () => at });
    };
    await window(Date.now() - 20 * 60_000, 20, 0, 90);
    await window(Date.now(), 400, 20, 30);

    const first = await manager.performPredictiveOptimization(db);
    const metrics = first.alerts.map((a) => a.metric).sort();
    assert.deepEqual(metrics, [
      'cache.hit_rate',
      'optimizer.error_rate',
      'optimizer.operation.p95_ms',
    ]);
    const hit = first.alerts.find((a) => a.metric === 'cache.hit_rate')!;
    assert.equal(hit.previousValue, 0.9);
    assert.equal(hit.currentValue, 0.3);
    assert.equal(hit.webhookStatus, '204');
    const [row] = await db.query<{ webhook_status: string; run_id: string }>(
      'select webhook_status, run_id from public.optimization_alerts where id = $1',
      [hit.id],
    );
    assert.equal(row.webhook_status, '204');
    assert.equal(row.run_id, first.runId);
    assert.equal(received.length, 3);
    assert.equal((received[0] as { type: string }).type, 'optimizer.alert');

    // 40 minutes later the degraded window has passed: the run resolves the alerts.
    shift = 40 * 60_000;
    const later = await manager.performPredictiveOptimization(db);
    assert.deepEqual(later.alerts, []);
    const [resolved] = await db.query<{ resolved_at: unknown }>(
      'select resolved_at from public.optimization_alerts where id = $1',
      [hit.id],
    );
    assert.notEqual(resolved.resolved_at, null);
    assert.equal(received.length, 3, 'no webhook for a resolution');
  } finally {
    await optimizer.close();
    await manager.close();
    await settleBackground();
    await hook.shutdown();
    await db.close();
  }
});

Deno.test('metrics pipeline: runs aggregate the store into optimization_metrics (idempotently); the 1 h window reads older minutes back from Postgres', async () => {
  const db = createPostgresDatabase(databaseUrl());
  const { ns, store, optimizer, manager, app } = setup(db);
  try {
    const at = Date.now() - 45 * 60_000;
    const m = new Metrics();
    m.increment('optimizer.operations', 7);
    m.observe('optimizer.operation.ms', 12);
    await m.flushTo(store, { prefix: `${ns}metrics:`, now: () => at });
    const run = async () =>
      await (await app.request('/optimizer/run', {
        method: 'POST',
        headers: { 'x-cron-secret': CRON_SECRET },
      })).json();
    assert.ok((await run()).maintenance.metricRowsAggregated >= 2);
    await run(); // aggregating again replaces, never adds
    const rows = await db.query<{ count: string | number; sum: number }>(
      `select count, sum from public.optimization_metrics
        where scope = $1 and metric = 'counter:optimizer.operations'`,
      [ns],
    );
    assert.equal(rows.length, 1);
    assert.equal(Number(rows[0].count), 7);
    // The store forgets the minute: the 1 h window still has it, from Postgres; 15 min does not.
    const bucket = at - (at % 60_000);
    await store.del(`${ns}metrics:${bucket}:w`);
    const hour = await (await app.request('/optimizer/metrics?window=1h', {
      headers: { 'x-cron-secret': CRON_SECRET },
    })).json();
    assert.equal(hour.areas.database.operations, 7);
    assert.equal(hour.postgres['counter:optimizer.operations'].sum, 7);
    const quarter = await (await app.request('/optimizer/metrics?window=15m', {
      headers: { 'x-cron-secret': CRON_SECRET },
    })).json();
    assert.equal(quarter.areas.database.operations, 0);
  } finally {
    await optimizer.close();
    await manager.close();
    await settleBackground();
    await db.close();
  }
});
