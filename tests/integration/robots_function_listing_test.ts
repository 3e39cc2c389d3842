/**
 * The `robots` edge function end to end through `app.request` on an embedded PGlite database
 * (`robots_function_support.ts`); each step uses fresh user ids:
 * the public listing, search scoped per caller, and the pagination walk.
 */
import assert from 'node:assert/strict';
import { signLocalJwt } from '../../shared/http/auth.ts';
import {
  call,
  createRobot,
  expectError,
  json,
  newUser,
  type User,
  withRobotsApp,
  xCacheStatus,
} from './robots_function_support.ts';

Deno.test('robots function on PGlite with a memory-store optimizer: listing and search', async (t) => {
  await withRobotsApp(async ({ app }) => {
    await t.step(
      'public listing: anon allowed, follows is_public changes',
      async () => {
        const carol = await newUser();
        const anonKey = await signLocalJwt({ role: 'anon' });
        const marker = `Pub-${crypto.randomUUID().slice(0, 8)}`;
        const shown = await createRobot(app, carol, {
          name: `${marker} shown`,
          is_public: true,
        });
        const hidden = await createRobot(app, carol, {
          name: `${marker} hidden`,
        });

        const ids = async () => {
          const response = await call(
            app,
            'GET',
            '/robots/public?limit=100&fields=id,name',
            {
              token: anonKey,
            },
          );
          assert.equal(response.status, 200);
          const page = await json<{ items: { id: string }[] }>(response);
          return {
            status: xCacheStatus(response),
            ids: page.items.map((r) => r.id),
          };
        };
        const first = await ids();
        assert.ok(first.ids.includes(shown.id as string));
        assert.ok(!first.ids.includes(hidden.id as string));
        assert.equal((await ids()).status, 'hit');
        // Without any Authorization header too.
        assert.equal((await call(app, 'GET', '/robots/public')).status, 200);

        // Publishing the hidden one and unpublishing the shown one both refresh the listing.
        await call(app, 'PATCH', `/robots/${hidden.id}`, {
          user: carol,
          body: { is_public: true },
        });
        await call(app, 'PATCH', `/robots/${shown.id}`, {
          user: carol,
          body: { is_public: false },
        });
        const after = await ids();
        assert.equal(after.status, 'miss');
        assert.ok(after.ids.includes(hidden.id as string));
        assert.ok(!after.ids.includes(shown.id as string));

        // Deleting a public robot drops it from the listing too.
        const gone = await call(app, 'DELETE', `/robots/${hidden.id}`, {
          user: carol,
        });
        assert.equal(gone.status, 204);
        assert.ok(!(await ids()).ids.includes(hidden.id as string));
        await expectError(
          await call(app, 'GET', `/robots/${hidden.id}`, { user: carol }),
          404,
          'not_found',
        );
      },
    );

    await t.step(
      'search: own and public robots, scoped per caller',
      async () => {
        const dave = await newUser();
        const erin = await newUser();
        const word = `zq${crypto.randomUUID().replaceAll('-', '').slice(0, 10)}`;
        const own = await createRobot(app, dave, { name: `${word} private` });
        const pub = await createRobot(app, erin, {
          name: `${word} public`,
          is_public: true,
        });

        const search = async (user?: User) => {
          const response = await call(
            app,
            'GET',
            `/robots/search?q=${word}&fields=id,name`,
            {
              user,
            },
          );
          assert.equal(response.status, 200);
          const body = await json<{ items: { id: string; score: number }[] }>(
            response,
          );
          return body.items.map((r) => r.id).sort();
        };
        assert.deepEqual(await search(dave), [own.id, pub.id].sort());
        assert.deepEqual(await search(erin), [pub.id]);
        assert.deepEqual(await search(), [pub.id]);
        await expectError(
          await call(app, 'GET', '/robots/search?q=a'),
          400,
          'invalid_query',
        );
        await expectError(
          await call(app, 'GET', '/robots/search'),
          400,
          'invalid_query',
        );
      },
    );

    await t.step(
      'pagination walk with limit, cursor, strategy_type and total',
      async () => {
        const frank = await newUser();
        const created: string[] = [];
        for (let i = 0; i < 5; i++) {
          created.push(
            (await createRobot(app, frank, {
              name: `Walker ${i}`,
              strategy_type: 'grid',
            }))
              .id as string,
          );
        }
        await createRobot(app, frank, {
          name: 'Other',
          strategy_type: 'scalping',
        });

        const seen: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const query: string = `limit=2&strategy_type=grid&total=exact${
            cursor ? `&cursor=${cursor}` : ''
          }`;
          const response = await call(app, 'GET', `/robots?${query}`, {
            user: frank,
          });
          const page = await json<
            {
              items: { id: string }[];
              nextCursor: string | null;
              total: number;
              totalExact: boolean;
            }
          >(response);
          assert.equal(response.status, 200, JSON.stringify(page));
          assert.equal(page.total, 5);
          assert.equal(page.totalExact, true);
          seen.push(...page.items.map((r) => r.id));
          cursor = page.nextCursor;
          pages++;
        } while (cursor && pages < 10);
        assert.equal(pages, 3);
        assert.deepEqual([...seen].sort(), [...created].sort());
        assert.equal(new Set(seen).size, 5);
      },
    );
  });
});
