/**
 * The dashboard's server side on real Redis (through the Upstash REST bridge) and real
 * PostgreSQL 15: the public page and its assets (CSP, no inline script), the `x-operator-key`
 * sign-in (same origin only, the shared auth unchanged otherwise), the time series from the store
 * and from Postgres, the health checks, and applying one recommendation as a recorded run.
 */
import assert from 'node:assert/strict';
import { UpstashStore } from '../../shared/store/upstash.ts';
import { Metrics } from '../../shared/optimizer/metrics.ts';
import { AdvancedBackendOptimizer } from '../../shared/optimizer/advanced.ts';
import { BackendOptimizationManager, seriesOf } from '../../shared/optimizer/manager/mod.ts';
import { createPostgresDatabase } from '../../shared/db/postgres.ts';
import type { Database } from '../../shared/db/types.ts';
import { signLocalJwt } from '../../shared/http/auth.ts';
import { settleBackground } from '../../shared/runtime/background.ts';
import { createOptimizerApp } from '../../supabase/functions/optimizer/app.ts';
import {
  DASHBOARD_ASSETS,
  UPLOT_VERSION,
} from '../../supabase/functions/optimizer/dashboard/mod.ts';
import { UPLOT_CSS, UPLOT_JS } from '../../supabase/functions/optimizer/dashboard/vendor/uplot.ts';
import { databaseUrl, upstashBridge } from '../support/services.ts';
import { withIsolatedDatabase } from '../support/isolated_database.ts';

const CRON_SECRET = 'dashboard-test-cron-secret';
const SECRET_KEY = 'sb_secret_dashboard-test-key-0123456789';
const env = (name: string) =>
  name === 'CRON_SECRET' ? CRON_SECRET : name === 'SUPABASE_SECRET_KEY' ? SECRET_KEY : undefined;
const cron = { 'x-cron-secret': CRON_SECRET, 'content-type': 'application/json' };
/** What Chromium sends on the page's own fetches. */
const browser = {
  'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Chrome/142',
  'sec-fetch-site': 'same-origin',
};

function setup(
  db: Database,
  now?: () => number,
  ns = `qf:dash${crypto.randomUUID().slice(0, 8)}:`,
) {
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
    now,
  });
  const app = createOptimizerApp({ manager, database: () => Promise.resolve(db), env });
  return { ns, optimizer, manager, app };
}

async function workload(optimizer: AdvancedBackendOptimizer, db: Database) {
  // 60 reads over 30 public keys of one prefix: hit rate 0.5, a TTL recommendation.
  for (let i = 0; i < 60; i++) {
    await optimizer.executeOptimizedOperation(
      db,
      () => db.query('select $1::int as i', [i % 30]),
      { cacheKey: `pub:robots:list:k${i % 30}`, resourceKey: 'robots_db' },
    );
  }
}

