/**
 * Faults under a bounded concurrent load through the dev server, on this file's own PostgreSQL
 * 15 cluster, redis-server and Upstash REST bridge (so the other test files running in parallel
 * are not disturbed): Redis paused (SIGSTOP) and killed, the bridge stopped, Postgres stopped
 * (fast shutdown) and restarted.
 *
 * Guarantees checked (docs/security.md):
 * - no 5xx on cached reads, whatever fails;
 * - while Postgres is down, uncached reads answer 503 with `Retry-After` within 2 s;
 * - the process stays alive, and answers normally within 2 s of Postgres being back;
 * - a write acknowledged while the store was down (paused or killed) is seen by every caller no
 *   later than the memory staleness bound (2 s) after the store is back.
 */
import assert from 'node:assert/strict';
import { startDevServer } from '../support/dev_server.ts';
import {
  type OwnPostgres,
  type OwnRedis,
  startOwnPostgres,
  startOwnRedis,
} from '../support/own_services.ts';
import { anonKey, userToken } from '../support/tokens.ts';
import { type Answer, devServerEnv, insertRobots, send, sleep } from '../support/trust.ts';

const run = crypto.randomUUID().slice(0, 8);
/** The memory tier's staleness bound (`QF_CACHE_MEMORY_STALENESS_MS`, default). */
const STALENESS_MS = 2_000;
/** Slack for one request's own latency on a loaded test machine. */
const REQUEST_SLACK_MS = 500;
const WITHIN_MS = 2_000;

interface Sample {
  kind: 'cached' | 'uncached';
  phase: string;
  startedAt: number;
  answer: Answer;
}

/**
 * Reads started at a steady pace until stopped (one every `everyMs`, at most `maxInFlight` at
 * once), half on pre-warmed keys and half on new ones: a request that hangs does not slow the
 * others, and is cut after 5 s (reported as no answer).
 */
function startLoad(
  base: string,
  token: string,
  cachedPaths: string[],
  phase: () => string,
  everyMs = 40,
  maxInFlight = 40,
) {
  const samples: Sample[] = [];
  const inFlight = new Set<Promise<void>>();
  let n = 0;
  const timer = setInterval(() => {
    if (inFlight.size >= maxInFlight) return;
    const i = n++;
    const cached = i % 2 === 0;
    const path = cached
      ? cachedPaths[(i / 2) % cachedPaths.length]
      : `/robots/search?q=uncached${run}x${i}`;
    const startedAt = Date.now();
    const at = phase();
    const request = send(base, 'GET', path, { token, timeoutMs: 5_000 }).then((answer) => {
      samples.push({ kind: cached ? 'cached' : 'uncached', phase: at, startedAt, answer });
    });
    inFlight.add(request);
    request.finally(() => inFlight.delete(request));
  }, everyMs);
  return {
    samples,
    async stop() {
      clearInterval(timer);
      await Promise.all([...inFlight]);
    },
  };
}

const describe = (s: Sample) =>
  `${s.phase} ${s.kind} ${s.answer.what} -> ${s.answer.status} in ${Math.round(s.answer.ms)} ms: ${
    s.answer.text.slice(0, 160)
  }`;

