/**
 * The operations functions end to end through the dev server over HTTP (real PostgreSQL 15):
 * the warming run lists every function, reports cold instances after a process start and warm
 * ones next, and moves its interval; a robots workload tuned by `POST /optimizer/run`; auth on
 * every service route.
 */
import assert from 'node:assert/strict';
import { signLocalJwt } from '../../shared/http/auth.ts';
import { type DevServer, startDevServer } from '../support/dev_server.ts';
import { databaseUrl } from '../support/services.ts';
import { LOCAL_SECRET_KEY } from '../../scripts/local_keys.ts';
import { functionNames } from '../../scripts/dev/gateway.ts';

const CRON_SECRET = 'e2e-operations-cron-secret';
const cron = { 'x-cron-secret': CRON_SECRET, 'content-type': 'application/json' };

interface WarmupReport {
  functions: { function: string; ok: boolean; coldStart: boolean | null; latencyMs: number }[];
  interval: { previousMs: number; nextMs: number };
  runId: string | null;
}

async function warm(server: DevServer): Promise<WarmupReport> {
  const res = await fetch(`${server.base}/warmup`, {
    method: 'POST',
    headers: cron,
    body: JSON.stringify({ trigger: 'cron', job: 'quantforge-warming' }),
  });
  assert.equal(res.status, 200);
  return await res.json();
}

Deno.test('e2e operations: warmup cold then warm across a restart, interval moves; optimizer run on a robots workload; service auth', async () => {
  const env = { CRON_SECRET, LOCAL_CRON: 'off', SUPABASE_DB_URL: databaseUrl() };
  const expected = (await functionNames()).filter((n) => n !== 'warmup');
  let server = await startDevServer(env);
  try {
    const first = await warm(server);
    assert.deepEqual(first.functions.map((f) => f.function), expected);
    assert.ok(first.functions.every((f) => f.ok && f.coldStart === true), JSON.stringify(first));
    assert.ok(first.interval.nextMs < first.interval.previousMs, 'cold: warm more often');
    assert.ok(first.interval.nextMs >= 60_000);

    const second = await warm(server);
    assert.ok(second.functions.every((f) => f.ok && f.coldStart === false), JSON.stringify(second));
    assert.equal(second.interval.previousMs, first.interval.nextMs);
    assert.ok(second.interval.nextMs > second.interval.previousMs, 'warm: warm less often');
    assert.ok(second.interval.nextMs <= 900_000);

    // Service auth through the gateway on every service route.
    const [anon, user, service] = await Promise.all([
      signLocalJwt({ role: 'anon' }),
      signLocalJwt({ role: 'authenticated', sub: crypto.randomUUID() }),
      signLocalJwt({ role: 'service_role' }),
    ]);
    const routes = [
      ['POST', '/optimizer/run'],
      ['POST', '/optimizer/system'],
      ['GET', '/optimizer/status'],
      ['GET', '/optimizer/recommendations'],
      ['GET', '/optimizer/metrics?window=15m'],
      ['GET', '/optimizer/runs'],
      ['POST', '/warmup'],
    ];
    for (const [method, path] of routes) {
      const status = async (headers: Record<string, string>) => {
        const res = await fetch(`${server.base}${path}`, { method, headers });
        await res.body?.cancel();
        return res.status;
      };
      assert.equal(await status({}), 401, path);
      assert.equal(await status({ authorization: `Bearer ${anon}` }), 403, path);
      assert.equal(await status({ authorization: `Bearer ${user}` }), 403, path);
      assert.equal(await status({ authorization: `Bearer ${service}` }), 200, path);
      assert.equal(await status({ 'x-cron-secret': CRON_SECRET }), 200, path);
      // The secret API key, as the cron migration's pg_net call sends it.
      assert.equal(
        await status({ apikey: LOCAL_SECRET_KEY, authorization: `Bearer ${LOCAL_SECRET_KEY}` }),
        200,
        path,
      );
    }

    // A robots workload on one hot prefix (the public listing): 30 distinct pages, twice each.
    for (let round = 0; round < 2; round++) {
      for (let limit = 1; limit <= 30; limit++) {
        const res = await fetch(`${server.base}/robots/public?limit=${limit}`, {
          headers: { authorization: `Bearer ${anon}` },
        });
        assert.equal(res.status, 200);
        await res.body?.cancel();
      }
    }
    const run = await (await fetch(`${server.base}/optimizer/run`, {
      method: 'POST',
      headers: cron,
      body: JSON.stringify({ trigger: 'cron', job: 'quantforge-optimizer-run' }),
    })).json();
    assert.equal(run.success, true, JSON.stringify(run.errors));
    const ttl = run.optimizationsApplied.find((c: { setting: string }) =>
      c.setting === 'ttlByPrefix.pub:robots:list'
    );
    assert.ok(ttl, JSON.stringify(run.optimizationsApplied));
    assert.ok(ttl.to > ttl.from);
    const runs = await (await fetch(`${server.base}/optimizer/runs?kind=optimize`, {
      headers: cron,
    })).json();
    assert.ok(runs.runs.some((r: { id: string }) => r.id === run.runId));
    const status = await (await fetch(`${server.base}/optimizer/status`, { headers: cron }))
      .json();
    assert.equal(status.overrides.ttlByPrefix['pub:robots:list'], ttl.to);

    // A process restart: the first warmup sees cold instances again.
    assert.equal(await server.stop(), 0);
    server = await startDevServer(env);
    const restarted = await warm(server);
    assert.deepEqual(restarted.functions.map((f) => f.function), expected);
    assert.ok(restarted.functions.every((f) => f.coldStart === true), JSON.stringify(restarted));
    assert.ok(restarted.interval.nextMs < restarted.interval.previousMs);
    const warmRuns = await (await fetch(`${server.base}/optimizer/runs?kind=warm`, {
      headers: cron,
    })).json();
    const ids = warmRuns.runs.map((r: { id: string }) => r.id);
    for (const id of [first.runId, second.runId, restarted.runId]) assert.ok(ids.includes(id));
  } finally {
    await server.stop();
  }
});