Deno.test('dashboard page: public HTML and assets with a CSP and no inline script; data routes stay service-only', async () => {
  const db = createPostgresDatabase(databaseUrl());
  const { optimizer, manager, app } = setup(db);
  try {
    const page = await app.request('/optimizer/dashboard');
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(page.headers.get('x-frame-options'), 'DENY');
    const html = await page.text();
    // Every script has a src (no inline script), no inline style, no external origin.
    assert.equal([...html.matchAll(/<script(?![^>]*\ssrc=)[^>]*>/g)].length, 0);
    assert.doesNotMatch(html, /\sstyle=|<style/);
    assert.doesNotMatch(html, /https?:\/\//);
    assert.match(html, /<h1>/);
    assert.match(html, /<label for="key">/);

    for (const path of Object.keys(DASHBOARD_ASSETS).filter((p) => p !== '/dashboard')) {
      const res = await app.request(`/optimizer${path}`);
      assert.equal(res.status, 200, path);
      assert.equal(await res.text(), DASHBOARD_ASSETS[path].body);
      assert.match(res.headers.get('content-type') ?? '', /^text\/(javascript|css)/);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    }
    const slash = await app.request('/optimizer/dashboard/');
    assert.equal(slash.status, 301);
    assert.equal(slash.headers.get('location'), '../dashboard');
    // Anything else under /dashboard is not public.
    assert.equal((await app.request('/optimizer/dashboard/other.js')).status, 401);

    for (const path of ['/status', '/series', '/health', '/recommendations', '/runs']) {
      const res = await app.request(`/optimizer${path}`);
      assert.equal(res.status, 401, path);
      assert.equal((await res.json()).error.code, 'missing_authorization');
    }
  } finally {
    await optimizer.close();
    await manager.close();
    await settleBackground();
    await db.close();
  }
});

Deno.test('dashboard sign-in: x-operator-key admits the secret key, service_role JWT and cron secret from the page only', async () => {
  const db = createPostgresDatabase(databaseUrl());
  const { optimizer, manager, app } = setup(db);
  try {
    const status = async (headers: Record<string, string>) => {
      const res = await app.request('/optimizer/health', { headers });
      const body = await res.json();
      return res.status === 200 ? 200 : `${res.status} ${body.error?.code}`;
    };
    const [service, anon] = await Promise.all([
      signLocalJwt({ role: 'service_role' }),
      signLocalJwt({ role: 'anon' }),
    ]);
    // The shared auth refuses a secret key from a browser; the operator header admits it.
    assert.equal(await status({ ...browser, apikey: SECRET_KEY }), '401 secret_key_in_browser');
    assert.equal(await status({ ...browser, 'x-operator-key': SECRET_KEY }), 200);
    assert.equal(await status({ ...browser, 'x-operator-key': ` ${service} ` }), 200);
    assert.equal(await status({ ...browser, 'x-operator-key': CRON_SECRET }), 200);
    // Without Sec-Fetch-Site (curl, Deno's fetch) too.
    assert.equal(await status({ 'x-operator-key': SECRET_KEY }), 200);
    // Not from another site's page.
    for (const site of ['cross-site', 'same-site', 'none']) {
      assert.equal(
        await status({ ...browser, 'sec-fetch-site': site, 'x-operator-key': SECRET_KEY }),
        '401 operator_key_cross_site',
      );
    }
    // Wrong or weaker credentials.
    assert.equal(
      await status({ ...browser, 'x-operator-key': 'sb_secret_wrong' }),
      '401 invalid_api_key',
    );
    assert.equal(
      await status({ ...browser, 'x-operator-key': 'not-the-secret' }),
      '401 invalid_cron_secret',
    );
    assert.equal(await status({ ...browser, 'x-operator-key': anon }), '403 service_only');
    assert.equal(await status({ ...browser, 'x-operator-key': '' }), '401 invalid_cron_secret');
    // The other routes' credentials are unchanged.
    assert.equal(await status({ 'x-cron-secret': CRON_SECRET }), 200);
    assert.equal(await status({ apikey: SECRET_KEY }), 200);
  } finally {
    await optimizer.close();
    await manager.close();
    await settleBackground();
    await db.close();
  }
});

Deno.test('dashboard data: series from the store and from Postgres, health, apply a recommendation as a recorded run', async () => {
  // A database of its own: the apply run drains the shared invalidation outbox other tests watch.
  await withIsolatedDatabase('dashboard_data', dataTest);
});

async function dataTest(url: string): Promise<void> {
  const db = createPostgresDatabase(url);
  const { ns, optimizer, manager, app } = setup(db);
  // The same namespace 40 minutes later: the workload's minute is older than the store part.
  const later = setup(db, () => Date.now() + 40 * 60_000, ns);
  try {
    await workload(optimizer, db);
    const get = async (path: string) => {
      const res = await app.request(`/optimizer${path}`, { headers: cron });
      return { status: res.status, body: await res.json() };
    };

    const hour = await get('/series?range=1h');
    assert.equal(hour.status, 200);
    assert.equal(hour.body.points.length, 60);
    assert.equal(hour.body.stepMs, 60_000);
    const cached = hour.body.points.reduce(
      (s: number, p: { cacheRequests: number }) => s + p.cacheRequests,
      0,
    );
    assert.equal(cached, 60, 'every cached operation is counted once');
    const busy = hour.body.points.filter((p: { cacheRequests: number }) => p.cacheRequests > 0);
    for (const p of busy) {
      assert.ok(p.hitRate >= 0 && p.hitRate <= 1);
      assert.equal(
        Math.round((p.hitRateMemory + p.hitRateRedis + p.hitRateStale) * 1000),
        Math.round(p.hitRate * 1000),
      );
    }
    const idle = hour.body.points.find((p: { cacheRequests: number }) => p.cacheRequests === 0);
    assert.equal(idle.hitRate, null, 'no traffic: no rate, a gap in the chart');
    const day = await get('/series?range=24h');
    assert.equal(day.body.points.length, 96);
    assert.equal(day.body.stepMs, 900_000);
    const bad = await get('/series?range=7d');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'invalid_range');

    const health = await get('/health');
    assert.equal(health.status, 200);
    assert.deepEqual(
      health.body.backends.map((b: { name: string; backend: string; ok: boolean }) => [
        b.name,
        b.backend,
        b.ok,
      ]),
      [['store', 'upstash', true], ['database', 'postgres', true]],
    );

    // Apply the hot prefix's TTL recommendation: recorded as a run with its id.
    const recs = (await get('/recommendations')).body.recommendations;
    const rec = recs.find((r: { id: string }) => r.id === 'cache-ttl:pub:robots:list');
    assert.ok(rec, JSON.stringify(recs.map((r: { id: string }) => r.id)));
    const res = await app.request(
      `/optimizer/recommendations/${encodeURIComponent(rec.id)}/apply`,
      { method: 'POST', headers: cron },
    );
    assert.equal(res.status, 200);
    const applied = await res.json();
    assert.deepEqual(
      applied.optimizationsApplied.map((c: { setting: string }) => c.setting),
      rec.changes.map((c: { setting: string }) => c.setting),
    );
    const run = (await get('/runs?kind=optimize&limit=5')).body.runs.find((r: { id: string }) =>
      r.id === applied.runId
    );
    assert.equal(run.trigger, 'apply:cache-ttl:pub:robots:list');
    assert.equal(run.details.recommendationId, rec.id);
    const status = (await get('/status')).body;
    assert.equal(status.overrides.ttlByPrefix['pub:robots:list'], rec.changes[0].to);

    // Unknown id 404, bad body 4xx, never 500.
    const missing = await app.request('/optimizer/recommendations/no-such-rule/apply', {
      method: 'POST',
      headers: cron,
    });
    assert.equal(missing.status, 404);
    assert.equal((await missing.json()).error.code, 'recommendation_not_found');
    const text = await app.request(
      `/optimizer/recommendations/${encodeURIComponent(rec.id)}/apply`,
      {
        method: 'POST',
        headers: { 'x-cron-secret': CRON_SECRET, 'content-type': 'text/plain' },
        body: 'apply',
      },
    );
    assert.equal(text.status, 415);
    const long = await app.request(`/optimizer/recommendations/${'x'.repeat(201)}/apply`, {
      method: 'POST',
      headers: cron,
    });
    assert.equal(long.status, 400);

    // The runs aggregated the workload's minute into Postgres: 40 minutes later, the series
    // still holds it (read from optimization_metrics, not the store).
    const fromPostgres = await (await later.app.request('/optimizer/series?range=1h', {
      headers: cron,
    })).json();
    const total = fromPostgres.points.reduce(
      (s: number, p: { cacheRequests: number }) => s + p.cacheRequests,
      0,
    );
    assert.equal(total, 60);
  } finally {
    for (const s of [{ optimizer, manager }, later]) {
      await s.optimizer.close();
      await s.manager.close();
    }
    await settleBackground();
    await db.close();
  }
}

