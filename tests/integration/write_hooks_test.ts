/**
 * Repository writes run `afterWrite` inside their own transaction (the hook `write()` in
 * shared/http/optimized.ts uses for the invalidation outbox), and the strategies repository has
 * what the strategies function needs (update, search), with canonical ids and bounded params.
 * Embedded PGlite with every migration and RLS.
 */
import assert from 'node:assert/strict';
import {
  type Database,
  RobotsRepository,
  StrategiesRepository,
  userCaller,
} from '../../shared/db/mod.ts';
import { createEmbeddedDatabase } from '../../scripts/pglite.ts';

Deno.test('write hooks and the strategies repository', async (t) => {
  let db: Database | undefined;
  try {
    db = await createEmbeddedDatabase({ seed: false });
    const robots = new RobotsRepository(db);
    const strategies = new StrategiesRepository(db);
    const aliceId = crypto.randomUUID();
    const alice = userCaller({ sub: aliceId });
    const bob = userCaller({ sub: crypto.randomUUID() });

    await t.step('afterWrite sees the row inside the transaction; a throw rolls back', async () => {
      const seen: string[] = [];
      const robot = await robots.create(alice, { name: 'Hooked', strategy_type: 'grid' }, {
        afterWrite: async (tx, row) => {
          // Same transaction: the new row is visible to the hook's SQL.
          const rows = await tx.query<{ n: number }>(
            'select count(*)::int as n from public.robots where id = $1',
            [row.id],
          );
          seen.push(`${row.name}:${rows[0].n}`);
        },
      });
      assert.deepEqual(seen, ['Hooked:1']);

      await assert.rejects(
        robots.update(alice, robot.id, { name: 'Renamed' }, {
          afterWrite: () => Promise.reject(new Error('outbox down')),
        }),
        /outbox down/,
      );
      assert.equal((await robots.getById(alice, robot.id))?.name, 'Hooked', 'rolled back');

      await assert.rejects(
        robots.delete(alice, robot.id, { afterWrite: () => Promise.reject(new Error('no')) }),
      );
      assert.ok(await robots.getById(alice, robot.id), 'delete rolled back');

      // Another user's robot: nothing written, the hook is not called.
      let called = false;
      const hook = { afterWrite: () => void (called = true) };
      assert.equal(await robots.update(bob, robot.id, { name: 'Stolen' }, hook), null);
      assert.equal(await robots.delete(bob, robot.id, hook), false);
      assert.equal(called, false);

      // Uppercase ids reach SQL canonical, and the hook gets the canonical id.
      const deleted: string[] = [];
      assert.equal(
        await robots.delete(alice, robot.id.toUpperCase(), {
          afterWrite: (_tx, row) => void deleted.push(row.id),
        }),
        true,
      );
      assert.deepEqual(deleted, [robot.id]);
    });

    await t.step('strategies: create, update, search, delete with hooks', async () => {
      const hooked: string[] = [];
      const afterWrite = (_tx: unknown, row: { id: string }) => void hooked.push(row.id);
      const created = await strategies.create(alice, {
        name: 'Mean reverter',
        description: 'buys 100% dips_',
        strategy_type: 'mean_reversion',
        parameters: { window: 20 },
      }, { afterWrite });
      const updated = await strategies.update(alice, created.id.toUpperCase(), {
        parameters: { window: 30 },
        is_public: true,
      }, { afterWrite });
      assert.deepEqual(updated?.parameters, { window: 30 });
      assert.equal(updated?.is_public, true);
      assert.equal(await strategies.update(bob, created.id, { name: 'x' }), null);

      assert.deepEqual((await strategies.search(bob, { query: 'REVERT' })).map((s) => s.id), [
        created.id,
      ]);
      // LIKE wildcards in the query are literal.
      assert.equal((await strategies.search(alice, { query: '100%' })).length, 1);
      assert.equal((await strategies.search(alice, { query: 'ps_' })).length, 1);
      assert.equal((await strategies.search(alice, { query: '%%' })).length, 0);
      assert.equal((await strategies.search(bob, { query: 'zzzz-none' })).length, 0);

      await assert.rejects(
        strategies.update(alice, created.id, { parameters: { a: { b: { c: { d: { e: {} } } } } } }),
        /nests deeper than 5 levels/,
      );
      await assert.rejects(strategies.update(alice, created.id, { name: 'a\u0000' }), /NUL/);
      await assert.rejects(strategies.update(alice, created.id, {}), /needs at least one/);

      assert.equal(await strategies.delete(alice, created.id.toUpperCase(), { afterWrite }), true);
      assert.deepEqual(hooked, [created.id, created.id, created.id]);
    });
  } finally {
    await db?.close();
  }
});
