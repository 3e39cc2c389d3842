/**
 * The robots function's boundary (issue 8 findings 1, 3, 6, 8, 9; issue 10's ETag) through
 * `app.request` on an embedded PGlite database (`robots_boundary_support.ts`):
 * cached reads carry a strong ETag and answer `If-None-Match` with 304; supabase-js with
 * `functions: { region }` works.
 */
import assert from 'node:assert/strict';
import { createClient } from '@supabase/supabase-js';
import {
  call,
  createRobot,
  expectError,
  newUser,
  withRobotsBoundary,
  xCache,
} from './robots_boundary_support.ts';

Deno.test('robots boundary: supabase-js, ETag', async (t) => {
  await withRobotsBoundary(async ({ app, anonKey }) => {
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
  });
});
