/**
 * The robots function's boundary (issue 8 findings 1, 3, 6, 8, 9; issue 10's ETag) through
 * `app.request` on an embedded PGlite database (`robots_boundary_support.ts`):
 * user JSON is bounded (depth, keys, sizes), NUL and lone surrogates are refused, impossible
 * cursor dates are a 400, Postgres data exceptions are a 400: never a 500; bodies must be JSON
 * (415 otherwise).
 */
import assert from 'node:assert/strict';
import { encodeCursor } from '../../shared/db/mod.ts';
import { toApiError } from '../../shared/http/errors.ts';
import {
  call,
  createRobot,
  expectError,
  nestedArrayText,
  nestedObjectText,
  newUser,
  withRobotsBoundary,
} from './robots_boundary_support.ts';

Deno.test('robots boundary: bounded input, content types', async (t) => {
  await withRobotsBoundary(async ({ app, opened }) => {
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
  });
});
