/**
 * The new keys end to end: supabase-js created with the local publishable key calls the
 * functions the dev server serves (user tokens signed with the local ES256 key, verified through
 * the JWKS); the cron jobs' SQL sends the secret key from Vault and that request passes a
 * `secret` route.
 */
import assert from 'node:assert/strict';
import postgres from 'postgres';
import { createClient, FunctionsHttpError } from '@supabase/supabase-js';
import { createFunctionApp } from '../../shared/http/app.ts';
import type { BaseVariables } from '../../shared/http/app.ts';
import { authenticate, type AuthVariables } from '../../shared/http/auth.ts';
import {
  LOCAL_PUBLISHABLE_KEY,
  LOCAL_SECRET_KEY,
  localJwks,
  signLocalUserToken,
} from '../../scripts/local_keys.ts';
import { startDevServer } from '../support/dev_server.ts';
import { databaseUrl } from '../support/services.ts';

Deno.test('supabase-js with the publishable key calls every function of the dev server; user tokens verify through the local JWKS', async () => {
  const server = await startDevServer();
  try {
    assert.match(server.banner, new RegExp(`publishable key:\\s+${LOCAL_PUBLISHABLE_KEY}`));
    assert.match(server.banner, new RegExp(`secret key:\\s+${LOCAL_SECRET_KEY}`));
    const origin = new URL(server.base).origin;
    const jwks = await (await fetch(`${origin}/auth/v1/.well-known/jwks.json`)).json();
    assert.deepEqual(jwks, await localJwks(), 'the dev server serves the checkout key');
    assert.equal(jwks.keys[0].alg, 'ES256');
    assert.equal(jwks.keys[0].d, undefined, 'no private part in the JWKS');

    const anonymous = createClient(origin, LOCAL_PUBLISHABLE_KEY);
    const health = await anonymous.functions.invoke('health', { method: 'GET' });
    assert.equal(health.error, null, String(health.error));
    assert.equal(health.data.status, 'ok');
    const publicRobots = await anonymous.functions.invoke('robots/public?limit=2', {
      method: 'GET',
    });
    assert.equal(publicRobots.error, null, String(publicRobots.error));
    assert.ok(Array.isArray(publicRobots.data.items));
    const mine = await anonymous.functions.invoke('robots', { method: 'GET' });
    assert.ok(mine.error instanceof FunctionsHttpError);
    assert.equal(mine.error.context.status, 401, 'own robots need a user');
    await mine.error.context.body?.cancel();

    const userId = crypto.randomUUID();
    const token = await signLocalUserToken({ sub: userId, email: 'trader@example.com' });
    const user = createClient(origin, LOCAL_PUBLISHABLE_KEY, {
      accessToken: () => Promise.resolve(token),
    });
    const created = await user.functions.invoke('robots', {
      method: 'POST',
      body: { name: 'Keys robot', strategy_type: 'grid' },
    });
    assert.equal(created.error, null, String(created.error));
    const listed = await user.functions.invoke('robots', { method: 'GET' });
    assert.equal(listed.error, null, String(listed.error));
    assert.deepEqual(listed.data.items.map((r: { name: string }) => r.name), ['Keys robot']);

    const strategies = await user.functions.invoke('strategies', {
      method: 'POST',
      body: { name: 'Keys strategy', strategy_type: 'grid' },
    });
    assert.equal(strategies.error, null, String(strategies.error));
    const publicStrategies = await anonymous.functions.invoke('strategies/public?limit=2', {
      method: 'GET',
    });
    assert.equal(publicStrategies.error, null, String(publicStrategies.error));

    // Service functions: the publishable key (and a user) is refused; a secret key reaches them.
    const service = createClient(origin, LOCAL_SECRET_KEY);
    for (const [name, method] of [['optimizer/status', 'GET'], ['warmup', 'POST']] as const) {
      for (const client of [anonymous, user]) {
        const denied = await client.functions.invoke(name, { method });
        assert.ok(denied.error instanceof FunctionsHttpError, name);
        assert.ok([401, 403].includes(denied.error.context.status), `${name}: refused`);
        await denied.error.context.body?.cancel();
      }
      const allowed = await service.functions.invoke(name, { method });
      assert.equal(allowed.error, null, `${name}: ${allowed.error}`);
    }

    const wrongKey = createClient(origin, 'sb_publishable_not_this_project_0000000000');
    const refused = await wrongKey.functions.invoke('robots/public', { method: 'GET' });
    assert.ok(refused.error instanceof FunctionsHttpError);
    assert.equal(refused.error.context.status, 401);
    const body = await refused.error.context.json();
    assert.equal(body.error.code, 'invalid_api_key');
    assert.ok(!JSON.stringify(body).includes('not_this_project'));
  } finally {
    await server.stop();
  }
});

