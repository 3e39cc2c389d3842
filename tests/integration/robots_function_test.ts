/**
 * The `robots` edge function end to end through `app.request`: an embedded PGlite database with
 * every migration (RLS included), a memory-store optimizer, and JWTs signed with the local
 * secret. One database for the file (PGlite starts in seconds); each step uses fresh user ids.
 */
import assert from 'node:assert/strict';
import type { Database } from '../../shared/db/mod.ts';
import { createEmbeddedDatabase } from '../../scripts/pglite.ts';
import { signLocalJwt } from '../../shared/http/auth.ts';
import { AdvancedBackendOptimizer, Metrics } from '../../shared/optimizer/mod.ts';
import { MemoryStore } from '../../shared/store/memory.ts';
import { createRobotsApp } from '../../supabase/functions/robots/app.ts';

type App = ReturnType<typeof createRobotsApp>;

interface User {
  id: string;
  token: string;
}

async function newUser(): Promise<User> {
  const id = crypto.randomUUID();
  return { id, token: await signLocalJwt({ role: 'authenticated', sub: id }) };
}

function call(
  app: App,
  method: string,
  path: string,
  options: { user?: User; token?: string; body?: unknown; rawBody?: string } = {},
): Promise<Response> {
  const headers: Record<string, string> = {};
  const token = options.token ?? options.user?.token;
  if (token) headers.authorization = `Bearer ${token}`;
  let body: string | undefined = options.rawBody;
  if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined) headers['content-type'] = 'application/json';
  return Promise.resolve(app.request(path, { method, headers, body }));
}

async function json<T = Record<string, unknown>>(
  response: Response,
): Promise<T> {
  return await response.json() as T;
}

async function expectError(
  response: Response,
  status: number,
  code: string,
): Promise<string> {
  const body = await json<{ error: { code: string; message: string } }>(
    response,
  );
  assert.equal(response.status, status, JSON.stringify(body));
  assert.equal(body.error.code, code, body.error.message);
  return body.error.message;
}

async function createRobot(
  app: App,
  user: User,
  input: Record<string, unknown> = {},
): Promise<Record<string, unknown>> {
  const response = await call(app, 'POST', '/robots', {
    user,
    body: { name: 'Falcon', strategy_type: 'breakout', ...input },
  });
  const body = await json(response);
  assert.equal(response.status, 201, JSON.stringify(body));
  return body;
}

const xCacheStatus = (response: Response) => response.headers.get('x-cache')?.split(';')[0];

Deno.test('robots function on PGlite with a memory-store optimizer', async (t) => {
  let db: Database | undefined;
  const optimizer = new AdvancedBackendOptimizer({
    store: new MemoryStore(),
    metrics: new Metrics(),
    metricsFlushIntervalMs: 0,
  });
  try {
    db = await createEmbeddedDatabase({ seed: false });
    const opened = db;
    const app = createRobotsApp({
      db: () => Promise.resolve(opened),
      optimizer,
    });

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

    await t.step('bad input is a 400 with a code, never a 500', async () => {
      const gina = await newUser();
      const robot = await createRobot(app, gina);
      const cases: [
        string,
        string,
        { body?: unknown; rawBody?: string },
        string,
      ][] = [
        ['GET', '/robots?limit=0', {}, 'invalid_query'],
        ['GET', '/robots?limit=abc', {}, 'invalid_query'],
        ['GET', '/robots?limit=101', {}, 'invalid_query'],
        ['GET', '/robots?cursor=garbage', {}, 'invalid_query'],
        ['GET', '/robots?fields=id,password', {}, 'invalid_query'],
        ['GET', '/robots?strategy_type=astrology', {}, 'invalid_query'],
        ['GET', '/robots?total=maybe', {}, 'invalid_query'],
        ['GET', '/robots?sort=name', {}, 'invalid_query'],
        ['GET', '/robots?limit=1&limit=2', {}, 'invalid_query'],
        ['GET', '/robots/not-a-uuid', {}, 'invalid_id'],
        ['POST', '/robots', { rawBody: '{"name": ' }, 'invalid_json'],
        ['POST', '/robots', { rawBody: '' }, 'invalid_json'],
        ['POST', '/robots', { body: [1, 2] }, 'invalid_body'],
        [
          'POST',
          '/robots',
          { body: { strategy_type: 'grid' } },
          'invalid_body',
        ],
        [
          'POST',
          '/robots',
          { body: { name: 'X', strategy_type: 'astrology' } },
          'invalid_body',
        ],
        ['POST', '/robots', {
          body: { name: 'X', strategy_type: 'grid', color: 1 },
        }, 'invalid_body'],
        [
          'POST',
          '/robots',
          {
            body: {
              name: 'X',
              strategy_type: 'grid',
              user_id: crypto.randomUUID(),
            },
          },
          'invalid_body',
        ],
        [
          'POST',
          '/robots',
          { body: { name: ' ', strategy_type: 'grid' } },
          'invalid_body',
        ],
        [
          'POST',
          '/robots',
          { body: { name: 'X', strategy_type: 'grid', strategy_params: [1] } },
          'invalid_body',
        ],
        [
          'POST',
          '/robots',
          {
            body: {
              name: 'X',
              strategy_type: 'grid',
              strategy_id: crypto.randomUUID(),
            },
          },
          'invalid_reference',
        ],
        ['PATCH', `/robots/${robot.id}`, { body: {} }, 'invalid_body'],
        [
          'PATCH',
          `/robots/${robot.id}`,
          { body: { user_id: gina.id } },
          'invalid_body',
        ],
        [
          'PATCH',
          `/robots/${robot.id}`,
          { body: { is_public: 'yes' } },
          'invalid_body',
        ],
        ['PATCH', '/robots/123', { body: { name: 'X' } }, 'invalid_id'],
      ];
      for (const [method, path, options, code] of cases) {
        const response = await call(app, method, path, {
          user: gina,
          ...options,
        });
        const body = await json<{ error: { code: string; message: string } }>(
          response,
        );
        assert.equal(
          response.status,
          400,
          `${method} ${path}: ${JSON.stringify(body)}`,
        );
        assert.equal(
          body.error.code,
          code,
          `${method} ${path}: ${body.error.message}`,
        );
        assert.ok(body.error.message.length > 0);
      }
      const big = await call(app, 'POST', '/robots', {
        user: gina,
        body: {
          name: 'X',
          strategy_type: 'grid',
          description: 'x'.repeat(70_000),
        },
      });
      await expectError(big, 413, 'payload_too_large');
    });

    await t.step(
      'auth: own list and writes need a signed-in user',
      async () => {
        await expectError(
          await call(app, 'GET', '/robots'),
          401,
          'login_required',
        );
        const anonKey = await signLocalJwt({ role: 'anon' });
        await expectError(
          await call(app, 'GET', '/robots', { token: anonKey }),
          401,
          'login_required',
        );
        await expectError(
          await call(app, 'POST', '/robots', {
            token: anonKey,
            body: { name: 'X', strategy_type: 'grid' },
          }),
          401,
          'login_required',
        );
        await expectError(
          await call(app, 'GET', '/robots', { token: 'not.a.jwt' }),
          401,
          'invalid_jwt',
        );
        const forged = await signLocalJwt(
          { role: 'authenticated', sub: crypto.randomUUID() },
          'another-secret-that-is-at-least-32-characters',
        );
        await expectError(
          await call(app, 'GET', '/robots', { token: forged }),
          401,
          'invalid_jwt',
        );
      },
    );
  } finally {
    await optimizer.close();
    await db?.close();
  }
});
