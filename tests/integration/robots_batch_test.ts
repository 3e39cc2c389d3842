/**
 * `POST /robots/batch` on the real PostgreSQL 15 (migrations and RLS applied by the test runner)
 * and the real Redis behind the Upstash REST bridge: one transaction for the whole batch, bounds
 * (413 past 100 robots or the body limit), per-item validation naming the index, and one outbox
 * row whose tags drop the cached listings. Then the same through supabase-js `functions.invoke`
 * against the dev server.
 */
import assert from 'node:assert/strict';
import { createPostgresDatabase } from '../../shared/db/postgres.ts';
import { signLocalJwt } from '../../shared/http/auth.ts';
import {
  AdvancedBackendOptimizer,
  Metrics,
  parseOptimizationConfig,
} from '../../shared/optimizer/mod.ts';
import { settleBackground } from '../../shared/runtime/background.ts';
import { UpstashStore } from '../../shared/store/upstash.ts';
import {
  createRobotsApp,
  MAX_BATCH_ROBOTS,
  PUBLIC_ROBOTS_TAG,
  userRobotsTag,
} from '../../supabase/functions/robots/app.ts';
import { createClient, FunctionsHttpError } from '@supabase/supabase-js';
import { startDevServer } from '../support/dev_server.ts';
import { databaseUrl, upstashBridge } from '../support/services.ts';

interface User {
  id: string;
  token: string;
}

async function newUser(): Promise<User> {
  const id = crypto.randomUUID();
  return { id, token: await signLocalJwt({ role: 'authenticated', sub: id }) };
}

type App = ReturnType<typeof createRobotsApp>;

async function call(
  app: App,
  method: string,
  path: string,
  options: { user?: User; body?: unknown; rawBody?: string } = {},
): Promise<Response> {
  const headers: Record<string, string> = {};
  if (options.user) headers.authorization = `Bearer ${options.user.token}`;
  let body: string | undefined = options.rawBody;
  if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await app.request(path, { method, headers, body });
  await settleBackground();
  return response;
}

async function expectError(response: Response, status: number, code: string): Promise<string> {
  const body = await response.json() as { error: { code: string; message: string } };
  assert.equal(response.status, status, JSON.stringify(body));
  assert.equal(body.error.code, code, body.error.message);
  return body.error.message;
}

const robot = (i: number, extra: Record<string, unknown> = {}) => ({
  name: `Batch ${i}`,
  strategy_type: 'grid',
  strategy_params: { step: i },
  ...extra,
});

const xCacheStatus = (response: Response) => response.headers.get('x-cache')?.split(';')[0];

