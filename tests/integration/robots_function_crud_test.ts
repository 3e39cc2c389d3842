/**
 * The `robots` edge function end to end through `app.request` on an embedded PGlite database
 * (`robots_function_support.ts`); each step uses fresh user ids:
 * create, list, cache and invalidate; another user gets a 404 for a private robot.
 */
import assert from 'node:assert/strict';
import {
  call,
  createRobot,
  expectError,
  json,
  newUser,
  withRobotsApp,
  xCacheStatus,
} from './robots_function_support.ts';

Deno.test('robots function on PGlite with a memory-store optimizer: reads and writes', async (t) => {
  await withRobotsApp(async ({ app }) => {
    await t.step(
      'create, then list: miss, hit, and the write invalidates',
      async () => {
        const alice = await newUser();
        const robot = await createRobot(app, alice, {
          name: 'Alpha',
          description: 'trend robot',
          strategy_params: { period: 14 },
        });
        assert.equal(robot.user_id, alice.id);
        assert.equal(robot.is_public, false);
        assert.deepEqual(robot.strategy_params, { period: 14 });

        const first = await call(app, 'GET', '/robots', { user: alice });
        assert.equal(first.status, 200);
        assert.match(
          first.headers.get('x-cache') ?? '',
          /^miss; tier=origin; reason=\w+/,
        );
        assert.match(first.headers.get('server-timing') ?? '', /optimizer/);
        const page = await json<
          { items: { id: string; name: string }[]; total: number }
        >(first);
        assert.deepEqual(page.items.map((r) => r.id), [robot.id]);
        assert.equal(page.total, 1);

        const second = await call(app, 'GET', '/robots', { user: alice });
        assert.match(
          second.headers.get('x-cache') ?? '',
          /^hit; tier=memory; reason=fresh$/,
        );
        assert.deepEqual(await json(second), page);

        const patched = await call(app, 'PATCH', `/robots/${robot.id}`, {
          user: alice,
          body: { name: 'Alpha v2' },
        });
        assert.equal(patched.status, 200);
        assert.equal((await json(patched)).name, 'Alpha v2');

        const after = await call(app, 'GET', '/robots', { user: alice });
        assert.equal(xCacheStatus(after), 'miss');
        const items = (await json<{ items: { name: string }[] }>(after)).items;
        assert.deepEqual(items.map((r) => r.name), ['Alpha v2']);

        // Detail: cached, and dropped by a write too.
        const detail = await call(app, 'GET', `/robots/${robot.id}`, {
          user: alice,
        });
        assert.equal(detail.status, 200);
        assert.equal(xCacheStatus(detail), 'miss');
        assert.equal(
          xCacheStatus(
            await call(app, 'GET', `/robots/${robot.id}`, { user: alice }),
          ),
          'hit',
        );
        await call(app, 'PATCH', `/robots/${robot.id}`, {
          user: alice,
          body: { description: 'x' },
        });
        const fresh = await call(app, 'GET', `/robots/${robot.id}`, {
          user: alice,
        });
        assert.equal(xCacheStatus(fresh), 'miss');
        assert.equal((await json(fresh)).description, 'x');
      },
    );

    await t.step(
      'another user can neither see nor change a private robot (404)',
      async () => {
        const alice = await newUser();
        const bob = await newUser();
        const secret = await createRobot(app, alice, { name: 'Secret sauce' });
        // Alice's reads are cached first: Bob must not be served her entries.
        assert.equal(
          (await call(app, 'GET', `/robots/${secret.id}`, { user: alice }))
            .status,
          200,
        );
        assert.equal(
          (await call(app, 'GET', '/robots', { user: alice })).status,
          200,
        );

        await expectError(
          await call(app, 'GET', `/robots/${secret.id}`, { user: bob }),
          404,
          'not_found',
        );
        await expectError(
          await call(app, 'PATCH', `/robots/${secret.id}`, {
            user: bob,
            body: { name: 'Mine' },
          }),
          404,
          'not_found',
        );
        await expectError(
          await call(app, 'DELETE', `/robots/${secret.id}`, { user: bob }),
          404,
          'not_found',
        );
        const bobsList = await json<{ items: unknown[] }>(
          await call(app, 'GET', '/robots', { user: bob }),
        );
        assert.deepEqual(bobsList.items, []);
        const bobsSearch = await json<{ items: unknown[] }>(
          await call(app, 'GET', '/robots/search?q=Secret', { user: bob }),
        );
        assert.deepEqual(bobsSearch.items, []);
        // Anonymous callers neither.
        await expectError(
          await call(app, 'GET', `/robots/${secret.id}`),
          404,
          'not_found',
        );
        // Still Alice's, unchanged.
        const mine = await json(
          await call(app, 'GET', `/robots/${secret.id}`, { user: alice }),
        );
        assert.equal(mine.name, 'Secret sauce');
      },
    );
  });
});
