import assert from 'node:assert/strict';
import { AuthApiError, createClient } from '@supabase/supabase-js';
import { LOCAL_PUBLISHABLE_KEY } from '../../scripts/local_keys.ts';
import { startDevServer } from '../support/dev_server.ts';

const clientOptions = {
  auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
};

Deno.test('local auth: supabase-js signs up, signs in, calls robots as the user, refreshes and signs out', async () => {
  const server = await startDevServer();
  try {
    const origin = `http://127.0.0.1:${server.port}`;
    assert.match(server.banner, /sign-in:\s+http:\/\/127\.0\.0\.1:\d+\/auth\/v1 .*never deployed/);
    assert.match(server.banner, /alice@example\.com.*quantforge-demo/);
    const supabase = createClient(origin, LOCAL_PUBLISHABLE_KEY, clientOptions);

    const email = `trader-${crypto.randomUUID()}@example.com`;
    const signUp = await supabase.auth.signUp({
      email,
      password: 'correct horse',
      options: { data: { name: 'Trader' } },
    });
    assert.equal(signUp.error, null);
    assert.equal(signUp.data.user?.email, email);
    assert.deepEqual(signUp.data.user?.user_metadata, { name: 'Trader' });
    assert.ok(signUp.data.session?.access_token);

    // The same email twice: Supabase's 422 user_already_exists.
    const again = await supabase.auth.signUp({ email, password: 'correct horse' });
    assert.ok(again.error instanceof AuthApiError);
    assert.equal(again.error.status, 422);
    assert.equal(again.error.code, 'user_already_exists');

    const wrong = await supabase.auth.signInWithPassword({ email, password: 'wrong horse' });
    assert.ok(wrong.error instanceof AuthApiError);
    assert.equal(wrong.error.status, 400);
    assert.equal(wrong.error.code, 'invalid_credentials');
    assert.equal(wrong.error.message, 'Invalid login credentials');
    assert.equal(wrong.data.session, null);

    const signIn = await supabase.auth.signInWithPassword({ email, password: 'correct horse' });
    assert.equal(signIn.error, null);
    const session = signIn.data.session!;
    assert.equal(session.token_type, 'bearer');
    assert.equal(session.expires_in, 3600);
    assert.ok(session.expires_at! > Date.now() / 1000);
    const userId = signIn.data.user!.id;
    const claims = JSON.parse(
      atob(session.access_token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')),
    );
    assert.equal(claims.sub, userId);
    assert.equal(claims.role, 'authenticated');
    assert.equal(claims.aud, 'authenticated');
    assert.equal(claims.email, email);
    assert.equal(claims.aal, 'aal1');
    assert.equal(claims.is_anonymous, false);
    assert.match(claims.session_id, /^[0-9a-f-]{36}$/);
    assert.equal(JSON.parse(atob(session.access_token.split('.')[0])).alg, 'ES256');

    // The functions take the session's token: the user creates a robot and lists it as theirs.
    const created = await supabase.functions.invoke('robots', {
      method: 'POST',
      body: { name: 'Signed-in robot', strategy_type: 'scalping', strategy_params: {} },
    });
    assert.equal(created.error, null, String(created.error));
    assert.equal(created.data.user_id, userId);
    const mine = await supabase.functions.invoke('robots', { method: 'GET' });
    assert.equal(mine.error, null, String(mine.error));
    assert.deepEqual(mine.data.items.map((r: { id: string }) => r.id), [created.data.id]);

    const user = await supabase.auth.getUser();
    assert.equal(user.error, null);
    assert.equal(user.data.user?.id, userId);

    const refreshed = await supabase.auth.refreshSession();
    assert.equal(refreshed.error, null);
    assert.notEqual(refreshed.data.session?.refresh_token, session.refresh_token);
    assert.equal(refreshed.data.user?.id, userId);
    // A refresh token works once (rotation).
    const reused = await createClient(origin, LOCAL_PUBLISHABLE_KEY, clientOptions).auth
      .refreshSession({ refresh_token: session.refresh_token });
    assert.ok(reused.error instanceof AuthApiError);
    assert.equal(reused.error.code, 'refresh_token_already_used');

    const oldToken = refreshed.data.session!.access_token;
    assert.equal((await supabase.auth.signOut()).error, null);
    // The session is gone: its access token no longer answers /user.
    const after = await fetch(`${origin}/auth/v1/user`, {
      headers: { apikey: LOCAL_PUBLISHABLE_KEY, authorization: `Bearer ${oldToken}` },
    });
    assert.equal(after.status, 403);
    assert.equal((await after.json()).error_code, 'session_not_found');
  } finally {
    await server.stop();
  }
});

Deno.test('local auth: demo users and Supabase Auth error shapes', async (t) => {
  const server = await startDevServer();
  try {
    await t.step('the seeded demo users sign in and see their seeded robots', async () => {
      const supabase = createClient(
        `http://127.0.0.1:${server.port}`,
        LOCAL_PUBLISHABLE_KEY,
        clientOptions,
      );
      const { data, error } = await supabase.auth.signInWithPassword({
        email: 'bob@example.com',
        password: 'quantforge-demo',
      });
      assert.equal(error, null);
      assert.equal(data.user?.id, '22222222-2222-4222-8222-222222222222');
      const mine = await supabase.functions.invoke('robots', { method: 'GET' });
      assert.equal(mine.error, null, String(mine.error));
      assert.deepEqual(
        mine.data.items.map((r: { id: string }) => r.id).sort(),
        ['b2b00000-0000-4000-8000-000000000001', 'b2b00000-0000-4000-8000-000000000002'],
      );
    });

    await t.step('error bodies have Supabase Auth shapes, legacy and 2024-01-01', async () => {
      const url = `http://127.0.0.1:${server.port}/auth/v1/token?grant_type=password`;
      const body = JSON.stringify({ email: 'alice@example.com', password: 'nope' });
      const headers = { apikey: LOCAL_PUBLISHABLE_KEY, 'content-type': 'application/json' };

      const legacy = await fetch(url, { method: 'POST', headers, body });
      assert.equal(legacy.status, 400);
      assert.deepEqual(await legacy.json(), {
        code: 400,
        error_code: 'invalid_credentials',
        msg: 'Invalid login credentials',
      });

      const modern = await fetch(url, {
        method: 'POST',
        headers: { ...headers, 'x-supabase-api-version': '2024-01-01' },
        body,
      });
      assert.equal(modern.status, 400);
      assert.equal(modern.headers.get('x-supabase-api-version'), '2024-01-01');
      assert.deepEqual(await modern.json(), {
        code: 'invalid_credentials',
        message: 'Invalid login credentials',
      });

      const weak = await fetch(`http://127.0.0.1:${server.port}/auth/v1/signup`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ email: 'short@example.com', password: '123' }),
      });
      assert.equal(weak.status, 422);
      const weakBody = await weak.json();
      assert.equal(weakBody.error_code, 'weak_password');
      assert.deepEqual(weakBody.weak_password, { reasons: ['length'] });

      const notJson = await fetch(url, { method: 'POST', headers, body: '{' });
      assert.equal(notJson.status, 400);
      assert.equal((await notJson.json()).error_code, 'bad_json');

      const noKey = await fetch(url, { method: 'POST', body });
      assert.equal(noKey.status, 401);
      assert.match((await noKey.json()).message, /No API key/);

      const noBearer = await fetch(`http://127.0.0.1:${server.port}/auth/v1/user`, { headers });
      assert.equal(noBearer.status, 401);
      assert.equal((await noBearer.json()).error_code, 'no_authorization');

      const badBearer = await fetch(`http://127.0.0.1:${server.port}/auth/v1/user`, {
        headers: { ...headers, authorization: 'Bearer not.a.token' },
      });
      assert.equal(badBearer.status, 403);
      assert.equal((await badBearer.json()).error_code, 'bad_jwt');

      const unknownGrant = await fetch(url.replace('password', 'pkce'), {
        method: 'POST',
        headers,
        body,
      });
      assert.equal(unknownGrant.status, 400);
      await unknownGrant.body?.cancel();

      // The JWKS route still answers (it is not swallowed by the auth routes).
      const jwks = await fetch(`http://127.0.0.1:${server.port}/auth/v1/.well-known/jwks.json`);
      assert.equal(jwks.status, 200);
      assert.equal((await jwks.json()).keys[0].alg, 'ES256');
    });
  } finally {
    await server.stop();
  }
});