Deno.test('POST /robots/batch on PostgreSQL and Redis', async (t) => {
  const db = createPostgresDatabase(databaseUrl());
  const { url, token } = upstashBridge();
  const store = new UpstashStore({ url, token, timeoutMs: 2_000 });
  const optimizer = new AdvancedBackendOptimizer({
    store,
    metrics: new Metrics(),
    metricsFlushIntervalMs: 0,
    config: parseOptimizationConfig({
      cache: {
        keyPrefix: `qf:test:${crypto.randomUUID()}:`,
        storeTimeoutMs: 2_000,
        popularityFlushMs: 0,
        memoryStalenessMs: 0,
      },
    }),
  });
  // Every invalidation the writes ask for, with whether an outbox row backs it.
  const invalidations: { tags: string[]; outboxId?: string }[] = [];
  const invalidateTags = optimizer.invalidateTags.bind(optimizer);
  optimizer.invalidateTags = (tags, options = {}) => {
    invalidations.push({ tags: [...tags], outboxId: options.outboxId });
    return invalidateTags(tags, options);
  };
  const app = createRobotsApp({
    db: () => Promise.resolve(db),
    optimizer,
    maxBatchBodyBytes: 200_000,
  });
  const ownCount = async (user: User) => {
    const response = await call(app, 'GET', '/robots?total=exact', { user });
    return (await response.json() as { total: number }).total;
  };
  try {
    await t.step(
      'creates every robot in one call, in order; one outbox row drops the listings',
      async () => {
        const alice = await newUser();
        // Cache both listings first: the batch must drop them.
        const before = await call(app, 'GET', '/robots', { user: alice });
        assert.equal(xCacheStatus(before), 'miss');
        await before.body?.cancel();
        const cachedPublic = await call(app, 'GET', '/robots/public?limit=100');
        await cachedPublic.body?.cancel();
        assert.equal(xCacheStatus(await call(app, 'GET', '/robots', { user: alice })), 'hit');

        invalidations.length = 0;
        const response = await call(app, 'POST', '/robots/batch', {
          user: alice,
          body: { robots: [robot(1), robot(2, { is_public: true }), robot(3)] },
        });
        const body = await response.json() as {
          count: number;
          items: { id: string; name: string; user_id: string; is_public: boolean }[];
        };
        assert.equal(response.status, 201, JSON.stringify(body));
        assert.equal(response.headers.get('location'), null);
        assert.equal(body.count, 3);
        assert.deepEqual(body.items.map((r) => r.name), ['Batch 1', 'Batch 2', 'Batch 3']);
        assert.ok(body.items.every((r) => r.user_id === alice.id && /^[0-9a-f-]{36}$/.test(r.id)));

        // One invalidation for the batch, recorded in the outbox (an id), of the own and public tags.
        assert.equal(invalidations.length, 1);
        assert.deepEqual(
          invalidations[0].tags.sort(),
          [PUBLIC_ROBOTS_TAG, userRobotsTag(alice.id)].sort(),
        );
        assert.ok(invalidations[0].outboxId, 'the tags were written to the outbox with the rows');
        // The store confirmed: the outbox row is gone.
        const left = await db.query<{ n: number }>(
          'select count(*)::int as n from public.cache_invalidation_outbox where id = $1',
          [invalidations[0].outboxId],
        );
        assert.equal(left[0].n, 0);

        const after = await call(app, 'GET', '/robots?total=exact', { user: alice });
        assert.equal(xCacheStatus(after), 'miss', 'the own listing was invalidated');
        const page = await after.json() as { items: { id: string }[]; total: number };
        assert.equal(page.total, 3);
        assert.deepEqual(
          page.items.map((r) => r.id).sort(),
          body.items.map((r) => r.id).sort(),
        );
        const pub = await call(app, 'GET', '/robots/public?limit=100');
        assert.equal(xCacheStatus(pub), 'miss', 'the public listing was invalidated');
        const publicIds = (await pub.json() as { items: { id: string }[] }).items.map((r) => r.id);
        assert.ok(publicIds.includes(body.items[1].id));
        assert.ok(!publicIds.includes(body.items[0].id));
      },
    );

    await t.step(
      'all or nothing: a bad reference in one item rolls the whole batch back',
      async () => {
        const alice = await newUser();
        invalidations.length = 0;
        await expectError(
          await call(app, 'POST', '/robots/batch', {
            user: alice,
            body: { robots: [robot(1), robot(2, { strategy_id: crypto.randomUUID() }), robot(3)] },
          }),
          400,
          'invalid_reference',
        );
        assert.equal(await ownCount(alice), 0);
        assert.deepEqual(invalidations, [], 'nothing committed, nothing to invalidate');
      },
    );

    await t.step(
      `bounds: more than ${MAX_BATCH_ROBOTS} robots or a body too large is a 413`,
      async () => {
        const alice = await newUser();
        const many = Array.from({ length: MAX_BATCH_ROBOTS + 1 }, (_, i) => robot(i));
        const message = await expectError(
          await call(app, 'POST', '/robots/batch', { user: alice, body: { robots: many } }),
          413,
          'payload_too_large',
        );
        assert.match(message, /at most 100 robots: received 101/);
        // Exactly 100 is fine.
        const hundred = await call(app, 'POST', '/robots/batch', {
          user: alice,
          body: { robots: many.slice(0, MAX_BATCH_ROBOTS) },
        });
        assert.equal(hundred.status, 201);
        assert.equal((await hundred.json() as { count: number }).count, 100);
        assert.equal(await ownCount(alice), 100);
        // Past the batch body limit (200,000 bytes here).
        const big = { robots: [robot(0, { description: 'x'.repeat(1900) })] };
        const huge = JSON.stringify({ robots: Array(110).fill(big.robots[0]) });
        assert.ok(huge.length > 200_000);
        await expectError(
          await call(app, 'POST', '/robots/batch', { user: alice, rawBody: huge }),
          413,
          'payload_too_large',
        );
        assert.equal(await ownCount(alice), 100);
      },
    );

    await t.step('each item is validated as POST /robots; the error names its index', async () => {
      const alice = await newUser();
      const response = await call(app, 'POST', '/robots/batch', {
        user: alice,
        body: { robots: [robot(0), robot(1), { name: 'No type' }] },
      });
      const body = await response.json() as {
        error: { code: string; message: string; details: { index: number; path: unknown[] }[] };
      };
      assert.equal(response.status, 400);
      assert.equal(body.error.code, 'invalid_body');
      assert.match(body.error.message, /robots\[2\].*strategy_type/);
      assert.equal(body.error.details[0].index, 2);
      assert.deepEqual(body.error.details[0].path, ['robots', 2, 'strategy_type']);
      // Owner and id are the server's, unknown fields refused, params bounded.
      for (
        const bad of [
          { user_id: crypto.randomUUID() },
          { id: crypto.randomUUID() },
          { colour: 'red' },
          { strategy_params: { deep: { a: { b: { c: { d: { e: 1 } } } } } } },
        ]
      ) {
        await expectError(
          await call(app, 'POST', '/robots/batch', {
            user: alice,
            body: { robots: [robot(0), robot(1, bad)] },
          }),
          400,
          'invalid_body',
        );
      }
      for (const body of [{ robots: [] }, { robots: 'x' }, {}, { robots: [robot(0)], more: 1 }]) {
        await expectError(
          await call(app, 'POST', '/robots/batch', { user: alice, body }),
          400,
          'invalid_body',
        );
      }
      await expectError(
        await call(app, 'POST', '/robots/batch', { user: alice, rawBody: '{"robots": [' }),
        400,
        'invalid_json',
      );
      assert.equal(await ownCount(alice), 0);
    });

    await t.step('anonymous callers cannot create', async () => {
      const response = await call(app, 'POST', '/robots/batch', { body: { robots: [robot(0)] } });
      assert.equal(response.status, 401);
      await response.body?.cancel();
    });
  } finally {
    await settleBackground();
    await optimizer.close();
    await db.close();
  }
});

