/**
 * The `strategies` edge function through `app.request` on the real PostgreSQL 15 and the real Redis
 * behind the Upstash REST bridge, two isolates (`tests/support/strategies_fixture.ts`): a strategy deletion drops the robots reads it changed; the repository lists the dependent robots; the robots tags match.
 */
import assert from 'node:assert/strict';
import { SERVICE_CALLER, StrategiesRepository, type StrategyWrite } from '../../shared/db/mod.ts';
import * as robotsApp from '../../supabase/functions/robots/app.ts';
import {
  PUBLIC_ROBOTS_TAG,
  robotTag,
  strategyWriteTags,
  userRobotsTag,
} from '../../supabase/functions/strategies/app.ts';
import {
  call,
  createStrategy,
  json,
  newUser,
  withTwoIsolates,
  xCacheStatus,
} from '../support/strategies_fixture.ts';

Deno.test('strategies function on PostgreSQL and Redis (two isolates): robots invalidation', async (t) => {
  await withTwoIsolates(async ({ db, appA, appB, robots }) => {
    await t.step('deleting a strategy drops the robots reads its deletion changed', async () => {
      const author = await newUser();
      const builder = await newUser();
      const strategy = await createStrategy(appA, author, { is_public: true });
      const robotResponse = await call(robots, 'POST', '/robots', {
        user: builder,
        body: { name: 'Built on it', strategy_type: 'breakout', strategy_id: strategy.id },
      });
      const robot = await json<{ id: string; strategy_id: string }>(robotResponse);
      assert.equal(robotResponse.status, 201, JSON.stringify(robot));
      assert.equal(robot.strategy_id, strategy.id);
      const read = async () => {
        const response = await call(robots, 'GET', `/robots/${robot.id}`, { user: builder });
        return { status: xCacheStatus(response), robot: await json(response) };
      };
      const list = async () =>
        (await json<{ items: { strategy_id: string | null }[] }>(
          await call(robots, 'GET', '/robots', { user: builder }),
        )).items.map((r) => r.strategy_id);
      assert.equal((await read()).robot.strategy_id, strategy.id);
      assert.deepEqual(await list(), [strategy.id]);
      assert.equal((await read()).status, 'hit');
      // A public robot on it, read by a third user and by anon (their own cache entries).
      const shared = await json<{ id: string }>(
        await call(robots, 'POST', '/robots', {
          user: builder,
          body: {
            name: 'Shared',
            strategy_type: 'breakout',
            strategy_id: strategy.id,
            is_public: true,
          },
        }),
      );
      const reader = await newUser();
      const sharedReads = async () =>
        await Promise.all([reader, undefined].map(async (user) => {
          const response = await call(robots, 'GET', `/robots/${shared.id}`, { user });
          return (await json<{ strategy_id: string | null }>(response)).strategy_id;
        }));
      assert.deepEqual(await sharedReads(), [strategy.id, strategy.id]);

      assert.equal(
        (await call(appB, 'DELETE', `/strategies/${strategy.id}`, { user: author })).status,
        204,
      );
      // The builder's private robot lost its strategy (on delete set null): no stale copy.
      const after = await read();
      assert.equal(after.status, 'miss');
      assert.equal(after.robot.strategy_id, null);
      assert.deepEqual(await list(), [null, null]);
      assert.deepEqual(await sharedReads(), [null, null]);
    });

    await t.step('repository: service deletes list the robots they change, bounded', async () => {
      const owner = crypto.randomUUID();
      const repo = new StrategiesRepository(db, { maxDependentRobots: 2 });
      const strategy = await repo.create(SERVICE_CALLER, {
        user_id: owner,
        name: 'Service made',
        strategy_type: 'hedging',
      });
      const robotIds: string[] = [];
      for (let i = 0; i < 3; i++) {
        const [row] = await db.query<{ id: string }>(
          `insert into public.robots (user_id, strategy_id, name, strategy_type, is_public)
           values ($1, $2, $3, 'hedging', $4) returning id`,
          [crypto.randomUUID(), strategy.id, `Dependent ${i}`, i === 0],
        );
        robotIds.push(row.id);
      }
      const seen: StrategyWrite[] = [];
      assert.equal(
        await repo.delete(SERVICE_CALLER, strategy.id, {
          afterWrite: (_tx, row) => seen.push(row),
        }),
        true,
      );
      assert.equal(seen.length, 1);
      assert.equal(seen[0].robots.length, 2);
      assert.equal(seen[0].robotsTruncated, true);
      for (const robot of seen[0].robots) assert.ok(robotIds.includes(robot.id));
      // Truncated: the public robots reads are dropped whatever the listed robots are.
      assert.ok(strategyWriteTags(seen[0]).includes(PUBLIC_ROBOTS_TAG));
      const left = await db.query<{ n: number }>(
        'select count(*)::int as n from public.robots where id = any($1::uuid[]) and strategy_id is null',
        [robotIds],
      );
      assert.equal(left[0].n, 3);
      // A user who does not own the strategy learns nothing from the dependents function.
      const other = await repo.create(SERVICE_CALLER, {
        user_id: owner,
        name: 'Other',
        strategy_type: 'grid',
      });
      await db.query(
        `insert into public.robots (user_id, strategy_id, name, strategy_type) values ($1, $2, 'R', 'grid')`,
        [crypto.randomUUID(), other.id],
      );
      const stranger = await db.asUser(
        { role: 'authenticated', sub: crypto.randomUUID() },
        (tx) => tx.query('select * from private.strategy_dependent_robots($1::uuid)', [other.id]),
      );
      assert.equal(stranger.length, 0);
      const owners = await db.asUser(
        { role: 'authenticated', sub: owner },
        (tx) => tx.query('select * from private.strategy_dependent_robots($1::uuid)', [other.id]),
      );
      assert.equal(owners.length, 1);
    });

    await t.step("the robots tags spelled in keys.ts are the robots function's own", () => {
      const id = crypto.randomUUID();
      assert.equal(userRobotsTag(id), robotsApp.userRobotsTag(id));
      assert.equal(robotTag(id), robotsApp.robotTag(id));
      assert.equal(PUBLIC_ROBOTS_TAG, robotsApp.PUBLIC_ROBOTS_TAG);
    });
  });
});
