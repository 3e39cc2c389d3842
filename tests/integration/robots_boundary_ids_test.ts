/**
 * The robots function's boundary (issue 8 findings 1, 3, 6, 8, 9; issue 10's ETag) through
 * `app.request` on an embedded PGlite database (`robots_boundary_support.ts`):
 * any spelling of an id is one cache key: a robot made private or deleted is gone at once for
 * every caller who read it under an uppercase id; ids in cursors, bodies and Location are
 * canonical.
 */
import assert from 'node:assert/strict';
import { encodeCursor } from '../../shared/db/mod.ts';
import { settleBackground } from '../../shared/runtime/background.ts';
import {
  call,
  createRobot,
  expectError,
  newUser,
  withRobotsBoundary,
  xCache,
} from './robots_boundary_support.ts';

Deno.test('robots boundary: ids', async (t) => {
  await withRobotsBoundary(async ({ app, anonKey, opened }) => {
    await t.step('finding 1: uppercase ids share the canonical key; private at once', async () => {
      const owner = await newUser();
      const bob = await newUser();
      const robot = await createRobot(app, owner, { is_public: true });
      const upper = robot.id.toUpperCase();
      const mixed = robot.id.replace(/[a-f]/g, (ch, i) => (i % 2 ? ch.toUpperCase() : ch));
      assert.notEqual(upper, robot.id);

      // B reads the uppercase spelling twice (cached), then the mixed and canonical ones: one
      // entry, so the later spellings are hits too.
      const first = await call(app, 'GET', `/robots/${upper}`, { user: bob });
      assert.equal(first.status, 200);
      assert.equal((await first.json()).id, robot.id, 'the answer carries the canonical id');
      assert.equal(xCache(await call(app, 'GET', `/robots/${upper}`, { user: bob })), 'hit');
      assert.equal(xCache(await call(app, 'GET', `/robots/${mixed}`, { user: bob })), 'hit');
      assert.equal(xCache(await call(app, 'GET', `/robots/${robot.id}`, { user: bob })), 'hit');
      // Anon too, uppercase, cached.
      await call(app, 'GET', `/robots/${upper}`, { token: anonKey });
      assert.equal(xCache(await call(app, 'GET', `/robots/${upper}`, { token: anonKey })), 'hit');
      assert.equal(xCache(await call(app, 'GET', `/robots/${mixed}`)), 'hit');

      // The owner turns it private (under yet another spelling): every spelling is a 404 at once.
      const patched = await call(app, 'PATCH', `/robots/${mixed}`, {
        user: owner,
        body: { is_public: false },
      });
      assert.equal(patched.status, 200);
      for (const spelling of [upper, mixed, robot.id]) {
        await expectError(await call(app, 'GET', `/robots/${spelling}`, { user: bob }), 404);
        await expectError(
          await call(app, 'GET', `/robots/${spelling}`, { token: anonKey }),
          404,
        );
        await expectError(await call(app, 'GET', `/robots/${spelling}?fields=id,name`), 404);
      }
      // The owner still reads it under any spelling.
      assert.equal((await call(app, 'GET', `/robots/${upper}`, { user: owner })).status, 200);
      // The write recorded its invalidation in the outbox (same transaction) and, the store
      // having confirmed, the row is gone.
      await settleBackground();
      const pending = await opened.query<{ n: number }>(
        `select count(*)::int as n from public.cache_invalidation_outbox
         where tags @> array[$1]::text[]`,
        [`pub:robot%3A${robot.id}`],
      );
      assert.equal(pending[0].n, 0);
      const written = await opened.query<{ n: string }>(
        `select last_value::text as n from public.cache_invalidation_outbox_id_seq`,
      );
      assert.ok(Number(written[0].n) >= 2, 'create and patch each wrote an outbox row');
    });

    await t.step('finding 1: the same after DELETE, read under an uppercase id', async () => {
      const owner = await newUser();
      const bob = await newUser();
      const robot = await createRobot(app, owner, { is_public: true });
      const upper = robot.id.toUpperCase();
      for (const token of [bob.token, anonKey, owner.token]) {
        assert.equal((await call(app, 'GET', `/robots/${upper}`, { token })).status, 200);
        assert.equal(xCache(await call(app, 'GET', `/robots/${upper}`, { token })), 'hit');
      }
      // The public listing and a search hold it too.
      const marker = (robot.name as string).slice(0, 6);
      assert.equal((await call(app, 'GET', `/robots/search?q=${marker}`)).status, 200);

      // The owner's client deletes under the canonical id; readers cached the uppercase one.
      const deleted = await call(app, 'DELETE', `/robots/${robot.id}`, { user: owner });
      assert.equal(deleted.status, 204);
      for (const token of [bob.token, anonKey, owner.token]) {
        await expectError(await call(app, 'GET', `/robots/${upper}`, { token }), 404);
        await expectError(await call(app, 'GET', `/robots/${robot.id}`, { token }), 404);
      }
      const listing = await (await call(app, 'GET', '/robots/public?limit=100&fields=id')).json();
      assert.ok(!listing.items.some((r: { id: string }) => r.id === robot.id));
    });

    await t.step('finding 1: ids in cursors, bodies and Location are canonical', async () => {
      const owner = await newUser();
      for (let i = 0; i < 3; i++) await createRobot(app, owner, { name: `Cursor ${i}` });
      const page = await (await call(app, 'GET', '/robots?limit=1', { user: owner })).json();
      const [createdAt, id] = JSON.parse(
        atob(page.nextCursor.replace(/-/g, '+').replace(/_/g, '/')),
      );
      const upperCursor = encodeCursor({ createdAt, id: id.toUpperCase() });
      assert.notEqual(upperCursor, page.nextCursor);
      const lower = await call(app, 'GET', `/robots?limit=1&cursor=${page.nextCursor}`, {
        user: owner,
      });
      const upper = await call(app, 'GET', `/robots?limit=1&cursor=${upperCursor}`, {
        user: owner,
      });
      assert.equal(upper.status, 200);
      assert.equal(xCache(upper), 'hit', 'one position, one key');
      assert.deepEqual(await upper.json(), await lower.json());

      // A strategy id given in uppercase is stored and answered canonical.
      const strategyId = crypto.randomUUID();
      await opened.query(
        `insert into public.strategies (id, user_id, name, strategy_type) values ($1, $2, 'S', 'grid')`,
        [strategyId, owner.id],
      );
      const response = await call(app, 'POST', '/robots', {
        user: owner,
        body: { name: 'Ref', strategy_type: 'grid', strategy_id: strategyId.toUpperCase() },
      });
      const created = await response.json();
      assert.equal(response.status, 201, JSON.stringify(created));
      assert.equal(created.strategy_id, strategyId);
      assert.equal(response.headers.get('location'), `/functions/v1/robots/${created.id}`);
      assert.equal(created.id, created.id.toLowerCase());
    });
  });
});
