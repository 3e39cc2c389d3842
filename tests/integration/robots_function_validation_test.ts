/**
 * The `robots` edge function end to end through `app.request` on an embedded PGlite database
 * (`robots_function_support.ts`); each step uses fresh user ids:
 * bad input is a 400 with a code, never a 500; own reads and writes need a signed-in user.
 */
import assert from 'node:assert/strict';
import { signLocalJwt } from '../../shared/http/auth.ts';
import {
  call,
  createRobot,
  expectError,
  json,
  newUser,
  withRobotsApp,
} from './robots_function_support.ts';

Deno.test('robots function on PGlite with a memory-store optimizer: validation and auth', async (t) => {
  await withRobotsApp(async ({ app }) => {
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
  });
});
