/**
 * Several instances: three dev-server processes sharing one Redis (through the bridge) and one
 * PostgreSQL 15, both this file's own (exact counters and pg_stat_statements need a quiet
 * backend), plus a fourth instance whose database is unreachable, for the breaker.
 *
 * - a key requested by hundreds of clients across the instances costs one database query;
 * - an acknowledged write is read at once by the instance that made it, and by every instance
 *   within the memory staleness bound (2 s), including reads that raced the write; deletes too;
 * - N requests count as N in the shared metrics (`readSharedMetrics`), over several flushes;
 * - a breaker opened by one instance is seen by the others within a second.
 */
import assert from 'node:assert/strict';
import { readSharedMetrics } from '../../shared/optimizer/metrics.ts';
import { UpstashStore } from '../../shared/store/upstash.ts';
import { startInstances } from '../support/multi_instance.ts';
import {
  type OwnPostgres,
  type OwnRedis,
  startOwnPostgres,
  startOwnRedis,
} from '../support/own_services.ts';
import { anonKey, userToken } from '../support/tokens.ts';
import {
  devServerEnv,
  insertRobots,
  pool,
  send,
  type SendOptions,
  sleep,
} from '../support/trust.ts';

const run = crypto.randomUUID().slice(0, 8);
const STALENESS_MS = 2_000;
const REQUEST_SLACK_MS = 500;
/** Metrics are flushed at most this often per isolate, on a request (the optimizer's default). */
const FLUSH_INTERVAL_MS = 10_000;

