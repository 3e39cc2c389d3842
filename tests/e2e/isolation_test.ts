/**
 * Isolation: no row of user A's private data ever reaches user B or an anonymous caller, on any
 * read route, whatever the order of the callers, cached or not, however A's ids are spelled, and
 * right after A makes a robot private or deletes it (the write is acknowledged: no grace time on
 * the instance that made it).
 *
 * Through the real dev server on real PostgreSQL 15 and real Redis (through the bridge).
 */
import assert from 'node:assert/strict';
import postgres from 'postgres';
import { startDevServer } from '../support/dev_server.ts';
import { databaseUrl, upstashBridge } from '../support/services.ts';
import { anonKey, publishableKey, userToken } from '../support/tokens.ts';
import { discoverRoutes } from '../support/fuzz_routes.ts';
import { type Answer, devServerEnv, insertRobots, mixedCase, send } from '../support/trust.ts';

const run = crypto.randomUUID().slice(0, 8);

interface Caller {
  name: 'A' | 'B' | 'anon' | 'none';
  token?: string;
}

/** Every permutation of `items`. */
function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest])
  );
}

/** Each spelling of a uuid Postgres accepts as the same value. */
const spellings = (id: string) => [id, id.toUpperCase(), mixedCase(id)];

Deno.test('isolation: A, B and anon in every order, cached and uncached, any id spelling', async (t) => {
  const sql = postgres(databaseUrl(), { max: 2, onnotice: () => {} });
  const server = await startDevServer(devServerEnv({
    databaseUrl: databaseUrl(),
    upstash: upstashBridge(),
    cachePrefix: `qf-iso-${run}:`,
  }));
  try {
    const aId = crypto.randomUUID();
    const bId = crypto.randomUUID();
    const marker = `iso${run}`;
    const secretMarker = `SECRET-${marker}`;
    const privateRobots = await insertRobots(sql, aId, [
      { name: `${marker} private one`, description: `${secretMarker} alpha`, is_public: false },
      { name: `${marker} private two`, description: `${secretMarker} beta`, is_public: false },
    ]);
    const [publicRobot] = await insertRobots(sql, aId, [
      { name: `${marker} public`, description: 'visible to all', is_public: true },
    ]);
    await insertRobots(sql, bId, [
      { name: `${marker} bob's`, description: 'bob private', is_public: false },
    ]);
    const callers: Record<Caller['name'], Caller> = {
      A: { name: 'A', token: await userToken(aId) },
      B: { name: 'B', token: await userToken(bId) },
      anon: { name: 'anon', token: await anonKey() },
      none: { name: 'none' },
    };
    const privateIds = privateRobots.map((r) => r.id);

    /**
     * A private row of A's in an answer: its secret text anywhere, or its id in a successful
     * answer (a 404 may name the id the caller asked for: that reveals nothing).
     */
    const leaked = (answer: Answer, ids: string[], secret: string) => {
      if (answer.text.includes(secret)) return true;
      const lower = answer.text.toLowerCase();
      return answer.status < 300 && ids.some((id) => lower.includes(id.toLowerCase()));
    };
    const answers: { caller: Caller['name']; answer: Answer }[] = [];
    const check = (caller: Caller, answer: Answer, ids = privateIds, secret = secretMarker) => {
      answers.push({ caller: caller.name, answer });
      assert.ok(answer.status > 0 && answer.status < 500, `${answer.what}: ${answer.status}`);
      if (caller.name !== 'A') {
        assert.ok(
          !leaked(answer, ids, secret),
          `${caller.name} got A's private data from ${answer.what}: ${answer.text.slice(0, 300)}`,
        );
      }
    };

    /** Every read route, spelled for this round so each round starts with a cold key. */
    const readPaths = (round: number) => {
      const limit = 20 + round;
      return [
        `/robots?limit=${limit}`,
        `/robots/public?limit=${limit}`,
        `/robots/search?q=${marker}&limit=${limit}`,
        `/robots/search?q=${secretMarker}&limit=${limit}`,
        ...privateIds.flatMap((id) => spellings(id).map((s) => `/robots/${s}`)),
        ...spellings(publicRobot.id).map((s) => `/robots/${s}?fields=id,name,description`),
        ...privateIds.map((id) => `/robots/${mixedCase(id)}?fields=id,name,description,user_id`),
      ];
    };

    await t.step('every order of A, B and anon, each path twice (miss, then cached)', async () => {
      const orders = permutations<Caller>([callers.A, callers.B, callers.anon]);
      for (const [round, order] of orders.entries()) {
        for (const path of readPaths(round)) {
          for (const caller of [...order, ...order]) {
            check(caller, await send(server.base, 'GET', path, { token: caller.token }));
          }
        }
      }
      // No token at all is anon too; so is the publishable key (supabase-js's apikey).
      for (const path of readPaths(99)) {
        check(callers.none, await send(server.base, 'GET', path));
        check(
          callers.none,
          await send(server.base, 'GET', path, { headers: { apikey: publishableKey() } }),
        );
      }
    });

    await t.step('the suite sees what it should (it is not vacuous)', () => {
      const get = (caller: string, path: string) =>
        answers.filter((a) => a.caller === caller && a.answer.what === `GET ${path}`);
      for (const id of privateIds) {
        for (const spelling of spellings(id)) {
          assert.ok(get('A', `/robots/${spelling}`).every((a) => a.answer.status === 200));
          assert.ok(get('B', `/robots/${spelling}`).every((a) => a.answer.status === 404));
          assert.ok(get('anon', `/robots/${spelling}`).every((a) => a.answer.status === 404));
        }
      }
      const publicList = get('anon', '/robots/public?limit=20');
      assert.ok(publicList.length > 0 && publicList.every((a) => a.answer.status === 200));
      assert.ok(get('A', '/robots?limit=20').every((a) => a.answer.text.includes(secretMarker)));
      assert.ok(get('anon', '/robots?limit=20').every((a) => a.answer.status === 401));
    });

    await t.step("every GET route of every served function, with A's private ids", async () => {
      const strategies = await sql<{ id: string }[]>`
        insert into public.strategies (user_id, name, description, strategy_type, is_public)
        values (${aId}, ${`${marker} strategy`}, ${`${secretMarker} strategy`}, 'breakout', false)
        returning id::text`;
      const ids = [...privateIds, ...strategies.map((s) => s.id)];
      const routes = (await discoverRoutes()).filter((r) => r.method === 'GET');
      assert.ok(routes.length >= 5, `routes: ${JSON.stringify(routes)}`);
      for (const route of routes) {
        const paths = route.path.includes(':')
          ? ids.flatMap((id) => spellings(id).map((s) => route.path.replace(/:[A-Za-z_]+/g, s)))
          : [route.path, `${route.path}?q=${marker}`];
        for (const path of paths) {
          for (const caller of [callers.A, callers.B, callers.anon, callers.B, callers.none]) {
            const answer = await send(server.base, 'GET', path, { token: caller.token });
            if (caller.name === 'A') continue;
            assert.ok(answer.status > 0 && answer.status < 500, `${answer.what}: ${answer.status}`);
            assert.ok(
              !leaked(answer, ids, secretMarker),
              `${caller.name} got A's private data from ${answer.what}: ${
                answer.text.slice(0, 300)
              }`,
            );
          }
        }
      }
    });

    await t.step(
      'made private (read as UPPER case, cached), then no longer served to others',
      async () => {
        for (const action of ['patch', 'delete'] as const) {
          const secret = `${marker}-${action}-SECRET`;
          const [robot] = await insertRobots(sql, aId, [
            { name: `${marker} turns private ${action}`, description: secret, is_public: true },
          ]);
          const variants = spellings(robot.id);
          const others = [callers.B, callers.anon, callers.none];
          const readAll = async () => {
            const out: [Caller, Answer][] = [];
            for (const caller of others) {
              for (const v of variants) {
                out.push([
                  caller,
                  await send(server.base, 'GET', `/robots/${v}`, { token: caller.token }),
                ]);
              }
              out.push([
                caller,
                await send(server.base, 'GET', '/robots/public?limit=100', {
                  token: caller.token,
                }),
              ]);
              out.push([
                caller,
                await send(server.base, 'GET', `/robots/search?q=${secret}`, {
                  token: caller.token,
                }),
              ]);
            }
            return out;
          };
          // Public: everyone reads it, twice, so every spelling is cached.
          for (let i = 0; i < 2; i++) {
            for (const [caller, answer] of await readAll()) {
              assert.ok(answer.status < 500, `${caller.name} ${answer.what}: ${answer.status}`);
            }
          }
          const write = action === 'patch'
            ? await send(server.base, 'PATCH', `/robots/${mixedCase(robot.id)}`, {
              token: callers.A.token,
              body: { is_public: false },
            })
            : await send(server.base, 'DELETE', `/robots/${robot.id.toUpperCase()}`, {
              token: callers.A.token,
            });
          assert.ok(write.status === 200 || write.status === 204, `${write.what}: ${write.text}`);
          // Acknowledged: from now on, nobody but A may see it on this instance.
          for (const [caller, answer] of await readAll()) {
            check(caller, answer, [robot.id], secret);
          }
        }
      },
    );
  } finally {
    await server.stop();
    await sql.end({ timeout: 5 });
  }
});
