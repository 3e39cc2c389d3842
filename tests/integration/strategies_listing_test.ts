/**
 * The `strategies` edge function through `app.request` on the real PostgreSQL 15 and the real Redis
 * behind the Upstash REST bridge, two isolates (`tests/support/strategies_fixture.ts`): the public listing (pre-warmed entries included), search, pagination and cursors.
 */
import assert from 'node:assert/strict';
import { decodeCursor, encodeCursor } from '../../shared/db/mod.ts';
import {
  publicStrategiesListKey,
  publicStrategyKey,
} from '../../supabase/functions/strategies/app.ts';
import {
  type App,
  call,
  createStrategy,
  expectError,
  json,
  newUser,
  type User,
  withTwoIsolates,
  xCacheStatus,
} from '../support/strategies_fixture.ts';

Deno.test('strategies function on PostgreSQL and Redis (two isolates): listing and search', async (t) => {
  await withTwoIsolates(async ({ optimizerB, appA, appB }) => {
    await t.step('public listing follows is_public, pre-warmed entries included', async () => {
      const carol = await newUser();
      const marker = `Pub-${crypto.randomUUID().slice(0, 8)}`;
      const shown = await createStrategy(appA, carol, {
        name: `${marker} shown`,
        strategy_type: 'momentum',
        is_public: true,
      });
      const ids = async (app: App, query = '') => {
        const response = await call(app, 'GET', `/strategies/public${query}`);
        assert.equal(response.status, 200);
        const page = await json<{ items: { id: string }[] }>(response);
        return { status: xCacheStatus(response), ids: page.items.map((s) => s.id) };
      };
      // The loaders warm the first page and the anonymous read by id, without any request.
      const warmed = await optimizerB.cache.prewarm([
        publicStrategiesListKey(),
        publicStrategiesListKey({ strategy_type: 'momentum' }),
        publicStrategyKey(shown.id),
      ]);
      assert.equal(warmed.warmed.length, 3, JSON.stringify(warmed));
      const first = await ids(appB);
      assert.equal(first.status, 'prewarmed');
      assert.ok(first.ids.includes(shown.id));
      assert.ok((await ids(appB, '?strategy_type=momentum')).ids.includes(shown.id));
      const detail = await call(appB, 'GET', `/strategies/${shown.id}`);
      assert.equal(detail.status, 200);
      await detail.body?.cancel();

      // Unpublished in the other isolate: the pre-warmed (untagged) entries go too.
      await (await call(appA, 'PATCH', `/strategies/${shown.id}`, {
        user: carol,
        body: { is_public: false },
      })).body?.cancel();
      for (const app of [appA, appB]) {
        assert.ok(!(await ids(app)).ids.includes(shown.id));
        assert.ok(!(await ids(app, '?strategy_type=momentum')).ids.includes(shown.id));
        await expectError(await call(app, 'GET', `/strategies/${shown.id}`), 404, 'not_found');
      }

      // Published again with another type; then deleted: gone from every listing.
      await (await call(appA, 'PATCH', `/strategies/${shown.id}`, {
        user: carol,
        body: { is_public: true, strategy_type: 'scalping' },
      })).body?.cancel();
      assert.ok((await ids(appB)).ids.includes(shown.id));
      assert.ok((await ids(appB, '?strategy_type=scalping')).ids.includes(shown.id));
      assert.equal(
        (await call(appA, 'DELETE', `/strategies/${shown.id}`, { user: carol })).status,
        204,
      );
      assert.ok(!(await ids(appB)).ids.includes(shown.id));
      assert.ok(!(await ids(appB, '?strategy_type=scalping')).ids.includes(shown.id));
    });

    await t.step('search: own and public strategies, scoped per caller', async () => {
      const dave = await newUser();
      const erin = await newUser();
      const word = `zq${crypto.randomUUID().replaceAll('-', '').slice(0, 10)}`;
      const own = await createStrategy(appA, dave, { name: `${word} private` });
      const pub = await createStrategy(appA, erin, {
        description: `uses ${word} signals`,
        is_public: true,
      });
      const search = async (user?: User, extra = '') => {
        const response = await call(appA, 'GET', `/strategies/search?q=${word}${extra}`, { user });
        const body = await json<{ items: { id: string; score: number }[] }>(response);
        assert.equal(response.status, 200, JSON.stringify(body));
        for (const item of body.items) assert.ok(item.score > 0);
        return body.items.map((s) => s.id).sort();
      };
      assert.deepEqual(await search(dave), [own.id, pub.id].sort());
      assert.deepEqual(await search(erin), [pub.id]);
      assert.deepEqual(await search(), [pub.id]);
      assert.deepEqual(await search(dave, '&strategy_type=grid'), []);
      assert.deepEqual(await search(dave, '&limit=1&fields=id').then((ids) => ids.length), 1);
      await expectError(await call(appA, 'GET', '/strategies/search?q=a'), 400, 'invalid_query');
      await expectError(await call(appA, 'GET', '/strategies/search'), 400, 'invalid_query');
      // LIKE wildcards are text, not patterns.
      assert.deepEqual(
        (await json<{ items: unknown[] }>(
          await call(appA, 'GET', `/strategies/search?q=${encodeURIComponent('%_')}`, {
            user: dave,
          }),
        )).items,
        [],
      );
    });

    await t.step('pagination walk with limit, cursor, strategy_type and total', async () => {
      const frank = await newUser();
      const created: string[] = [];
      for (let i = 0; i < 5; i++) {
        created.push(
          (await createStrategy(appA, frank, {
            name: `Walker ${i}`,
            strategy_type: 'grid',
          })).id,
        );
      }
      await createStrategy(appA, frank, { name: 'Other', strategy_type: 'scalping' });
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const query: string = `limit=2&strategy_type=grid&total=exact${
          cursor ? `&cursor=${cursor}` : ''
        }`;
        const response = await call(appA, 'GET', `/strategies?${query}`, { user: frank });
        const page = await json<{
          items: { id: string }[];
          nextCursor: string | null;
          total: number;
          totalExact: boolean;
          hasMore: boolean;
        }>(response);
        assert.equal(response.status, 200, JSON.stringify(page));
        assert.equal(page.total, 5);
        assert.equal(page.totalExact, true);
        assert.equal(page.hasMore, page.nextCursor !== null);
        seen.push(...page.items.map((s) => s.id));
        cursor = page.nextCursor;
        pages++;
      } while (cursor && pages < 10);
      assert.equal(pages, 3);
      // Newest first: the reverse of creation order.
      assert.deepEqual(seen, [...created].reverse());
      const fields = await json<{ items: Record<string, unknown>[]; total: null }>(
        await call(appA, 'GET', '/strategies?fields=id,name&total=none&limit=1', { user: frank }),
      );
      assert.deepEqual(Object.keys(fields.items[0]).sort(), ['id', 'name']);
      assert.equal(fields.total, null);
    });

    await t.step('cursors: one position is one key; impossible dates are a 400', async () => {
      const ivan = await newUser();
      for (let i = 0; i < 3; i++) await createStrategy(appA, ivan, { name: `Cursor ${i}` });
      const page = await json<{ nextCursor: string }>(
        await call(appA, 'GET', '/strategies?limit=1', { user: ivan }),
      );
      const { createdAt, id } = decodeCursor(page.nextCursor);
      const upperCursor = encodeCursor({ createdAt, id: id.toUpperCase() });
      assert.notEqual(upperCursor, page.nextCursor);
      const lower = await call(appA, 'GET', `/strategies?limit=1&cursor=${page.nextCursor}`, {
        user: ivan,
      });
      const upper = await call(appA, 'GET', `/strategies?limit=1&cursor=${upperCursor}`, {
        user: ivan,
      });
      assert.equal(upper.status, 200);
      assert.equal(xCacheStatus(upper), 'hit', 'one position, one key');
      assert.deepEqual(await upper.json(), await lower.json());
      for (const date of ['2026-02-30T00:00:00Z', '2026-13-01T00:00:00Z', '0000-01-01T00:00:00Z']) {
        const cursor = encodeCursor({ createdAt: date, id });
        for (
          const path of [`/strategies?cursor=${cursor}`, `/strategies/public?cursor=${cursor}`]
        ) {
          await expectError(await call(appA, 'GET', path, { user: ivan }), 400, 'invalid_query');
        }
      }
    });
  });
});
