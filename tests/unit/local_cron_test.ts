/** The local cron calls the functions as pg_cron + pg_net do, and follows the warmup's interval. */
import assert from 'node:assert/strict';
import { secretKeyFromEnv, startLocalCron } from '../../scripts/local_cron.ts';

Deno.test('local cron: POSTs with the secret key and pg_net body; follows the recommended interval', async () => {
  const seen: { path: string; method: string; headers: Headers; body: unknown }[] = [];
  const server = Deno.serve({ hostname: '127.0.0.1', port: 0, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    seen.push({
      path: url.pathname,
      method: req.method,
      headers: req.headers,
      body: await req.json(),
    });
    return url.pathname.endsWith('/warmup')
      ? Response.json({
        functions: [{ function: 'robots', coldStart: true }],
        interval: { nextMs: 120_000 },
      })
      : Response.json({ optimizationsApplied: [], estimatedGainPercent: 0 });
  });
  const lines: string[] = [];
  const cron = startLocalCron({
    baseUrl: `http://127.0.0.1:${server.addr.port}/functions/v1`,
    authHeaders: { apikey: 'sb_secret_x', authorization: 'Bearer sb_secret_x' },
    speedup: 1000,
    firstRunMs: 3_600_000, // not within this test: runNow drives it
    log: (line) => lines.push(line),
  });
  try {
    const warm = await cron.runNow('quantforge-warmup');
    const run = await cron.runNow('quantforge-optimizer-run');
    assert.equal(warm.status, 200);
    assert.equal(warm.nextInMs, 120, 'the recommended 120 s, sped up 1000x');
    assert.equal(run.nextInMs, 900, '15 min, sped up 1000x');
    assert.deepEqual(seen.map((s) => [s.method, s.path]), [
      ['POST', '/functions/v1/warmup'],
      ['POST', '/functions/v1/optimizer/run'],
    ]);
    for (const s of seen) {
      assert.equal(s.headers.get('apikey'), 'sb_secret_x');
      assert.equal(s.headers.get('authorization'), 'Bearer sb_secret_x');
      assert.equal(s.headers.get('content-type'), 'application/json');
      const body = s.body as { trigger: string; job: string; scheduled_at: string };
      assert.equal(body.trigger, 'cron');
      assert.ok(!Number.isNaN(Date.parse(body.scheduled_at)));
    }
    assert.equal((seen[0].body as { job: string }).job, 'quantforge-warmup');
    assert.match(lines[0], /quantforge-warmup POST \/warmup -> 200 .*cold: robots/);
    await assert.rejects(cron.runNow('nope'), /no local cron job named 'nope'/);
  } finally {
    await cron.stop();
    await server.shutdown();
  }
});

Deno.test('local cron: the secret key from the environment, else none', () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assert.equal(secretKeyFromEnv(env({ SUPABASE_SECRET_KEY: 'sb_secret_a' })), 'sb_secret_a');
  assert.equal(
    secretKeyFromEnv(
      env({ SUPABASE_SECRET_KEYS: '{"other":"sb_secret_o","default":"sb_secret_d"}' }),
    ),
    'sb_secret_d',
  );
  assert.equal(secretKeyFromEnv(env({ SUPABASE_SECRET_KEYS: 'not json' })), undefined);
  assert.equal(secretKeyFromEnv(env({})), undefined);
  assert.throws(
    () => startLocalCron({ baseUrl: 'http://x', authHeaders: {}, speedup: 0 }),
    /'speedup' must be a number > 0: received 0/,
  );
});
