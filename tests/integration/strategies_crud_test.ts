/**
 * The `strategies` edge function through `app.request` on the real PostgreSQL 15 and the real Redis
 * behind the Upstash REST bridge, two isolates (`tests/support/strategies_fixture.ts`): create, read, list, update and delete; reads cached and writes invalidating across two isolates; RLS on cached reads; ETags.
 */
import assert from 'node:assert/strict';
import { signLocalJwt } from '../../shared/http/auth.ts';
import {
  call,
  createStrategy,
  expectError,
  json,
  newUser,
  withTwoIsolates,
  xCacheStatus,
} from '../support/strategies_fixture.ts';

Deno.test('strategies function on PostgreSQL and Redis (two isolates): reads and writes', async (t) => {
  await withTwoIsolates(async ({ appA, appB }) => {
    await t.step(
      'create, read, list, update, delete; reads cached, writes invalidate',
      async () => {
        const alice = await newUser();
        const created = await createStrategy(appA, alice, {
          name: 'Mean reversion 14',
          description: 'RSI under 30',
          strategy_type: 'mean_reversion',
          parameters: { period: 14, levels: [30, 70] },
        });
        assert.equal(created.user_id, alice.id);
        assert.equal(created.is_public, false);
        assert.deepEqual(created.parameters, { period: 14, levels: [30, 70] });
        assert.match(created.id, /^[0-9a-f-]{36}$/);

        const first = await call(appA, 'GET', `/strategies/${created.id}`, { user: alice });
        assert.equal(first.status, 200);
        assert.equal(xCacheStatus(first), 'miss');
        assert.deepEqual(await json(first), created);
        const again = await call(appA, 'GET', `/strategies/${created.id}`, { user: alice });
        assert.equal(xCacheStatus(again), 'hit');
        await again.body?.cancel();
        // The other isolate reads Alice's entry from Redis.
        const other = await call(appB, 'GET', `/strategies/${created.id}`, { user: alice });
        assert.match(other.headers.get('x-cache') ?? '', /^hit; tier=redis/);
        await other.body?.cancel();

        const list = await json<{ items: { id: string }[]; total: number }>(
          await call(appA, 'GET', '/strategies', { user: alice }),
        );
        assert.deepEqual(list.items.map((s) => s.id), [created.id]);
        assert.equal(list.total, 1);

        const patched = await call(appB, 'PATCH', `/strategies/${created.id.toUpperCase()}`, {
          user: alice,
          body: { name: 'Mean reversion 21', parameters: { period: 21 } },
        });
        assert.equal(patched.status, 200);
        const updated = await json(patched);
        assert.equal(updated.name, 'Mean reversion 21');
        assert.deepEqual(updated.parameters, { period: 21 });
        assert.equal(updated.id, created.id);

        // Both isolates see the change at once (memory staleness 0: each re-checks Redis).
        for (const app of [appA, appB]) {
          const fresh = await call(app, 'GET', `/strategies/${created.id}`, { user: alice });
          assert.equal((await json(fresh)).name, 'Mean reversion 21');
          const listed = await json<{ items: { name: string }[] }>(
            await call(app, 'GET', '/strategies', { user: alice }),
          );
          assert.deepEqual(listed.items.map((s) => s.name), ['Mean reversion 21']);
        }

        const gone = await call(appA, 'DELETE', `/strategies/${created.id}`, { user: alice });
        assert.equal(gone.status, 204);
        for (const app of [appA, appB]) {
          await expectError(
            await call(app, 'GET', `/strategies/${created.id}`, { user: alice }),
            404,
            'not_found',
          );
          const empty = await json<{ items: unknown[] }>(
            await call(app, 'GET', '/strategies', { user: alice }),
          );
          assert.deepEqual(empty.items, []);
        }
        await expectError(
          await call(appA, 'DELETE', `/strategies/${created.id}`, { user: alice }),
          404,
          'not_found',
        );
      },
    );

    await t.step('RLS: another user never sees a private strategy, cached or not', async () => {
      const alice = await newUser();
      const bob = await newUser();
      const anonKey = await signLocalJwt({ role: 'anon' });
      const secret = await createStrategy(appA, alice, { name: 'Secret sauce grid' });
      const spellings = [secret.id, secret.id.toUpperCase()];
      // Alice's reads are cached first, in both isolates: Bob must not be served her entries.
      for (const app of [appA, appB]) {
        for (const id of spellings) {
          assert.equal((await call(app, 'GET', `/strategies/${id}`, { user: alice })).status, 200);
        }
        await (await call(app, 'GET', '/strategies', { user: alice })).body?.cancel();
        await (await call(app, 'GET', '/strategies/search?q=Secret', { user: alice })).body
          ?.cancel();
      }
      for (const app of [appA, appB]) {
        for (const id of spellings) {
          await expectError(
            await call(app, 'GET', `/strategies/${id}`, { user: bob }),
            404,
            'not_found',
          );
          await expectError(
            await call(app, 'GET', `/strategies/${id}`, { token: anonKey }),
            404,
            'not_found',
          );
          await expectError(await call(app, 'GET', `/strategies/${id}`), 404, 'not_found');
          await expectError(
            await call(app, 'PATCH', `/strategies/${id}`, { user: bob, body: { name: 'Mine' } }),
            404,
            'not_found',
          );
          await expectError(
            await call(app, 'DELETE', `/strategies/${id}`, { user: bob }),
            404,
            'not_found',
          );
        }
        const bobs = await json<{ items: unknown[] }>(
          await call(app, 'GET', '/strategies', { user: bob }),
        );
        assert.deepEqual(bobs.items, []);
        const search = await json<{ items: unknown[] }>(
          await call(app, 'GET', '/strategies/search?q=Secret%20sauce', { user: bob }),
        );
        assert.deepEqual(search.items, []);
      }

      // Published: Bob and anon see it. Made private again: 404 at once, in both isolates.
      await call(appA, 'PATCH', `/strategies/${secret.id}`, {
        user: alice,
        body: { is_public: true },
      });
      for (const app of [appA, appB]) {
        for (const id of spellings) {
          assert.equal((await call(app, 'GET', `/strategies/${id}`, { user: bob })).status, 200);
          assert.equal((await call(app, 'GET', `/strategies/${id}`)).status, 200);
          const hit = await call(app, 'GET', `/strategies/${id}`, { user: bob });
          assert.equal(hit.status, 200);
          await hit.body?.cancel();
        }
      }
      // Public is not Bob's: he still cannot change or delete it.
      for (const id of spellings) {
        await expectError(
          await call(appB, 'PATCH', `/strategies/${id}`, { user: bob, body: { name: 'Mine' } }),
          404,
          'not_found',
        );
        await expectError(
          await call(appB, 'DELETE', `/strategies/${id}`, { user: bob }),
          404,
          'not_found',
        );
      }
      const hidden = await call(appB, 'PATCH', `/strategies/${secret.id.toUpperCase()}`, {
        user: alice,
        body: { is_public: false },
      });
      assert.equal(hidden.status, 200);
      await hidden.body?.cancel();
      for (const app of [appA, appB]) {
        for (const id of spellings) {
          await expectError(
            await call(app, 'GET', `/strategies/${id}`, { user: bob }),
            404,
            'not_found',
          );
          await expectError(await call(app, 'GET', `/strategies/${id}`), 404, 'not_found');
        }
      }
      // Still Alice's, unchanged.
      const mine = await json(await call(appB, 'GET', `/strategies/${secret.id}`, { user: alice }));
      assert.equal(mine.name, 'Secret sauce grid');
    });

    await t.step('ETag: 304 while unchanged, a new ETag after a write', async () => {
      const gina = await newUser();
      const strategy = await createStrategy(appA, gina, { is_public: true });
      const path = `/strategies/${strategy.id}`;
      const first = await call(appA, 'GET', path, { user: gina });
      const etag = first.headers.get('etag');
      assert.match(etag ?? '', /^"[^"]+"$/);
      await first.body?.cancel();
      for (const app of [appA, appB]) {
        for (const header of [etag!, `W/${etag}`, `"other", ${etag}`, '*']) {
          const cached = await call(app, 'GET', path, {
            user: gina,
            headers: { 'if-none-match': header },
          });
          assert.equal(cached.status, 304, header);
          assert.equal(await cached.text(), '');
          assert.equal(cached.headers.get('etag'), etag);
        }
      }
      const other = await call(appA, 'GET', path, {
        user: gina,
        headers: { 'if-none-match': '"not-the-tag"' },
      });
      assert.equal(other.status, 200);
      await other.body?.cancel();
      for (const listing of ['/strategies?limit=5', `/strategies/search?q=Breakout`]) {
        const response = await call(appA, 'GET', listing, { user: gina });
        const tag = response.headers.get('etag')!;
        assert.match(tag, /^"[A-Za-z0-9_-]{20,}"$/);
        await response.body?.cancel();
        const again = await call(appB, 'GET', listing, {
          user: gina,
          headers: { 'if-none-match': tag },
        });
        assert.equal(again.status, 304, listing);
      }
      const anonymous = await call(appA, 'GET', '/strategies/public');
      const publicTag = anonymous.headers.get('etag')!;
      await anonymous.body?.cancel();
      assert.equal(
        (await call(appB, 'GET', '/strategies/public', { headers: { 'if-none-match': publicTag } }))
          .status,
        304,
      );
      await (await call(appA, 'PATCH', path, { user: gina, body: { description: 'v2' } })).body
        ?.cancel();
      const changed = await call(appA, 'GET', path, {
        user: gina,
        headers: { 'if-none-match': etag! },
      });
      assert.equal(changed.status, 200);
      assert.notEqual(changed.headers.get('etag'), etag);
      assert.equal((await json(changed)).description, 'v2');
    });
  });
});
