/**
 * Postgres stopped under load, end to end (issue #8, findings 4, 5 and 11): the dev server on
 * its own throwaway PostgreSQL 15 cluster (stopping the shared one would disturb the other test
 * files) and the real Redis through the Upstash bridge, 20 concurrent clients (10 on uncached
 * searches, 10 on cached listings), Postgres stopped with `pg_ctl stop -m fast` for 5 s and
 * started again.
 *
 * Asserts: the process stays alive and exits cleanly at the end; while Postgres is down every
 * uncached read is a 503 with `Retry-After` within 2 s, a write is a 503, cached reads never get
 * a 5xx (fresh or `x-cache: stale ... reason=stale-if-error`), `/health` says `degraded` and
 * lists the open breaker; 2 s after Postgres is back every read is a 200 again.
 *
 * @module
 */
import assert from 'node:assert/strict';
import { applyMigrations, startPostgres } from '../../scripts/services/postgres.ts';
import { signLocalJwt } from '../../shared/http/auth.ts';
import { startDevServer } from '../support/dev_server.ts';
import { upstashBridge } from '../support/services.ts';

interface Sample {
  kind: 'cached' | 'uncached';
  start: number;
  end: number;
  status: number;
  retryAfter: string | null;
  cache: string | null;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** fetch with a bound, its body read, its timer cleared. */
async function request(
  url: string,
  init: RequestInit = {},
  timeoutMs = 10_000,
): Promise<{ status: number; headers: Headers; body: string }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const res = await fetch(url, { ...init, signal: controller.signal });
    return { status: res.status, headers: res.headers, body: await res.text() };
  } finally {
    clearTimeout(timer);
  }
}

const SECRET = 'db-fault-e2e-secret-with-at-least-32-characters';