Deno.test('dashboard health: a database that cannot connect is reported down (503), the store still checked', async () => {
  const db = createPostgresDatabase(databaseUrl());
  const { optimizer, manager } = setup(db);
  const app = createOptimizerApp({
    manager,
    database: () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:1')),
    env,
  });
  try {
    const res = await app.request('/optimizer/health', { headers: cron });
    assert.equal(res.status, 503);
    const body = await res.json();
    assert.equal(body.backends[0].ok, true);
    assert.equal(body.backends[1].ok, false);
    assert.match(body.backends[1].error, /ECONNREFUSED/);
    assert.deepEqual(body.functions, []);
  } finally {
    await optimizer.close();
    await manager.close();
    await settleBackground();
    await db.close();
  }
});

Deno.test('series steps: buckets grouped into regular steps, empty steps are gaps', () => {
  const now = Date.UTC(2026, 10, 22, 5, 30, 20);
  const minute = (m: number, counters: Record<string, number>) => ({
    start: Date.UTC(2026, 10, 22, 5, m),
    writers: 1,
    snapshot: { since: 0, counters, gauges: {}, histograms: {} },
  });
  const series = seriesOf(
    [
      minute(30, { 'edge.requests': 10, 'cache.hit.memory': 3, 'cache.origin.calls': 1 }),
      minute(29, { 'edge.requests': 4, 'edge.errors': 1 }),
      minute(-40, { 'edge.requests': 99 }), // 04:20, more than an hour before: outside
    ],
    '1h',
    now,
  );
  assert.equal(series.points.length, 60);
  const last = series.points.at(-1)!;
  assert.equal(last.t, Date.UTC(2026, 10, 22, 5, 30));
  assert.equal(last.requests, 10);
  assert.equal(last.hitRate, 0.75);
  assert.equal(last.hitRateMemory, 0.75);
  assert.equal(last.hitRateRedis, 0);
  assert.equal(series.points.at(-2)!.errorRate, 0.25);
  assert.equal(series.points.at(-3)!.errorRate, null);
  assert.equal(series.points.reduce((s, p) => s + p.requests, 0), 14);
  const day = seriesOf(
    [minute(29, { 'edge.requests': 4 }), minute(16, { 'edge.requests': 2 })],
    '24h',
    now,
  );
  assert.equal(day.points.length, 96);
  assert.equal(day.points.at(-1)!.t, Date.UTC(2026, 10, 22, 5, 30));
  assert.equal(day.points.at(-2)!.requests, 6, 'minutes 16 and 29 fall in the 05:15 step');
});

