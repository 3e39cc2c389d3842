/**
 * The robots function's boundary (issue 8 findings 1, 3, 6, 8, 9; issue 10's ETag), through
 * `app.request` and real supabase-js on an embedded PGlite database with every migration and a
 * memory-store optimizer:
 *
 * - any spelling of an id is one cache key: a robot made private or deleted is gone at once for
 *   every caller who read it under an uppercase id;
 * - user JSON is bounded (depth, keys, sizes), NUL and lone surrogates are refused, impossible
 *   cursor dates are a 400, Postgres data exceptions are a 400: never a 500;
 * - bodies must be JSON (415 otherwise);
 * - supabase-js with `functions: { region }` works;
 * - cached reads carry a strong ETag and answer `If-None-Match` with 304.
 */
import assert from 'node:assert/strict';
import { createClient } from '@supabase/supabase-js';
import type { Database } from '../../shared/db/mod.ts';
import { encodeCursor } from '../../shared/db/mod.ts';
import { createEmbeddedDatabase } from '../../scripts/pglite.ts';
import { signLocalJwt } from '../../shared/http/auth.ts';
import { toApiError } from '../../shared/http/errors.ts';
import { AdvancedBackendOptimizer, Metrics } from '../../shared/optimizer/mod.ts';
import { MemoryStore } from '../../shared/store/memory.ts';
import { settleBackground } from '../../shared/runtime/background.ts';
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
  options: {
    user?: User;
    token?: string;
    body?: unknown;
    rawBody?: string;
    headers?: Record<string, string>;
  } = {},
): Promise<Response> {
  const headers: Record<string, string> = {};
  const token = options.token ?? options.user?.token;
  if (token) headers.authorization = `Bearer ${token}`;
  let body: string | undefined = options.rawBody;
  if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined) headers['content-type'] = 'application/json';
  Object.assign(headers, options.headers);
  return Promise.resolve(app.request(path, { method, headers, body }));
}

async function expectError(response: Response, status: number, code?: string): Promise<string> {
  const text = await response.text();
  assert.equal(response.status, status, `${status} expected: ${text.slice(0, 300)}`);
  assert.match(response.headers.get('content-type') ?? '', /application\/json/);
  const body = JSON.parse(text) as { error: { code: string; message: string } };
  if (code) assert.equal(body.error.code, code, body.error.message);
  assert.doesNotMatch(text, /at .*\.ts:\d+/);
  return body.error.message;
}

async function createRobot(
  app: App,
  user: User,
  input: Record<string, unknown> = {},
): Promise<Record<string, unknown> & { id: string }> {
  const response = await call(app, 'POST', '/robots', {
    user,
    body: { name: 'Falcon', strategy_type: 'breakout', ...input },
  });
  const body = await response.json();
  assert.equal(response.status, 201, JSON.stringify(body));
  return body;
}

const xCache = (response: Response) => response.headers.get('x-cache')?.split(';')[0];

/** `[[[...]]]` `depth` levels deep, as JSON text (never built as an object). */
const nestedArrayText = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
/** `{"a":{"a":...}}` `depth` levels deep, as JSON text. */
const nestedObjectText = (depth: number) =>
  '{"a":'.repeat(depth - 1) + '{}' + '}'.repeat(depth - 1);