Deno.test('several instances share one Redis and one Postgres', async (t) => {
  let pg: OwnPostgres | undefined;
  let redis: OwnRedis | undefined;
  let stopAll = async () => {};
  try {
    [pg, redis] = await Promise.all([startOwnPostgres(), startOwnRedis()]);
    const env = devServerEnv({
      databaseUrl: pg.url,
      upstash: redis,
      cachePrefix: `qf-multi-${run}:`,
      // 300 concurrent connections on two shared cores keep the local bridge busy past the
      // cache's 150 ms fail-open bound, and one timeout bypasses the store for a second: this
      // suite is about sharing through the store, so it gives the store time to answer (the
      // fail-open path has its own tests: cache_redis_test, faults_test).
      extra: { QF_CACHE_STORE_TIMEOUT_MS: '2000', UPSTASH_TIMEOUT_MS: '2000' },
    });
    const deadPort = (() => {
      const listener = Deno.listen({ hostname: '127.0.0.1', port: 0 });
      const port = (listener.addr as Deno.NetAddr).port;
      listener.close();
      return port;
    })();
    const instances = await startInstances([
      env,
      env,
      env,
      // Its database never answers: its breaker opens, and the others must see it.
      { ...env, SUPABASE_DB_URL: `postgres://postgres:postgres@127.0.0.1:${deadPort}/postgres` },
    ]);
    stopAll = instances.stop;
    await pg.ready;
    await pg.sql`create extension if not exists pg_stat_statements`;
    const [a, b, c, broken] = instances.servers;
    const healthy = [a, b, c];
    const anon = await anonKey();
    const owner = crypto.randomUUID();
    const ownerToken = await userToken(owner);
    const store = new UpstashStore({ url: redis.url, token: redis.token, timeoutMs: 5_000 });

    // Every request a healthy instance serves through the optimizer is tallied; the shared
    // counter must rise by exactly that much over three flushes of every instance (an isolate
    // flushes on its first request, then on the first request 10 s after its last flush).
    const firstAt = Date.now();
    for (const server of healthy) {
      const answer = await send(server.base, 'GET', '/robots/public', { token: anon });
      assert.equal(answer.status, 200, answer.text);
    }
    await sleep(500);
    const operationsBefore = (await readSharedMetrics(store)).counters['optimizer.operations'] ??
      0;
    // The three reads above are operations too: their instances flush them after the baseline.
    let tally = healthy.length;
    const unclear: string[] = [];
    const counted = async (on: number, method: string, path: string, options: SendOptions = {}) => {
      const answer = await send(healthy[on].base, method, path, options);
      // A 404 from the router ("No route") never reached the optimizer: not an operation.
      const routed = !/No route for/.test(answer.text);
      if (
        [200, 201, 204].includes(answer.status) ||
        (routed && /"code":"not_found"/.test(answer.text))
      ) {
        tally++;
      } else {
        unclear.push(`${answer.what} -> ${answer.status} ${answer.text.slice(0, 100)}`);
      }
      return answer;
    };

    await t.step(
      'hundreds of clients on one key across instances: one database query',
      async () => {
        const [robot] = await insertRobots(pg!.sql, owner, [{
          name: `hot ${run}`,
          is_public: true,
        }]);
        await pg!.sql`select pg_stat_statements_reset()`;
        const answers = await pool(
          Array.from(
            { length: 300 },
            (_, i) => () => counted(i % 3, 'GET', `/robots/${robot.id}`, { token: anon }),
          ),
          300,
        );
        const statuses = new Map<number, number>();
        for (const answer of answers) {
          statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        }
        const rows = await pg!.sql<{ query: string; calls: string }[]>`
        select query, calls::text from pg_stat_statements
        where query ~* 'robots' and query ~* '\\mid\\M\\s*=\\s*\\$1' and query !~* '^\\s*explain'`;
        const calls = rows.reduce((sum, r) => sum + Number(r.calls), 0);
        const how = new Map<string, number>();
        for (const a of answers) {
          const k = `${a.headers?.get('x-instance-id')?.slice(0, 4)} ${a.headers?.get('x-cache')}`;
          how.set(k, (how.get(k) ?? 0) + 1);
        }
        console.log('DIAG', JSON.stringify(Object.fromEntries(how)));
        console.log(
          'DIAG2',
          JSON.stringify(
            await pg!
              .sql`select query, calls::text from pg_stat_statements order by calls desc limit 30`,
          ),
        );
        assert.deepEqual(Object.fromEntries(statuses), { 200: 300 });
        assert.equal(calls, 1, `database queries for one key: ${JSON.stringify(rows)}`);
      },
    );

    await t.step(
      'writes are seen at once by the writer, by all within 2 s, racing reads included',
      async () => {
        const robots = await insertRobots(
          pg!.sql,
          owner,
          Array.from({ length: 10 }, (_, i) => ({ name: `race ${i} v0`, is_public: true })),
        );
        const variants = (id: string) => [
          `/robots/${id}`,
          `/robots/${id}?fields=id,name`,
          `/robots/${id.toUpperCase()}`,
        ];
        // Cached on every instance, in every spelling.
        for (let on = 0; on < 3; on++) {
          for (const robot of robots) {
            for (const path of variants(robot.id)) {
              const answer = await counted(on, 'GET', path, { token: anon });
              assert.equal(answer.status, 200, answer.text);
            }
          }
        }
        /** Acknowledged versions per robot (-1 = deleted), with when and by which instance. */
        const acks = new Map<number, { version: number; at: number; by: number }[]>();
        const reads: {
          robot: number;
          on: number;
          path: number;
          startedAt: number;
          version: number;
          cache: string | null;
        }[] = [];
        const problems: string[] = [];
        const versionOf = (status: number, text: string) =>
          status === 404 ? -1 : Number(/ v(\d+)"/.exec(text)?.[1] ?? NaN);
        let reading = true;
        const readers = Array.from({ length: 9 }, async (_, k) => {
          let n = k;
          while (reading) {
            const robot = n % robots.length;
            const on = n % 3;
            const variant = Math.floor(n / 3) % 3;
            const path = variants(robots[robot].id)[variant];
            n += 7;
            const startedAt = Date.now();
            const answer = await counted(on, 'GET', path, { token: anon });
            reads.push({
              robot,
              on,
              path: variant,
              startedAt,
              version: versionOf(answer.status, answer.text),
              cache: answer.headers.get('x-cache'),
            });
          }
        });
        try {
          await Promise.all(robots.map(async (robot, i) => {
            const list: { version: number; at: number; by: number }[] = [];
            acks.set(i, list);
            for (let version = 1; version <= 3; version++) {
              const by = (i + version) % 3;
              const answer = await counted(by, 'PATCH', `/robots/${robot.id}`, {
                token: ownerToken,
                body: { name: `race ${i} v${version}` },
              });
              assert.equal(answer.status, 200, answer.text);
              list.push({ version, at: Date.now(), by });
              // The writer reads its own write at once.
              const own = await counted(by, 'GET', `/robots/${robot.id}`, { token: anon });
              if (versionOf(own.status, own.text) !== version) {
                problems.push(
                  `instance ${by} read ${own.text.slice(0, 80)} (x-cache: ${
                    own.headers.get('x-cache')
                  }) after writing v${version}`,
                );
              }
              await sleep(300);
            }
            if (i % 3 === 0) {
              const by = i % 3;
              const answer = await counted(by, 'DELETE', `/robots/${robot.id}`, {
                token: ownerToken,
              });
              assert.equal(answer.status, 204, answer.text);
              list.push({ version: -1, at: Date.now(), by });
            }
          }));
          await sleep(STALENESS_MS + 1_500);
        } finally {
          reading = false;
          await Promise.all(readers);
        }
        for (const read of reads) {
          const acknowledged = (acks.get(read.robot) ?? []).filter((ack) =>
            read.startedAt > ack.at + STALENESS_MS + REQUEST_SLACK_MS ||
            (ack.by === read.on && read.startedAt > ack.at)
          );
          const latest = acknowledged.at(-1);
          if (!latest) continue;
          // A 404 is the newest state of a robot that gets deleted (the delete may commit before
          // it is acknowledged); for the others it is wrong.
          const deletedLater = (acks.get(read.robot) ?? []).some((ack) => ack.version === -1);
          const seen = read.version === -1 && deletedLater ? Infinity : read.version;
          const ok = latest.version === -1 ? read.version === -1 : seen >= latest.version;
          if (!ok || Number.isNaN(read.version)) {
            problems.push(
              `robot ${read.robot} ${
                ['by id', 'with fields', 'UPPER CASE id'][read.path]
              } on instance ${read.on}: v${read.version} ${
                read.startedAt - latest.at
              } ms after v${latest.version} was acknowledged by instance ${latest.by} (x-cache: ${read.cache})`,
            );
          }
        }
        // And at the end, every instance, every spelling, has the last version.
        for (const [i, robot] of robots.entries()) {
          const last = acks.get(i)!.at(-1)!;
          for (let on = 0; on < 3; on++) {
            for (const path of variants(robot.id)) {
              const answer = await counted(on, 'GET', path, { token: anon });
              if (versionOf(answer.status, answer.text) !== last.version) {
                problems.push(`at the end, instance ${on} ${path}: ${answer.text.slice(0, 80)}`);
              }
            }
          }
        }
        assert.ok(reads.length > 100, `only ${reads.length} racing reads`);
        assert.deepEqual(
          problems.slice(0, 10),
          [],
          `${problems.length} stale answers (${reads.length} racing reads); by kind: ${
            JSON.stringify({
              ownWrite: problems.filter((p) => p.includes('after writing')).length,
              byId: problems.filter((p) => p.includes(' by id ')).length,
              withFields: problems.filter((p) => p.includes(' with fields ')).length,
              upperCaseId: problems.filter((p) => p.includes(' UPPER CASE id ')).length,
              atTheEnd: problems.filter((p) => p.startsWith('at the end')).length,
            })
          }`,
        );
      },
    );

    await t.step('second flush of every instance', async () => {
      await sleep(Math.max(0, firstAt + FLUSH_INTERVAL_MS + 500 - Date.now()));
      for (let on = 0; on < 3; on++) await counted(on, 'GET', '/robots/public', { token: anon });
    });

    await t.step('N requests across instances count as N in the shared counters', async () => {
      // A flush sent twice (or applied, failed and sent again) shows after the third flush.
      await sleep(Math.max(0, firstAt + 2 * FLUSH_INTERVAL_MS + 1_000 - Date.now()));
      // An isolate flushes when an operation ends past its interval: one more read on every
      // instance until each has flushed. (The broken instance has served nothing yet: its
      // breaker step comes after this one.)
      let operations = 0;
      for (let round = 0; round < 15 && operations !== tally; round++) {
        for (let on = 0; on < 3; on++) await counted(on, 'GET', '/robots/public', { token: anon });
        for (let i = 0; i < 5; i++) {
          await sleep(100);
          operations = ((await readSharedMetrics(store)).counters['optimizer.operations'] ?? 0) -
            operationsBefore;
          if (operations >= tally) break;
        }
        if (operations !== tally) await sleep(1_000);
      }
      await sleep(300); // whatever else arrives would be over-counting
      operations = ((await readSharedMetrics(store)).counters['optimizer.operations'] ?? 0) -
        operationsBefore;
      assert.deepEqual(unclear.slice(0, 5), [], 'answers that may or may not be operations');
      assert.equal(
        operations,
        tally,
        `${tally} requests, the shared counter rose by ${operations}`,
      );
    });

    await t.step(
      'a breaker opened on one instance is seen by the others within a second',
      async () => {
        const uncached = () => `/robots/search?q=breaker${run}${crypto.randomUUID().slice(0, 8)}`;
        const isOpen = (text: string) => /"code":"circuit_open"/.test(text);
        let openedAt: number | undefined;
        let last = '';
        const started = Date.now();
        while (Date.now() - started < 6_000) {
          const answer = await send(broken.base, 'GET', uncached(), {
            token: anon,
            timeoutMs: 3_000,
          });
          last = `${answer.status} after ${Math.round(answer.ms)} ms: ${answer.text.slice(0, 160)}`;
          if (answer.status === 503 && isOpen(answer.text)) {
            openedAt = Date.now();
            break;
          }
          await sleep(50);
        }
        assert.ok(
          openedAt !== undefined,
          `the instance without a database did not open its breaker within 6 s; last answer ${last}`,
        );
        // The others report it on /health.
        const seenAfter: number[] = [];
        const lastHealth: string[] = [];
        const reportsOpen = (status: number, text: string) => {
          try {
            const body = JSON.parse(text);
            if ((body?.checks?.breakers?.open?.length ?? 0) > 0) return true;
          } catch { /* not JSON: judged by the status */ }
          return status === 503 || /breaker[^{}]*"open"/i.test(text);
        };
        for (const server of healthy) {
          let last = '';
          while (Date.now() - openedAt < 3_000) {
            const answer = await send(server.base, 'GET', '/health');
            last = `${answer.status} ${answer.text.slice(0, 300)}`;
            if (reportsOpen(answer.status, answer.text)) break;
            await sleep(50);
          }
          seenAfter.push(Date.now() - openedAt);
          lastHealth.push(last);
        }
        const own = await send(broken.base, 'GET', '/health');
        assert.ok(
          seenAfter.every((ms) => ms <= 1_000 + REQUEST_SLACK_MS),
          `the others saw the open breaker after ${seenAfter.join(', ')} ms; their /health: ${
            lastHealth.join(' | ')
          }; the broken instance's /health: ${own.status} ${own.text.slice(0, 300)}`,
        );
      },
    );
  } finally {
    await stopAll();
    await redis?.stop();
    await pg?.stop();
  }
});
