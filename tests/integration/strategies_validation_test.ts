/**
 * The `strategies` edge function through `app.request` on the real PostgreSQL 15 and the real Redis
 * behind the Upstash REST bridge, two isolates (`tests/support/strategies_fixture.ts`): bad input is a JSON 4xx with a code; own reads and writes need a signed-in user.
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
} from '../support/strategies_fixture.ts';

Deno.test('strategies function on PostgreSQL and Redis (two isolates): validation and auth', async (t) => {
  await withTwoIsolates(async ({ appA }) => {
    await t.step('bad input is a JSON 4xx with a code, never a 500', async () => {
      const hank = await newUser();
      const strategy = await createStrategy(appA, hank);
      const deep = JSON.stringify({
        name: 'X',
        strategy_type: 'grid',
        parameters: JSON.parse('{"a":'.repeat(40) + '1' + '}'.repeat(40)),
      });
      const cases: [string, string, { body?: unknown; rawBody?: string }, string][] = [
        ['GET', '/strategies?limit=0', {}, 'invalid_query'],
        ['GET', '/strategies?limit=abc', {}, 'invalid_query'],
        ['GET', '/strategies?limit=101', {}, 'invalid_query'],
        ['GET', '/strategies?cursor=garbage', {}, 'invalid_query'],
        ['GET', '/strategies?fields=id,password', {}, 'invalid_query'],
        ['GET', '/strategies?strategy_type=astrology', {}, 'invalid_query'],
        ['GET', '/strategies?total=maybe', {}, 'invalid_query'],
        ['GET', '/strategies?sort=name', {}, 'invalid_query'],
        ['GET', '/strategies?limit=1&limit=2', {}, 'invalid_query'],
        ['GET', '/strategies/public?limit=-1', {}, 'invalid_query'],
        ['GET', `/strategies/search?q=${encodeURIComponent('ab\u0000')}`, {}, 'invalid_query'],
        ['GET', `/strategies/search?q=${'x'.repeat(101)}`, {}, 'invalid_query'],
        ['GET', '/strategies/not-a-uuid', {}, 'invalid_id'],
        ['GET', `/strategies/${strategy.id}?fields=secret`, {}, 'invalid_query'],
        ['POST', '/strategies', { rawBody: '{"name": ' }, 'invalid_json'],
        ['POST', '/strategies', { rawBody: '' }, 'invalid_json'],
        ['POST', '/strategies', { body: [1, 2] }, 'invalid_body'],
        ['POST', '/strategies', { rawBody: deep }, 'invalid_body'],
        ['POST', '/strategies', { body: { strategy_type: 'grid' } }, 'invalid_body'],
        ['POST', '/strategies', { body: { name: 'X', strategy_type: 'astro' } }, 'invalid_body'],
        ['POST', '/strategies', { body: { name: ' ', strategy_type: 'grid' } }, 'invalid_body'],
        ['POST', '/strategies', {
          body: { name: 'X', strategy_type: 'grid', color: 1 },
        }, 'invalid_body'],
        ['POST', '/strategies', {
          body: { name: 'X', strategy_type: 'grid', user_id: crypto.randomUUID() },
        }, 'invalid_body'],
        ['POST', '/strategies', {
          body: { name: 'X', strategy_type: 'grid', id: crypto.randomUUID() },
        }, 'invalid_body'],
        ['POST', '/strategies', {
          body: { name: 'a\u0000b', strategy_type: 'grid' },
        }, 'invalid_body'],
        ['POST', '/strategies', {
          rawBody: '{"name":"\\ud800","strategy_type":"grid"}',
        }, 'invalid_body'],
        ['POST', '/strategies', {
          body: { name: 'X', strategy_type: 'grid', parameters: [1] },
        }, 'invalid_body'],
        ['POST', '/strategies', {
          body: { name: 'X', strategy_type: 'grid', parameters: { k: 'v\u0000' } },
        }, 'invalid_body'],
        ['POST', '/strategies', {
          body: {
            name: 'X',
            strategy_type: 'grid',
            parameters: Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`k${i}`, i])),
          },
        }, 'invalid_body'],
        ['PATCH', `/strategies/${strategy.id}`, { body: {} }, 'invalid_body'],
        ['PATCH', `/strategies/${strategy.id}`, { body: { user_id: hank.id } }, 'invalid_body'],
        ['PATCH', `/strategies/${strategy.id}`, { body: { is_public: 'yes' } }, 'invalid_body'],
        ['PATCH', '/strategies/123', { body: { name: 'X' } }, 'invalid_id'],
        ['DELETE', '/strategies/123', {}, 'invalid_id'],
      ];
      for (const [method, path, options, code] of cases) {
        const response = await call(appA, method, path, { user: hank, ...options });
        const body = await json<{ error: { code: string; message: string } }>(response);
        assert.equal(response.status, 400, `${method} ${path}: ${JSON.stringify(body)}`);
        assert.equal(body.error.code, code, `${method} ${path}: ${body.error.message}`);
        assert.ok(body.error.message.length > 0);
      }
      await expectError(
        await call(appA, 'POST', '/strategies', {
          user: hank,
          rawBody: '{"name":"X","strategy_type":"grid"}',
          headers: { 'content-type': 'text/plain' },
        }),
        415,
        'unsupported_media_type',
      );
      await expectError(
        await call(appA, 'POST', '/strategies', {
          user: hank,
          body: { name: 'X', strategy_type: 'grid', description: 'x'.repeat(70_000) },
        }),
        413,
        'payload_too_large',
      );
    });

    await t.step('auth: own list and writes need a signed-in user', async () => {
      const anonKey = await signLocalJwt({ role: 'anon' });
      await expectError(await call(appA, 'GET', '/strategies'), 401, 'login_required');
      await expectError(
        await call(appA, 'GET', '/strategies', { token: anonKey }),
        401,
        'login_required',
      );
      await expectError(
        await call(appA, 'POST', '/strategies', {
          token: anonKey,
          body: { name: 'X', strategy_type: 'grid' },
        }),
        401,
        'login_required',
      );
      await expectError(
        await call(appA, 'GET', '/strategies', { token: 'not.a.jwt' }),
        401,
        'invalid_jwt',
      );
      const forged = await signLocalJwt(
        { role: 'authenticated', sub: crypto.randomUUID() },
        'another-secret-that-is-at-least-32-characters',
      );
      await expectError(
        await call(appA, 'GET', '/strategies/public', { token: forged }),
        401,
        'invalid_jwt',
      );
    });
  });
});