Deno.test('robots batch e2e: supabase-js functions.invoke through the dev server', async () => {
  const { url, token } = upstashBridge();
  const server = await startDevServer({
    SUPABASE_DB_URL: databaseUrl(),
    UPSTASH_REDIS_REST_URL: url,
    UPSTASH_REDIS_REST_TOKEN: token,
    UPSTASH_TIMEOUT_MS: '2000',
  });
  try {
    const origin = server.base.replace(/\/functions\/v1$/, '');
    const anonKey = /anon key:\s+(\S+)/.exec(server.banner)![1];
    const alice = await newUser();
    const asAlice = createClient(origin, anonKey, {
      auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
      global: { headers: { Authorization: `Bearer ${alice.token}` } },
    });
    const created = await asAlice.functions.invoke('robots/batch', {
      method: 'POST',
      body: { robots: [robot(1), robot(2, { is_public: true })] },
    });
    assert.equal(created.error, null, String(created.error));
    assert.equal(created.data.count, 2);
    const own = await asAlice.functions.invoke('robots?total=exact', { method: 'GET' });
    assert.equal(own.data.total, 2);

    const tooMany = await asAlice.functions.invoke('robots/batch', {
      method: 'POST',
      body: { robots: Array.from({ length: 101 }, (_, i) => robot(i)) },
    });
    assert.ok(tooMany.error instanceof FunctionsHttpError);
    const response = tooMany.error.context as Response;
    assert.equal(response.status, 413);
    assert.equal((await response.json()).error.code, 'payload_too_large');
  } finally {
    assert.equal(await server.stop(), 0);
  }
});