Deno.test('robots boundary: ids, bounded input, content types, supabase-js, ETag', async (t) => {
  let db: Database | undefined;
  const optimizer = new AdvancedBackendOptimizer({
    store: new MemoryStore(),
    metrics: new Metrics(),
    metricsFlushIntervalMs: 0,
  });
  try {
    db = await createEmbeddedDatabase({ seed: false });
    const opened = db;
    const app = createRobotsApp({ db: () => Promise.resolve(opened), optimizer });
    const anonKey = await signLocalJwt({ role: 'anon' });

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

    await t.step(
      'finding 3: deep or oversized strategy_params are a 400; listing stays 200',
      async () => {
        const mallory = await newUser();
        // Warm the public listing first: a stored deep document would break its next load.
        assert.equal((await call(app, 'GET', '/robots/public')).status, 200);
        const deepBodies = [
          `{"name":"Deep","strategy_type":"grid","strategy_params":${nestedObjectText(9_000)}}`,
          `{"name":"Deep","strategy_type":"grid","strategy_params":{"a":${
            nestedArrayText(10_000)
          }}}`,
        ];
        for (const rawBody of deepBodies) {
          assert.ok(rawBody.length < 65_536);
          await expectError(await call(app, 'POST', '/robots', { user: mallory, rawBody }), 400);
        }
        const robot = await createRobot(app, mallory, { is_public: true });
        await expectError(
          await call(app, 'PATCH', `/robots/${robot.id}`, {
            user: mallory,
            rawBody: `{"strategy_params":${nestedObjectText(9_000)}}`,
          }),
          400,
        );
        // Within the body's depth bound but past the params' limits.
        const tooDeep = { a: { b: { c: { d: { e: { f: 1 } } } } } };
        const tooManyKeys = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`k${i}`, i]));
        const tooLongArray = { levels: Array.from({ length: 257 }, (_, i) => i) };
        const tooLongString = { note: 'x'.repeat(1001) };
        const tooLongKey = { ['k'.repeat(101)]: 1 };
        for (const params of [tooDeep, tooManyKeys, tooLongArray, tooLongString, tooLongKey]) {
          const message = await expectError(
            await call(app, 'POST', '/robots', {
              user: mallory,
              body: { name: 'P', strategy_type: 'grid', strategy_params: params },
            }),
            400,
            'invalid_body',
          );
          assert.match(message, /strategy_params/);
        }
        // At the limits: accepted.
        const atLimits = {
          a: { b: { c: { d: [1, 2] } } },
          levels: Array.from({ length: 256 }, (_, i) => i),
          note: 'x'.repeat(1000),
        };
        const ok = await createRobot(app, mallory, { strategy_params: atLimits, is_public: true });
        assert.deepEqual(ok.strategy_params, atLimits);

        const listing = await call(app, 'GET', '/robots/public');
        assert.equal(listing.status, 200);
        assert.equal((await call(app, 'GET', '/robots/public')).status, 200);
      },
    );

    await t.step('finding 6: impossible cursor dates are a 400', async () => {
      const id = '11111111-1111-4111-8111-111111111111';
      const issueCursor =
        'WyIyMDI2LTAyLTMwVDAwOjAwOjAwWiIsIjExMTExMTExLTExMTEtNDExMS04MTExLTExMTExMTExMTExMSJd';
      const cursors = [
        issueCursor,
        ...[
          '2026-13-01T00:00:00Z',
          '2026-01-01T25:00:00Z',
          '2026-01-01T00:60:00Z',
          '0000-01-01T00:00:00Z',
          '2025-02-29T00:00:00Z',
          '2026-04-31T00:00:00Z',
          '2026-01-00T00:00:00Z',
        ].map((createdAt) => encodeCursor({ createdAt, id })),
      ];
      const user = await newUser();
      for (const cursor of cursors) {
        for (const path of [`/robots?cursor=${cursor}`, `/robots/public?cursor=${cursor}`]) {
          await expectError(await call(app, 'GET', path, { user }), 400, 'invalid_query');
        }
      }
      // A real leap day is fine.
      const leap = encodeCursor({ createdAt: '2024-02-29T23:59:59.999999Z', id });
      assert.equal((await call(app, 'GET', `/robots/public?cursor=${leap}`)).status, 200);
    });

    await t.step('finding 6: NUL bytes anywhere are a 400, never a 500', async () => {
      const owner = await newUser();
      const other = await newUser();
      const robot = await createRobot(app, owner);
      await expectError(await call(app, 'GET', '/robots/search?q=%00%00'), 400, 'invalid_query');
      await expectError(await call(app, 'GET', '/robots/search?q=ab%00cd'), 400, 'invalid_query');
      const bodies: Record<string, unknown>[] = [
        { name: 'a\u0000b', strategy_type: 'grid' },
        { name: 'ok', description: 'a\u0000b', strategy_type: 'grid' },
        { name: 'ok', strategy_type: 'grid', strategy_params: { period: 'a\u0000b' } },
        { name: 'ok', strategy_type: 'grid', strategy_params: { ['a\u0000b']: 1 } },
        { name: 'ok', strategy_type: 'grid', strategy_params: { deep: { list: ['\u0000'] } } },
      ];
      for (const body of bodies) {
        await expectError(await call(app, 'POST', '/robots', { user: owner, body }), 400);
        const { strategy_type: _, ...patch } = body;
        await expectError(
          await call(app, 'PATCH', `/robots/${robot.id}`, { user: owner, body: patch }),
          400,
        );
        // On another user's robot: refused by validation (400) before the 404, never a 500.
        await expectError(
          await call(app, 'PATCH', `/robots/${robot.id}`, { user: other, body: patch }),
          400,
        );
      }
      await expectError(
        await call(app, 'POST', '/robots', {
          user: owner,
          rawBody: `{"name":"x","strategy_type":"grid","strategy_params":{"a":${
            nestedArrayText(15_000)
          }}}`,
        }),
        400,
      );
      // The robot is unchanged.
      const after = await (await call(app, 'GET', `/robots/${robot.id}`, { user: owner })).json();
      assert.equal(after.name, robot.name);
    });

    await t.step('finding 6: Postgres data exceptions map to 400 in the one place', async () => {
      const statements = [
        `select '2026-02-30'::timestamptz`,
        `select '{"a":"\\u0000"}'::jsonb`,
        `select 'x'::uuid`,
        `select 1/0`,
        `select 'a' || chr(0)`,
      ];
      for (const sql of statements) {
        let caught: unknown;
        try {
          await opened.query(sql);
        } catch (error) {
          caught = error;
        }
        assert.ok(caught, sql);
        const apiError = toApiError(caught);
        assert.equal(apiError.status, 400, `${sql}: ${(caught as Error).message}`);
        assert.equal(apiError.code, 'invalid_input');
      }
    });

    await t.step('finding 8: bodies that are not JSON are a 415', async () => {
      const owner = await newUser();
      const robot = await createRobot(app, owner);
      const body = JSON.stringify({ name: 'Typed', strategy_type: 'grid' });
      const refused: (string | undefined)[] = [
        'text/plain',
        'text/plain;charset=UTF-8',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        undefined,
      ];
      for (const contentType of refused) {
        for (const [method, path] of [['POST', '/robots'], ['PATCH', `/robots/${robot.id}`]]) {
          const headers: Record<string, string> = { authorization: `Bearer ${owner.token}` };
          if (contentType) headers['content-type'] = contentType;
          // A Blob body keeps fetch from adding a content type of its own.
          const response = await app.request(path, {
            method,
            headers,
            body: new Blob([body]),
          });
          await expectError(response, 415, 'unsupported_media_type');
        }
      }
      for (const contentType of ['application/json; charset=utf-8', 'application/vnd.api+json']) {
        const response = await app.request('/robots', {
          method: 'POST',
          headers: { authorization: `Bearer ${owner.token}`, 'content-type': contentType },
          body,
        });
        assert.equal(response.status, 201, contentType);
        await response.body?.cancel();
      }
    });

    await t.step('finding 8: a lone surrogate is refused on create and update alike', async () => {
      const owner = await newUser();
      const robot = await createRobot(app, owner);
      for (const text of ['a\ud800b', '\udc00', 'end\ud83d']) {
        for (const field of ['name', 'description']) {
          await expectError(
            await call(app, 'POST', '/robots', {
              user: owner,
              body: { name: 'ok', strategy_type: 'grid', [field]: text },
            }),
            400,
            'invalid_body',
          );
          await expectError(
            await call(app, 'PATCH', `/robots/${robot.id}`, {
              user: owner,
              body: { [field]: text },
            }),
            400,
            'invalid_body',
          );
        }
      }
      // A well-formed pair (an emoji) is fine on both.
      const emoji = await createRobot(app, owner, { name: 'Rocket \ud83d\ude80' });
      assert.equal(emoji.name, 'Rocket 🚀');
      const patched = await call(app, 'PATCH', `/robots/${robot.id}`, {
        user: owner,
        body: { name: 'Rocket 🚀' },
      });
      assert.equal(patched.status, 200);
      assert.equal((await patched.json()).name, 'Rocket 🚀');
    });

    await t.step(
      'issue 10: cached reads answer a strong ETag and 304 on If-None-Match',
      async () => {
        const owner = await newUser();
        const robot = await createRobot(app, owner, { is_public: true, name: 'Etagged' });
        const routes = [
          '/robots/public?limit=5',
          `/robots/${robot.id}`,
          '/robots/search?q=Etagged',
          '/robots?limit=5',
        ];
        for (const path of routes) {
          const first = await call(app, 'GET', path, { user: owner });
          assert.equal(first.status, 200, path);
          const etag = first.headers.get('etag');
          assert.match(etag ?? '', /^"[A-Za-z0-9_-]{20,}"$/, `${path}: strong ETag`);
          const text = await first.text();
          // A cache hit answers the same tag for the same body.
          const second = await call(app, 'GET', path, { user: owner });
          assert.equal(xCache(second), 'hit');
          assert.equal(second.headers.get('etag'), etag);
          assert.equal(await second.text(), text);
          // Revalidation: 304, no body, the tag and the cache headers kept.
          for (const header of [etag!, `W/${etag}`, `"other", ${etag}`, '*']) {
            const revalidated = await call(app, 'GET', path, {
              user: owner,
              headers: { 'if-none-match': header },
            });
            assert.equal(revalidated.status, 304, `${path} with ${header}`);
            assert.equal(await revalidated.text(), '');
            assert.equal(revalidated.headers.get('etag'), etag);
            assert.ok(revalidated.headers.get('x-cache'));
          }
          const stale = await call(app, 'GET', path, {
            user: owner,
            headers: { 'if-none-match': '"not-the-tag"' },
          });
          assert.equal(stale.status, 200);
          await stale.body?.cancel();
        }
        // After a change the old tag no longer matches: 200 with a new tag.
        const before = (await call(app, 'GET', `/robots/${robot.id}`, { user: owner })).headers
          .get('etag')!;
        const patch = await call(app, 'PATCH', `/robots/${robot.id}`, {
          user: owner,
          body: { name: 'Etagged again' },
        });
        assert.equal(patch.status, 200);
        assert.equal(patch.headers.get('etag'), null, 'writes carry no ETag');
        await patch.body?.cancel();
        const changed = await call(app, 'GET', `/robots/${robot.id}`, {
          user: owner,
          headers: { 'if-none-match': before },
        });
        assert.equal(changed.status, 200);
        assert.notEqual(changed.headers.get('etag'), before);
        assert.equal((await changed.json()).name, 'Etagged again');
      },
    );

    await t.step(
      'finding 9: supabase-js with functions.region works; CORS allows x-region',
      async () => {
        const owner = await newUser();
        const seen: { url: string; region: string | null }[] = [];
        // supabase-js -> the functions gateway path -> this app (the dev server strips the prefix).
        const gateway = (input: RequestInfo | URL, init?: RequestInit) => {
          const request = new Request(input, init);
          const url = new URL(request.url);
          seen.push({ url: request.url, region: request.headers.get('x-region') });
          url.pathname = url.pathname.replace(/^\/functions\/v1/, '');
          return Promise.resolve(app.fetch(new Request(url, request)));
        };
        // supabase-js 2.119 takes the region per invoke (`region`), as FunctionsClient does.
        const region = 'eu-central-1' as const;
        const options = {
          global: { fetch: gateway },
          auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
        };
        // deno-lint-ignore no-explicit-any
        const anon = createClient('http://127.0.0.1:54321', anonKey, options as any);
        const listed = await anon.functions.invoke('robots/public?limit=2', {
          method: 'GET',
          region: region as never,
        });
        assert.equal(listed.error, null, String(listed.error));
        assert.ok(Array.isArray(listed.data.items));
        assert.match(seen[0].url, /forceFunctionRegion=eu-central-1/);
        assert.equal(seen[0].region, 'eu-central-1');

        // deno-lint-ignore no-explicit-any
        const user = createClient('http://127.0.0.1:54321', anonKey, options as any);
        const created = await user.functions.invoke('robots', {
          method: 'POST',
          region: region as never,
          headers: { Authorization: `Bearer ${owner.token}` },
          body: { name: 'From supabase-js', strategy_type: 'grid', is_public: true },
        });
        assert.equal(created.error, null, String(created.error));
        assert.equal(created.data.user_id, owner.id);
        const read = await user.functions.invoke(`robots/${created.data.id.toUpperCase()}`, {
          method: 'GET',
          region: region as never,
          headers: { Authorization: `Bearer ${owner.token}` },
        });
        assert.equal(read.error, null, String(read.error));
        assert.equal(read.data.id, created.data.id);
        assert.ok(seen.every((s) => s.region === 'eu-central-1'));

        // Other gateway parameters stay refused: strict validation still holds.
        await expectError(await call(app, 'GET', '/robots/public?region=x'), 400, 'invalid_query');
        assert.equal(
          (await call(app, 'GET', `/robots/${created.data.id}?forceFunctionRegion=us-east-1`, {
            user: owner,
          })).status,
          200,
        );

        const preflight = await app.request('/robots/public', {
          method: 'OPTIONS',
          headers: {
            origin: 'http://localhost:3000',
            'access-control-request-method': 'POST',
            'access-control-request-headers': 'authorization, x-client-info, apikey, x-region',
          },
        });
        assert.equal(preflight.status, 204);
        assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /x-region/);
      },
    );
  } finally {
    await optimizer.close();
    await db?.close();
  }
});
