/**
 * The `strategies` edge function end to end: supabase-js `functions.invoke` through the dev server
 * on the real PostgreSQL 15 and the real Redis behind the Upstash REST bridge.
 */
import assert from 'node:assert/strict';
import { createClient, FunctionsHttpError, type SupabaseClient } from '@supabase/supabase-js';
import { startDevServer } from '../support/dev_server.ts';
import { databaseUrl, upstashBridge } from '../support/services.ts';
import { newUser } from '../support/strategies_fixture.ts';

/** A supabase-js client of the dev server, as a signed-in user or with the anon key only. */
function client(origin: string, anonKey: string, userToken?: string): SupabaseClient {
  return createClient(origin, anonKey, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    global: { headers: userToken ? { Authorization: `Bearer ${userToken}` } : {} },
  });
}

/** The status and error code of a failed `functions.invoke`. */
async function invokeError(error: unknown): Promise<{ status: number; code: string }> {
  assert.ok(error instanceof FunctionsHttpError, `expected an HTTP error: ${error}`);
  const response = error.context as Response;
  const body = await response.json();
  return { status: response.status, code: body.error.code };
}

Deno.test('strategies e2e: supabase-js functions.invoke through the dev server (Postgres, Redis)', async () => {
  const { url, token } = upstashBridge();
  const server = await startDevServer({
    SUPABASE_DB_URL: databaseUrl(),
    UPSTASH_REDIS_REST_URL: url,
    UPSTASH_REDIS_REST_TOKEN: token,
    UPSTASH_TIMEOUT_MS: '2000',
  });
  try {
    assert.match(server.banner, /\/functions\/v1\/strategies/);
    const origin = server.base.replace(/\/functions\/v1$/, '');
    const anonKey = /anon key:\s+(\S+)/.exec(server.banner)![1];
    const alice = await newUser();
    const bob = await newUser();
    const asAlice = client(origin, anonKey, alice.token);
    const asBob = client(origin, anonKey, bob.token);
    const asAnon = client(origin, anonKey);

    // Create, read (any id spelling), list, update.
    const created = await asAlice.functions.invoke('strategies', {
      method: 'POST',
      body: { name: 'E2E grid', strategy_type: 'grid', parameters: { step: 0.5 } },
    });
    assert.equal(created.error, null, String(created.error));
    const strategy = created.data as { id: string; user_id: string; is_public: boolean };
    assert.equal(strategy.user_id, alice.id);
    assert.equal(strategy.is_public, false);
    const read = await asAlice.functions.invoke(`strategies/${strategy.id.toUpperCase()}`, {
      method: 'GET',
    });
    assert.equal(read.error, null);
    assert.equal(read.data.id, strategy.id);
    const own = await asAlice.functions.invoke('strategies?total=exact', { method: 'GET' });
    assert.deepEqual(own.data.items.map((s: { id: string }) => s.id), [strategy.id]);
    assert.equal(own.data.total, 1);
    const renamed = await asAlice.functions.invoke(`strategies/${strategy.id}`, {
      method: 'PATCH',
      body: { name: 'E2E grid v2' },
    });
    assert.equal(renamed.data.name, 'E2E grid v2');

    // Private: Bob and anon get 404 for every spelling; Bob's own list is empty.
    for (const id of [strategy.id, strategy.id.toUpperCase()]) {
      for (const other of [asBob, asAnon]) {
        const denied = await other.functions.invoke(`strategies/${id}`, { method: 'GET' });
        assert.deepEqual(await invokeError(denied.error), { status: 404, code: 'not_found' });
      }
    }
    const bobs = await asBob.functions.invoke('strategies', { method: 'GET' });
    assert.deepEqual(bobs.data.items, []);

    // Published: anon finds it in the public listing and by search; private again: 404 at once.
    await asAlice.functions.invoke(`strategies/${strategy.id}`, {
      method: 'PATCH',
      body: { is_public: true },
    });
    const listed = await asAnon.functions.invoke('strategies/public?limit=100&fields=id', {
      method: 'GET',
    });
    assert.ok(listed.data.items.some((s: { id: string }) => s.id === strategy.id));
    const found = await asBob.functions.invoke('strategies/search?q=E2E%20grid', {
      method: 'GET',
    });
    assert.ok(found.data.items.some((s: { id: string }) => s.id === strategy.id));
    assert.equal(
      (await asBob.functions.invoke(`strategies/${strategy.id}`, { method: 'GET' })).error,
      null,
    );
    await asAlice.functions.invoke(`strategies/${strategy.id}`, {
      method: 'PATCH',
      body: { is_public: false },
    });
    for (const other of [asBob, asAnon]) {
      const denied = await other.functions.invoke(`strategies/${strategy.id}`, { method: 'GET' });
      assert.deepEqual(await invokeError(denied.error), { status: 404, code: 'not_found' });
    }

    // ETag over plain HTTP: 304 while unchanged.
    const detailUrl = `${server.base}/strategies/${strategy.id}`;
    const headers = { authorization: `Bearer ${alice.token}`, apikey: anonKey };
    const first = await fetch(detailUrl, { headers });
    const etag = first.headers.get('etag')!;
    await first.body?.cancel();
    const notModified = await fetch(detailUrl, { headers: { ...headers, 'if-none-match': etag } });
    assert.equal(notModified.status, 304);
    await notModified.body?.cancel();

    // Bad input: JSON 4xx with a code.
    const bad = await asAlice.functions.invoke('strategies', {
      method: 'POST',
      body: { name: '', strategy_type: 'grid' },
    });
    assert.deepEqual(await invokeError(bad.error), { status: 400, code: 'invalid_body' });
    const anonymousWrite = await asAnon.functions.invoke('strategies', {
      method: 'POST',
      body: { name: 'X', strategy_type: 'grid' },
    });
    assert.deepEqual(await invokeError(anonymousWrite.error), {
      status: 401,
      code: 'login_required',
    });

    // Delete: 204, then 404 for its owner too.
    const deleted = await asAlice.functions.invoke(`strategies/${strategy.id}`, {
      method: 'DELETE',
    });
    assert.equal(deleted.error, null);
    const after = await asAlice.functions.invoke(`strategies/${strategy.id}`, { method: 'GET' });
    assert.deepEqual(await invokeError(after.error), { status: 404, code: 'not_found' });
  } finally {
    assert.equal(await server.stop(), 0);
  }
});