Deno.test('vendored uPlot equals the pinned npm package files', async () => {
  const denoJson = JSON.parse(
    await Deno.readTextFile(new URL('../../deno.json', import.meta.url)),
  );
  assert.equal(denoJson.imports.uplot, `npm:uplot@${UPLOT_VERSION}`);
  const info = await new Deno.Command(Deno.execPath(), {
    args: ['info', '--json'],
    env: { DENO_NO_PACKAGE_JSON: '1' },
    stdout: 'piped',
    stderr: 'null',
  }).output();
  const npmCache = JSON.parse(new TextDecoder().decode(info.stdout)).npmCache as string;
  const dir = `${npmCache}/registry.npmjs.org/uplot/${UPLOT_VERSION}/dist`;
  // `uplot` is in the import map: `deno cache` (or any test run) has fetched it.
  await new Deno.Command(Deno.execPath(), {
    args: ['cache', `npm:uplot@${UPLOT_VERSION}`],
    env: { DENO_NO_PACKAGE_JSON: '1' },
    stdout: 'null',
    stderr: 'null',
  }).output();
  assert.equal(UPLOT_JS, await Deno.readTextFile(`${dir}/uPlot.iife.min.js`));
  assert.equal(UPLOT_CSS, await Deno.readTextFile(`${dir}/uPlot.min.css`));
});