Deno.test('faults: Redis paused and killed, bridge stopped, Postgres stopped and back', async (t) => {
  let pg: OwnPostgres | undefined;
  let redis: OwnRedis | undefined;
  let server: Awaited<ReturnType<typeof startDevServer>> | undefined;
  try {
    [pg, redis] = await Promise.all([startOwnPostgres(), startOwnRedis({ durable: true })]);
    server = await startDevServer(devServerEnv({
      databaseUrl: pg.url,
      upstash: redis,
      cachePrefix: `qf-faults-${run}:`,
    }));
    const base = server.base;
    await pg.ready;
    const owner = crypto.randomUUID();
    const ownerToken = await userToken(owner);
    const anon = await anonKey();
    const robots = await insertRobots(
      pg.sql,
      owner,
      Array.from({ length: 12 }, (_, i) => ({ name: `faults ${i}`, is_public: true })),
    );
    const cachedPaths = [
      '/robots/public',
      '/robots/public?limit=5',
      ...robots.map((r) => `/robots/${r.id}`),
    ];
    // Warm both tiers.
    for (let i = 0; i < 2; i++) {
      for (const path of cachedPaths) {
        const answer = await send(base, 'GET', path, { token: anon });
        assert.equal(answer.status, 200, `warming ${path}: ${answer.text}`);
      }
    }

    for (const outage of ['paused', 'killed'] as const) {
      await t.step(
        `invalidation while the store is ${outage} reaches everyone within 2 s of its return`,
        async () => {
          const secret = `faults-${outage}-${run}-SECRET`;
          const [robot] = await insertRobots(pg!.sql, owner, [
            { name: `made private while ${outage}`, description: secret, is_public: true },
          ]);
          const bob = await userToken(crypto.randomUUID());
          const readers = [anon, bob];
          const paths = [
            `/robots/${robot.id}`,
            `/robots/search?q=${secret}`,
            '/robots/public?limit=100',
          ];
          // Cached in memory and in Redis.
          for (let i = 0; i < 2; i++) {
            for (const token of readers) {
              for (const path of paths) {
                const answer = await send(base, 'GET', path, { token });
                assert.equal(answer.status, 200, `${path} before the write: ${answer.text}`);
                if (!path.startsWith('/robots/public')) {
                  assert.ok(
                    answer.text.includes(secret),
                    `${path} before the write: ${answer.text}`,
                  );
                }
              }
            }
          }
          if (outage === 'paused') redis!.pause();
          else await redis!.kill();
          const outageStarted = Date.now();
          const write = await send(base, 'PATCH', `/robots/${robot.id}`, {
            token: ownerToken,
            body: { is_public: false },
          });
          assert.equal(write.status, 200, `the write while the store is ${outage}: ${write.text}`);
          await sleep(Math.max(0, 1_800 - (Date.now() - outageStarted)));
          if (outage === 'paused') redis!.resume();
          else await redis!.restartRedis();
          const storeBack = Date.now();
          const late: string[] = [];
          while (Date.now() - storeBack < STALENESS_MS + 1_500) {
            for (const token of readers) {
              for (const path of paths) {
                const startedAt = Date.now();
                const answer = await send(base, 'GET', path, { token });
                assert.ok(answer.status < 500, `${answer.what}: ${answer.status} ${answer.text}`);
                if (
                  answer.text.includes(secret) &&
                  startedAt - storeBack > STALENESS_MS + REQUEST_SLACK_MS
                ) {
                  late.push(`${answer.what} ${startedAt - storeBack} ms after the store was back`);
                }
              }
            }
            await sleep(100);
          }
          assert.deepEqual(late.slice(0, 5), [], `${late.length} reads served the private robot`);
        },
      );
    }

    let phase = 'normal';
    /** When each phase began (ms since epoch). */
    const began: Record<string, number> = {};
    const enter = (name: string) => {
      phase = name;
      began[name] = Date.now();
    };
    const load = startLoad(base, anon, cachedPaths, () => phase);
    try {
      await t.step('Redis paused (SIGSTOP) for 2 s', async () => {
        await sleep(300);
        enter('redis-paused');
        redis!.pause();
        await sleep(2_000);
        redis!.resume();
        enter('redis-resumed');
        await sleep(500);
      });
      await t.step('Redis killed (SIGKILL), restarted 1.5 s later', async () => {
        enter('redis-killed');
        await redis!.kill();
        await sleep(1_500);
        await redis!.restartRedis();
        enter('redis-restarted');
        await sleep(500);
      });
      await t.step('the bridge stopped for 1.5 s', async () => {
        enter('bridge-stopped');
        await redis!.stopBridge();
        await sleep(1_500);
        await redis!.startBridge();
        enter('bridge-back');
        await sleep(500);
      });
      await t.step('Postgres stopped (fast shutdown) for 3 s, then started', async () => {
        enter('pg-stopping');
        await pg!.stopFast();
        enter('pg-down');
        await sleep(3_000);
        enter('pg-starting');
        await pg!.start();
        enter('pg-back');
        // Recovery: an uncached read answers 200 within 2 s of Postgres accepting connections.
        const back = Date.now();
        let recovered: number | undefined;
        while (Date.now() - back < 6_000) {
          const answer = await send(base, 'GET', `/robots/search?q=recover${run}${Date.now()}`, {
            token: anon,
          });
          if (answer.status === 200) {
            recovered = Date.now() - back;
            break;
          }
          await sleep(100);
        }
        assert.ok(recovered !== undefined, 'no 200 within 6 s of Postgres being back');
        assert.ok(
          recovered <= WITHIN_MS,
          `normal service ${recovered} ms after Postgres came back`,
        );
        enter('pg-recovered');
        await sleep(500);
      });
    } finally {
      await load.stop();
    }

    await t.step(
      'no 5xx on cached reads; 503 + Retry-After within 2 s while Postgres is down',
      () => {
        const samples = load.samples;
        assert.ok(samples.length > 100, `only ${samples.length} requests`);
        const problems: string[] = [];
        const report = (what: string, bad: Sample[]) => {
          if (bad.length) {
            problems.push(`${what} (${bad.length}): ${bad.slice(0, 3).map(describe).join(' | ')}`);
          }
        };
        report(
          'cached reads answered 5xx or not at all',
          samples.filter((s) =>
            s.kind === 'cached' && (s.answer.status >= 500 || s.answer.status === 0)
          ),
        );
        const endedAt = (s: Sample) => s.startedAt + s.answer.ms;
        // Redis and bridge faults: Postgres is up, so uncached reads are served too (those that
        // ended before Postgres was stopped).
        report(
          'uncached reads failed during a store fault',
          samples.filter((s) =>
            s.kind === 'uncached' && /^(redis|bridge)/.test(s.phase) &&
            endedAt(s) < began['pg-stopping'] &&
            (s.answer.status >= 500 || s.answer.status === 0)
          ),
        );
        // Reads that began and ended while Postgres was down (a retried read may be answered
        // once it is back, rightly).
        const down = samples.filter((s) =>
          s.kind === 'uncached' && s.phase === 'pg-down' && endedAt(s) < began['pg-starting']
        );
        if (down.length < 5) {
          problems.push(`only ${down.length} uncached reads while Postgres was down`);
        }
        report(
          'uncached reads while Postgres was down without a JSON 503 + Retry-After within 2 s',
          down.filter((s) =>
            s.answer.status !== 503 || !s.answer.headers.get('retry-after') ||
            s.answer.ms > WITHIN_MS ||
            !/application\/json/.test(s.answer.headers.get('content-type') ?? '')
          ),
        );
        // An answer never names the servers behind it (addresses, ports, driver errors).
        const internals = new RegExp(
          `127\\.0\\.0\\.1:${pg!.port}|ECONN\\w+|ETIMEDOUT|EPIPE|postgres://|redis://`,
        );
        report(
          'answers naming the servers behind them',
          samples.filter((s) => internals.test(s.answer.text)),
        );
        report(
          'reads after recovery not 200',
          samples.filter((s) => s.phase === 'pg-recovered' && s.answer.status !== 200),
        );
        assert.deepEqual(problems, []);
      },
    );

    await t.step('the process is alive and healthy', async () => {
      const health = await send(base, 'GET', '/health');
      assert.equal(health.status, 200, health.text);
    });
  } finally {
    await server?.stop();
    await redis?.stop();
    await pg?.stop();
  }
});