/** Runs each cron job's SQL with Vault and pg_net stand-ins in a rolled-back transaction. */
async function cronRequests(secrets: Record<string, string>) {
  const sql = postgres(databaseUrl(), { max: 1, onnotice: () => {} });
  const captured: { url: string; headers: Record<string, string>; body: unknown }[] = [];
  try {
    await sql.begin(async (tx) => {
      await tx.unsafe(`
        create schema vault;
        create table vault.decrypted_secrets (name text primary key, decrypted_secret text);
        create schema net;
        create table net.captured (url text, headers jsonb, body jsonb);
        create function net.http_post(url text, headers jsonb, body jsonb, timeout_milliseconds integer)
          returns bigint language sql as
          'insert into net.captured values (url, headers, body) returning 1::bigint';
      `);
      for (const [name, value] of Object.entries(secrets)) {
        await tx`insert into vault.decrypted_secrets values (${name}, ${value})`;
      }
      const jobs = await tx<{ job_name: string; path: string }[]>`
        select job_name, path from public.optimizer_cron_jobs()`;
      assert.deepEqual(jobs.map((j) => j.path), [
        '/functions/v1/warmup',
        '/functions/v1/optimizer/run',
      ]);
      for (const job of jobs) {
        const [{ command }] = await tx<{ command: string }[]>`
          select public.optimizer_cron_command(${job.path}, ${job.job_name}) as command`;
        await tx.unsafe(command);
      }
      captured.push(...await tx<typeof captured>`select url, headers, body from net.captured`);
      throw new Error('rollback');
    }).catch((error) => {
      if (error.message !== 'rollback') throw error;
    });
  } finally {
    await sql.end({ timeout: 5 });
  }
  return captured;
}

function serviceApp() {
  const app = createFunctionApp<{ Variables: BaseVariables & AuthVariables }>('optimizer');
  const env = (name: string) =>
    ({
      SUPABASE_URL: 'https://abcdefghijklmnop.supabase.co',
      SUPABASE_SECRET_KEYS: JSON.stringify({ default: LOCAL_SECRET_KEY }),
      SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: LOCAL_PUBLISHABLE_KEY }),
      CRON_SECRET: 'legacy-cron-secret-0123456789',
    } as Record<string, string>)[name];
  app.post('/run', authenticate({ env, auth: 'secret' }), (c) => c.json(c.get('auth')));
  return app;
}

Deno.test('cron: the jobs send the secret key from Vault, and that request passes a secret route', async () => {
  const requests = await cronRequests({
    project_url: 'https://abcdefghijklmnop.supabase.co',
    secret_key: LOCAL_SECRET_KEY,
    cron_secret: 'legacy-cron-secret-0123456789',
  });
  assert.deepEqual(requests.map((r) => r.url), [
    'https://abcdefghijklmnop.supabase.co/functions/v1/warmup',
    'https://abcdefghijklmnop.supabase.co/functions/v1/optimizer/run',
  ]);
  const [, run] = requests;
  assert.equal(run.headers.apikey, LOCAL_SECRET_KEY);
  assert.equal(run.headers.Authorization, `Bearer ${LOCAL_SECRET_KEY}`);
  assert.equal(run.headers['x-cron-secret'], undefined, 'the legacy secret only without a key');
  const app = serviceApp();
  const res = await app.request('/optimizer/run', {
    method: 'POST',
    headers: { ...run.headers, 'user-agent': 'pg_net/0.19.5' },
    body: JSON.stringify(run.body),
  });
  assert.equal(res.status, 200);
  const auth = await res.json();
  assert.equal(auth.authMode, 'secret');
  assert.equal(auth.keyType, 'secret');

  const publishable = await app.request('/optimizer/run', {
    method: 'POST',
    headers: { apikey: LOCAL_PUBLISHABLE_KEY, 'content-type': 'application/json' },
    body: '{}',
  });
  assert.equal(publishable.status, 403, 'a publishable key does not reach a secret route');
  await publishable.body?.cancel();
});

Deno.test('cron: before the secret key is in Vault, the jobs send the legacy x-cron-secret', async () => {
  const requests = await cronRequests({
    project_url: 'https://abcdefghijklmnop.supabase.co',
    cron_secret: 'legacy-cron-secret-0123456789',
  });
  const [warmup] = requests;
  assert.equal(warmup.headers.apikey, undefined);
  assert.equal(warmup.headers.Authorization, undefined);
  assert.equal(warmup.headers['x-cron-secret'], 'legacy-cron-secret-0123456789');
  const res = await serviceApp().request('/optimizer/run', {
    method: 'POST',
    headers: warmup.headers,
  });
  assert.equal(res.status, 200);
  assert.equal((await res.json()).keyType, 'cron_secret');
});