Deno.test('db fault e2e: Postgres stopped under load: 503 fast, cached reads served, process alive, recovery within 2 s', async () => {
  const bridge = upstashBridge();
  const pg = await startPostgres({ withCron: false });
  const prefix = `qf:dbfault:${crypto.randomUUID()}:`;
  let server: Awaited<ReturnType<typeof startDevServer>> | undefined;
  try {
    await applyMigrations(pg.url, { seed: true });
    server = await startDevServer({
      SUPABASE_DB_URL: pg.url,
      SUPABASE_JWT_SECRET: SECRET,
      UPSTASH_REDIS_REST_URL: bridge.url,
      UPSTASH_REDIS_REST_TOKEN: bridge.token,
      // Own keys in the shared Redis: other test files run in parallel.
      QF_CACHE_KEY_PREFIX: `${prefix}cache:`,
      QF_BREAKER_KEY_PREFIX: `${prefix}breaker:`,
      QF_THROTTLE_KEY_PREFIX: `${prefix}throttle`,
      // 20 clients from one address: the per-caller limit is not what this test is about.
      QF_RATELIMIT_ANON_LIMIT: '1000000',
      QF_RATELIMIT_USER_LIMIT: '1000000',
      // Entries expire during the outage: past their TTL they must be served stale-if-error.
      QF_PREDICTIVE_CACHE_TTL_MS: '1000',
      QF_CACHE_STALE_WHILE_REVALIDATE_MS: '0',
      QF_CACHE_MEMORY_STALENESS_MS: '500',
    });
    const base = server.base;
    const user = await signLocalJwt(
      { sub: '11111111-1111-4111-8111-111111111111', role: 'authenticated' },
      SECRET,
    );

    // Warm the cached keys.
    for (let round = 0; round < 2; round++) {
      for (let limit = 1; limit <= 5; limit++) {
        const res = await request(`${base}/robots/public?limit=${limit}`);
        assert.equal(res.status, 200, res.body);
      }
    }

    const samples: Sample[] = [];
    let stop = false;
    const client = async (kind: Sample['kind'], i: number) => {
      let n = 0;
      while (!stop) {
        const url = kind === 'cached'
          ? `${base}/robots/public?limit=${1 + (i % 5)}`
          : `${base}/robots/search?q=${encodeURIComponent(`zz${i}x${n++}${crypto.randomUUID()}`)}`;
        const start = performance.now();
        let sample: Sample;
        try {
          const res = await request(url);
          sample = {
            kind,
            start,
            end: performance.now(),
            status: res.status,
            retryAfter: res.headers.get('retry-after'),
            cache: res.headers.get('x-cache'),
          };
        } catch {
          sample = {
            kind,
            start,
            end: performance.now(),
            status: 0,
            retryAfter: null,
            cache: null,
          };
        }
        samples.push(sample);
        await sleep(150);
      }
    };
    const clients = [
      ...Array.from({ length: 10 }, (_, i) => client('uncached', i)),
      ...Array.from({ length: 10 }, (_, i) => client('cached', i)),
    ];

    let downHealth: { status: number; body: string } | undefined;
    let write: { status: number; headers: Headers; body: string } | undefined;
    let stoppingAt = 0, downAt = 0, startingAt = 0, upAt = 0;
    try {
      await sleep(1500);
      stoppingAt = performance.now();
      await pg.stopServer();
      downAt = performance.now();
      await sleep(2500);
      downHealth = await request(`${base}/health`);
      write = await request(`${base}/robots`, {
        method: 'POST',
        headers: { authorization: `Bearer ${user}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'while down', strategy_type: 'grid' }),
      });
      await sleep(2500);
      startingAt = performance.now();
      await pg.startServer();
      upAt = performance.now();
      await sleep(4000);
    } finally {
      stop = true;
      await Promise.all(clients);
    }

    // Every request got an HTTP answer: the process never went away.
    assert.deepEqual(samples.filter((s) => s.status === 0), []);

    // Down: uncached reads are 503 + Retry-After, each within 2 s.
    const downUncached = samples.filter((s) =>
      s.kind === 'uncached' && s.start >= downAt && s.end <= startingAt
    );
    assert.ok(downUncached.length >= 20, `only ${downUncached.length} uncached reads while down`);
    const wrong = downUncached.filter((s) => s.status !== 503 || !s.retryAfter);
    assert.deepEqual(wrong, [], 'uncached reads while down must be 503 with Retry-After');
    const slow = downUncached.filter((s) => s.end - s.start >= 2000);
    assert.deepEqual(slow, [], 'uncached reads while down must be answered within 2 s');

    // Cached reads: never a 5xx, before, during or after; stale-if-error while down.
    const cached = samples.filter((s) => s.kind === 'cached');
    assert.deepEqual(cached.filter((s) => s.status >= 500), []);
    const downCached = cached.filter((s) => s.start >= downAt && s.end <= startingAt);
    assert.ok(downCached.length >= 20);
    assert.ok(
      downCached.some((s) => /^stale;.*reason=stale-if-error/.test(s.cache ?? '')),
      `no stale-if-error answer while down: ${[...new Set(downCached.map((s) => s.cache))]}`,
    );

    // A write while down: 503 with Retry-After, not 500.
    assert.equal(write!.status, 503, write!.body);
    assert.ok(write!.headers.get('retry-after'));
    // The open breaker answered it, or the data layer's DbUnavailableError if it got through.
    assert.ok(
      ['robots_db', 'database'].includes(JSON.parse(write!.body).error.details.resource),
      write!.body,
    );

    // Health while down: degraded, the open breaker listed.
    assert.equal(downHealth!.status, 503, downHealth!.body);
    const health = JSON.parse(downHealth!.body);
    assert.equal(health.status, 'degraded');
    assert.equal(health.checks.db.ok, false);
    assert.deepEqual(
      health.checks.breakers.open.map((b: { resourceKey: string }) => b.resourceKey),
      [
        'robots_db',
      ],
    );

    // Back: every read started 2 s after Postgres accepts connections again is a 200.
    const recovered = samples.filter((s) => s.start >= upAt + 2000);
    assert.ok(recovered.filter((s) => s.kind === 'uncached').length >= 10);
    assert.deepEqual(recovered.filter((s) => s.status !== 200), []);
    const healthAfter = await request(`${base}/health`);
    assert.equal(healthAfter.status, 200, healthAfter.body);

    // The same process served all of it and stops cleanly.
    const code = await server.stop();
    server = undefined;
    assert.equal(code, 0);
    console.log(
      `db fault e2e: ${samples.length} requests; stop took ${Math.round(downAt - stoppingAt)} ms,` +
        ` start ${Math.round(upAt - startingAt)} ms; down: ${downUncached.length} uncached` +
        ` (max ${Math.round(Math.max(...downUncached.map((s) => s.end - s.start)))} ms),` +
        ` ${downCached.length} cached`,
    );
  } finally {
    await server?.stop();
    await pg.stop();
  }
});
