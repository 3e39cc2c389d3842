/**
 * The `strategies` edge function through `app.request` on the real PostgreSQL 15 (migrations and
 * RLS applied by the test runner) and the real Redis behind the Upstash REST bridge. Two apps,
 * each with its own optimizer over the same store and key prefix, stand for two isolates: what
 * one caches, the other reads from Redis. Every step uses fresh user ids.
 */
import assert from 'node:assert/strict';
import { createPostgresDatabase } from '../../shared/db/postgres.ts';
import {
  decodeCursor,
  encodeCursor,
  SERVICE_CALLER,
  StrategiesRepository,
  type StrategyWrite,
} from '../../shared/db/mod.ts';
import { signLocalJwt } from '../../shared/http/auth.ts';
import {
  AdvancedBackendOptimizer,
  Metrics,
  parseOptimizationConfig,
} from '../../shared/optimizer/mod.ts';
import { settleBackground } from '../../shared/runtime/background.ts';
import { UpstashStore } from '../../shared/store/upstash.ts';
import * as robotsApp from '../../supabase/functions/robots/app.ts';
import {
  createStrategiesApp,
  PUBLIC_ROBOTS_TAG,
  publicStrategiesListKey,
  publicStrategyKey,
  robotTag,
  strategyWriteTags,
  userRobotsTag,
} from '../../supabase/functions/strategies/app.ts';
import { createClient, FunctionsHttpError, type SupabaseClient } from '@supabase/supabase-js';
import { startDevServer } from '../support/dev_server.ts';
import { databaseUrl, upstashBridge } from '../support/services.ts';

type App = { request: (path: string, init?: RequestInit) => Response | Promise<Response> };

interface User {
  id: string;
  token: string;
}

async function newUser(): Promise<User> {
  const id = crypto.randomUUID();
  return { id, token: await signLocalJwt({ role: 'authenticated', sub: id }) };
}

async function call(
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
  const headers: Record<string, string> = { ...options.headers };
  const token = options.token ?? options.user?.token;
  if (token) headers.authorization = `Bearer ${token}`;
  let body: string | undefined = options.rawBody;
  if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined) headers['content-type'] ??= 'application/json';
  // Background work (the cache's write-back to Redis) settles before the next request, so what
  // one isolate cached is in Redis for the other: cache statuses are deterministic.
  const response = await app.request(path, { method, headers, body });
  await settleBackground();
  return response;
}

async function json<T = Record<string, unknown>>(response: Response): Promise<T> {
  return await response.json() as T;
}

async function expectError(response: Response, status: number, code: string): Promise<void> {
  const body = await json<{ error: { code: string; message: string } }>(response);
  assert.equal(response.status, status, JSON.stringify(body));
  assert.equal(body.error.code, code, body.error.message);
  assert.ok(body.error.message.length > 0);
}

async function createStrategy(
  app: App,
  user: User,
  input: Record<string, unknown> = {},
): Promise<Record<string, unknown> & { id: string }> {
  const response = await call(app, 'POST', '/strategies', {
    user,
    body: { name: 'Breakout basics', strategy_type: 'breakout', ...input },
  });
  const body = await json<Record<string, unknown> & { id: string }>(response);
  assert.equal(response.status, 201, JSON.stringify(body));
  return body;
}

const xCacheStatus = (response: Response) => response.headers.get('x-cache')?.split(';')[0];

Deno.test('strategies function on PostgreSQL and Redis (two isolates)', async (t) => {
  const db = createPostgresDatabase(databaseUrl());
  const { url, token } = upstashBridge();
  const store = new UpstashStore({ url, token, timeoutMs: 2_000 });
  const keyPrefix = `qf:test:${crypto.randomUUID()}:`;
  const optimizer = () =>
    new AdvancedBackendOptimizer({
      store,
      metrics: new Metrics(),
      metricsFlushIntervalMs: 0,
      config: parseOptimizationConfig({
        predictiveCacheTTL: 60_000,
        cache: { keyPrefix, storeTimeoutMs: 2_000, popularityFlushMs: 0, memoryStalenessMs: 0 },
      }),
    });
  const optimizerA = optimizer();
  const optimizerB = optimizer();
  try {
    const deps = { db: () => Promise.resolve(db) };
    const appA = createStrategiesApp({ ...deps, optimizer: optimizerA });
    const appB = createStrategiesApp({ ...deps, optimizer: optimizerB });
    const robots = robotsApp.createRobotsApp({ ...deps, optimizer: optimizerA });

    await t.step(
      'create, read, list, update, delete; reads cached, writes invalidate',
      async () => {
        const alice = await newUser();
        const created = await createStrategy(appA, alice, {
          name: 'Mean reversion 14',
          description: 'RSI under 30',
          strategy_type: 'mean_reversion',
          parameters: { period: 14, levels: [30, 70] },
        });
        assert.equal(created.user_id, alice.id);
        assert.equal(created.is_public, false);
        assert.deepEqual(created.parameters, { period: 14, levels: [30, 70] });
        assert.match(created.id, /^[0-9a-f-]{36}$/);

        const first = await call(appA, 'GET', `/strategies/${created.id}`, { user: alice });
        assert.equal(first.status, 200);
        assert.equal(xCacheStatus(first), 'miss');
        assert.deepEqual(await json(first), created);
        const again = await call(appA, 'GET', `/strategies/${created.id}`, { user: alice });
        assert.equal(xCacheStatus(again), 'hit');
        await again.body?.cancel();
        // The other isolate reads Alice's entry from Redis.
        const other = await call(appB, 'GET', `/strategies/${created.id}`, { user: alice });
        assert.match(other.headers.get('x-cache') ?? '', /^hit; tier=redis/);
        await other.body?.cancel();

        const list = await json<{ items: { id: string }[]; total: number }>(
          await call(appA, 'GET', '/strategies', { user: alice }),
        );
        assert.deepEqual(list.items.map((s) => s.id), [created.id]);
        assert.equal(list.total, 1);

        const patched = await call(appB, 'PATCH', `/strategies/${created.id.toUpperCase()}`, {
          user: alice,
          body: { name: 'Mean reversion 21', parameters: { period: 21 } },
        });
        assert.equal(patched.status, 200);
        const updated = await json(patched);
        assert.equal(updated.name, 'Mean reversion 21');
        assert.deepEqual(updated.parameters, { period: 21 });
        assert.equal(updated.id, created.id);

        // Both isolates see the change at once (memory staleness 0: each re-checks Redis).
        for (const app of [appA, appB]) {
          const fresh = await call(app, 'GET', `/strategies/${created.id}`, { user: alice });
          assert.equal((await json(fresh)).name, 'Mean reversion 21');
          const listed = await json<{ items: { name: string }[] }>(
            await call(app, 'GET', '/strategies', { user: alice }),
          );
          assert.deepEqual(listed.items.map((s) => s.name), ['Mean reversion 21']);
        }

        const gone = await call(appA, 'DELETE', `/strategies/${created.id}`, { user: alice });
        assert.equal(gone.status, 204);
        for (const app of [appA, appB]) {
          await expectError(
            await call(app, 'GET', `/strategies/${created.id}`, { user: alice }),
            404,
            'not_found',
          );
          const empty = await json<{ items: unknown[] }>(
            await call(app, 'GET', '/strategies', { user: alice }),
          );
          assert.deepEqual(empty.items, []);
        }
        await expectError(
          await call(appA, 'DELETE', `/strategies/${created.id}`, { user: alice }),
          404,
          'not_found',
        );
      },
    );

    await t.step('RLS: another user never sees a private strategy, cached or not', async () => {
      const alice = await newUser();
      const bob = await newUser();
      const anonKey = await signLocalJwt({ role: 'anon' });
      const secret = await createStrategy(appA, alice, { name: 'Secret sauce grid' });
      const spellings = [secret.id, secret.id.toUpperCase()];
      // Alice's reads are cached first, in both isolates: Bob must not be served her entries.
      for (const app of [appA, appB]) {
        for (const id of spellings) {
          assert.equal((await call(app, 'GET', `/strategies/${id}`, { user: alice })).status, 200);
        }
        await (await call(app, 'GET', '/strategies', { user: alice })).body?.cancel();
        await (await call(app, 'GET', '/strategies/search?q=Secret', { user: alice })).body
          ?.cancel();
      }
      for (const app of [appA, appB]) {
        for (const id of spellings) {
          await expectError(
            await call(app, 'GET', `/strategies/${id}`, { user: bob }),
            404,
            'not_found',
          );
          await expectError(
            await call(app, 'GET', `/strategies/${id}`, { token: anonKey }),
            404,
            'not_found',
          );
          await expectError(await call(app, 'GET', `/strategies/${id}`), 404, 'not_found');
          await expectError(
            await call(app, 'PATCH', `/strategies/${id}`, { user: bob, body: { name: 'Mine' } }),
            404,
            'not_found',
          );
          await expectError(
            await call(app, 'DELETE', `/strategies/${id}`, { user: bob }),
            404,
            'not_found',
          );
        }
        const bobs = await json<{ items: unknown[] }>(
          await call(app, 'GET', '/strategies', { user: bob }),
        );
        assert.deepEqual(bobs.items, []);
        const search = await json<{ items: unknown[] }>(
          await call(app, 'GET', '/strategies/search?q=Secret%20sauce', { user: bob }),
        );
        assert.deepEqual(search.items, []);
      }

      // Published: Bob and anon see it. Made private again: 404 at once, in both isolates.
      await call(appA, 'PATCH', `/strategies/${secret.id}`, {
        user: alice,
        body: { is_public: true },
      });
      for (const app of [appA, appB]) {
        for (const id of spellings) {
          assert.equal((await call(app, 'GET', `/strategies/${id}`, { user: bob })).status, 200);
          assert.equal((await call(app, 'GET', `/strategies/${id}`)).status, 200);
          const hit = await call(app, 'GET', `/strategies/${id}`, { user: bob });
          assert.equal(hit.status, 200);
          await hit.body?.cancel();
        }
      }
      // Public is not Bob's: he still cannot change or delete it.
      for (const id of spellings) {
        await expectError(
          await call(appB, 'PATCH', `/strategies/${id}`, { user: bob, body: { name: 'Mine' } }),
          404,
          'not_found',
        );
        await expectError(
          await call(appB, 'DELETE', `/strategies/${id}`, { user: bob }),
          404,
          'not_found',
        );
      }
      const hidden = await call(appB, 'PATCH', `/strategies/${secret.id.toUpperCase()}`, {
        user: alice,
        body: { is_public: false },
      });
      assert.equal(hidden.status, 200);
      await hidden.body?.cancel();
      for (const app of [appA, appB]) {
        for (const id of spellings) {
          await expectError(
            await call(app, 'GET', `/strategies/${id}`, { user: bob }),
            404,
            'not_found',
          );
          await expectError(await call(app, 'GET', `/strategies/${id}`), 404, 'not_found');
        }
      }
      // Still Alice's, unchanged.
      const mine = await json(await call(appB, 'GET', `/strategies/${secret.id}`, { user: alice }));
      assert.equal(mine.name, 'Secret sauce grid');
    });

    await t.step('public listing follows is_public, pre-warmed entries included', async () => {
      const carol = await newUser();
      const marker = `Pub-${crypto.randomUUID().slice(0, 8)}`;
      const shown = await createStrategy(appA, carol, {
        name: `${marker} shown`,
        strategy_type: 'momentum',
        is_public: true,
      });
      const ids = async (app: App, query = '') => {
        const response = await call(app, 'GET', `/strategies/public${query}`);
        assert.equal(response.status, 200);
        const page = await json<{ items: { id: string }[] }>(response);
        return { status: xCacheStatus(response), ids: page.items.map((s) => s.id) };
      };
      // The loaders warm the first page and the anonymous read by id, without any request.
      const warmed = await optimizerB.cache.prewarm([
        publicStrategiesListKey(),
        publicStrategiesListKey({ strategy_type: 'momentum' }),
        publicStrategyKey(shown.id),
      ]);
      assert.equal(warmed.warmed.length, 3, JSON.stringify(warmed));
      const first = await ids(appB);
      assert.equal(first.status, 'prewarmed');
      assert.ok(first.ids.includes(shown.id));
      assert.ok((await ids(appB, '?strategy_type=momentum')).ids.includes(shown.id));
      const detail = await call(appB, 'GET', `/strategies/${shown.id}`);
      assert.equal(detail.status, 200);
      await detail.body?.cancel();

      // Unpublished in the other isolate: the pre-warmed (untagged) entries go too.
      await (await call(appA, 'PATCH', `/strategies/${shown.id}`, {
        user: carol,
        body: { is_public: false },
      })).body?.cancel();
      for (const app of [appA, appB]) {
        assert.ok(!(await ids(app)).ids.includes(shown.id));
        assert.ok(!(await ids(app, '?strategy_type=momentum')).ids.includes(shown.id));
        await expectError(await call(app, 'GET', `/strategies/${shown.id}`), 404, 'not_found');
      }

      // Published again with another type; then deleted: gone from every listing.
      await (await call(appA, 'PATCH', `/strategies/${shown.id}`, {
        user: carol,
        body: { is_public: true, strategy_type: 'scalping' },
      })).body?.cancel();
      assert.ok((await ids(appB)).ids.includes(shown.id));
      assert.ok((await ids(appB, '?strategy_type=scalping')).ids.includes(shown.id));
      assert.equal(
        (await call(appA, 'DELETE', `/strategies/${shown.id}`, { user: carol })).status,
        204,
      );
      assert.ok(!(await ids(appB)).ids.includes(shown.id));
      assert.ok(!(await ids(appB, '?strategy_type=scalping')).ids.includes(shown.id));
    });

    await t.step('search: own and public strategies, scoped per caller', async () => {
      const dave = await newUser();
      const erin = await newUser();
      const word = `zq${crypto.randomUUID().replaceAll('-', '').slice(0, 10)}`;
      const own = await createStrategy(appA, dave, { name: `${word} private` });
      const pub = await createStrategy(appA, erin, {
        description: `uses ${word} signals`,
        is_public: true,
      });
      const search = async (user?: User, extra = '') => {
        const response = await call(appA, 'GET', `/strategies/search?q=${word}${extra}`, { user });
        const body = await json<{ items: { id: string; score: number }[] }>(response);
        assert.equal(response.status, 200, JSON.stringify(body));
        for (const item of body.items) assert.ok(item.score > 0);
        return body.items.map((s) => s.id).sort();
      };
      assert.deepEqual(await search(dave), [own.id, pub.id].sort());
      assert.deepEqual(await search(erin), [pub.id]);
      assert.deepEqual(await search(), [pub.id]);
      assert.deepEqual(await search(dave, '&strategy_type=grid'), []);
      assert.deepEqual(await search(dave, '&limit=1&fields=id').then((ids) => ids.length), 1);
      await expectError(await call(appA, 'GET', '/strategies/search?q=a'), 400, 'invalid_query');
      await expectError(await call(appA, 'GET', '/strategies/search'), 400, 'invalid_query');
      // LIKE wildcards are text, not patterns.
      assert.deepEqual(
        (await json<{ items: unknown[] }>(
          await call(appA, 'GET', `/strategies/search?q=${encodeURIComponent('%_')}`, {
            user: dave,
          }),
        )).items,
        [],
      );
    });

    await t.step('pagination walk with limit, cursor, strategy_type and total', async () => {
      const frank = await newUser();
      const created: string[] = [];
      for (let i = 0; i < 5; i++) {
        created.push(
          (await createStrategy(appA, frank, {
            name: `Walker ${i}`,
            strategy_type: 'grid',
          })).id,
        );
      }
      await createStrategy(appA, frank, { name: 'Other', strategy_type: 'scalping' });
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const query: string = `limit=2&strategy_type=grid&total=exact${
          cursor ? `&cursor=${cursor}` : ''
        }`;
        const response = await call(appA, 'GET', `/strategies?${query}`, { user: frank });
        const page = await json<{
          items: { id: string }[];
          nextCursor: string | null;
          total: number;
          totalExact: boolean;
          hasMore: boolean;
        }>(response);
        assert.equal(response.status, 200, JSON.stringify(page));
        assert.equal(page.total, 5);
        assert.equal(page.totalExact, true);
        assert.equal(page.hasMore, page.nextCursor !== null);
        seen.push(...page.items.map((s) => s.id));
        cursor = page.nextCursor;
        pages++;
      } while (cursor && pages < 10);
      assert.equal(pages, 3);
      // Newest first: the reverse of creation order.
      assert.deepEqual(seen, [...created].reverse());
      const fields = await json<{ items: Record<string, unknown>[]; total: null }>(
        await call(appA, 'GET', '/strategies?fields=id,name&total=none&limit=1', { user: frank }),
      );
      assert.deepEqual(Object.keys(fields.items[0]).sort(), ['id', 'name']);
      assert.equal(fields.total, null);
    });

    await t.step('cursors: one position is one key; impossible dates are a 400', async () => {
      const ivan = await newUser();
      for (let i = 0; i < 3; i++) await createStrategy(appA, ivan, { name: `Cursor ${i}` });
      const page = await json<{ nextCursor: string }>(
        await call(appA, 'GET', '/strategies?limit=1', { user: ivan }),
      );
      const { createdAt, id } = decodeCursor(page.nextCursor);
      const upperCursor = encodeCursor({ createdAt, id: id.toUpperCase() });
      assert.notEqual(upperCursor, page.nextCursor);
      const lower = await call(appA, 'GET', `/strategies?limit=1&cursor=${page.nextCursor}`, {
        user: ivan,
      });
      const upper = await call(appA, 'GET', `/strategies?limit=1&cursor=${upperCursor}`, {
        user: ivan,
      });
      assert.equal(upper.status, 200);
      assert.equal(xCacheStatus(upper), 'hit', 'one position, one key');
      assert.deepEqual(await upper.json(), await lower.json());
      for (const date of ['2026-02-30T00:00:00Z', '2026-13-01T00:00:00Z', '0000-01-01T00:00:00Z']) {
        const cursor = encodeCursor({ createdAt: date, id });
        for (
          const path of [`/strategies?cursor=${cursor}`, `/strategies/public?cursor=${cursor}`]
        ) {
          await expectError(await call(appA, 'GET', path, { user: ivan }), 400, 'invalid_query');
        }
      }
    });

    await t.step('ETag: 304 while unchanged, a new ETag after a write', async () => {
      const gina = await newUser();
      const strategy = await createStrategy(appA, gina, { is_public: true });
      const path = `/strategies/${strategy.id}`;
      const first = await call(appA, 'GET', path, { user: gina });
      const etag = first.headers.get('etag');
      assert.match(etag ?? '', /^"[^"]+"$/);
      await first.body?.cancel();
      for (const app of [appA, appB]) {
        for (const header of [etag!, `W/${etag}`, `"other", ${etag}`, '*']) {
          const cached = await call(app, 'GET', path, {
            user: gina,
            headers: { 'if-none-match': header },
          });
          assert.equal(cached.status, 304, header);
          assert.equal(await cached.text(), '');
          assert.equal(cached.headers.get('etag'), etag);
        }
      }
      const other = await call(appA, 'GET', path, {
        user: gina,
        headers: { 'if-none-match': '"not-the-tag"' },
      });
      assert.equal(other.status, 200);
      await other.body?.cancel();
      for (const listing of ['/strategies?limit=5', `/strategies/search?q=Breakout`]) {
        const response = await call(appA, 'GET', listing, { user: gina });
        const tag = response.headers.get('etag')!;
        assert.match(tag, /^"[A-Za-z0-9_-]{20,}"$/);
        await response.body?.cancel();
        const again = await call(appB, 'GET', listing, {
          user: gina,
          headers: { 'if-none-match': tag },
        });
        assert.equal(again.status, 304, listing);
      }
      const anonymous = await call(appA, 'GET', '/strategies/public');
      const publicTag = anonymous.headers.get('etag')!;
      await anonymous.body?.cancel();
      assert.equal(
        (await call(appB, 'GET', '/strategies/public', { headers: { 'if-none-match': publicTag } }))
          .status,
        304,
      );
      await (await call(appA, 'PATCH', path, { user: gina, body: { description: 'v2' } })).body
        ?.cancel();
      const changed = await call(appA, 'GET', path, {
        user: gina,
        headers: { 'if-none-match': etag! },
      });
      assert.equal(changed.status, 200);
      assert.notEqual(changed.headers.get('etag'), etag);
      assert.equal((await json(changed)).description, 'v2');
    });

    await t.step('deleting a strategy drops the robots reads its deletion changed', async () => {
      const author = await newUser();
      const builder = await newUser();
      const strategy = await createStrategy(appA, author, { is_public: true });
      const robotResponse = await call(robots, 'POST', '/robots', {
        user: builder,
        body: { name: 'Built on it', strategy_type: 'breakout', strategy_id: strategy.id },
      });
      const robot = await json<{ id: string; strategy_id: string }>(robotResponse);
      assert.equal(robotResponse.status, 201, JSON.stringify(robot));
      assert.equal(robot.strategy_id, strategy.id);
      const read = async () => {
        const response = await call(robots, 'GET', `/robots/${robot.id}`, { user: builder });
        return { status: xCacheStatus(response), robot: await json(response) };
      };
      const list = async () =>
        (await json<{ items: { strategy_id: string | null }[] }>(
          await call(robots, 'GET', '/robots', { user: builder }),
        )).items.map((r) => r.strategy_id);
      assert.equal((await read()).robot.strategy_id, strategy.id);
      assert.deepEqual(await list(), [strategy.id]);
      assert.equal((await read()).status, 'hit');
      // A public robot on it, read by a third user and by anon (their own cache entries).
      const shared = await json<{ id: string }>(
        await call(robots, 'POST', '/robots', {
          user: builder,
          body: {
            name: 'Shared',
            strategy_type: 'breakout',
            strategy_id: strategy.id,
            is_public: true,
          },
        }),
      );
      const reader = await newUser();
      const sharedReads = async () =>
        await Promise.all([reader, undefined].map(async (user) => {
          const response = await call(robots, 'GET', `/robots/${shared.id}`, { user });
          return (await json<{ strategy_id: string | null }>(response)).strategy_id;
        }));
      assert.deepEqual(await sharedReads(), [strategy.id, strategy.id]);

      assert.equal(
        (await call(appB, 'DELETE', `/strategies/${strategy.id}`, { user: author })).status,
        204,
      );
      // The builder's private robot lost its strategy (on delete set null): no stale copy.
      const after = await read();
      assert.equal(after.status, 'miss');
      assert.equal(after.robot.strategy_id, null);
      assert.deepEqual(await list(), [null, null]);
      assert.deepEqual(await sharedReads(), [null, null]);
    });

    await t.step('repository: service deletes list the robots they change, bounded', async () => {
      const owner = crypto.randomUUID();
      const repo = new StrategiesRepository(db, { maxDependentRobots: 2 });
      const strategy = await repo.create(SERVICE_CALLER, {
        user_id: owner,
        name: 'Service made',
        strategy_type: 'hedging',
      });
      const robotIds: string[] = [];
      for (let i = 0; i < 3; i++) {
        const [row] = await db.query<{ id: string }>(
          `insert into public.robots (user_id, strategy_id, name, strategy_type, is_public)
           values ($1, $2, $3, 'hedging', $4) returning id`,
          [crypto.randomUUID(), strategy.id, `Dependent ${i}`, i === 0],
        );
        robotIds.push(row.id);
      }
      const seen: StrategyWrite[] = [];
      assert.equal(
        await repo.delete(SERVICE_CALLER, strategy.id, {
          afterWrite: (_tx, row) => seen.push(row),
        }),
        true,
      );
      assert.equal(seen.length, 1);
      assert.equal(seen[0].robots.length, 2);
      assert.equal(seen[0].robotsTruncated, true);
      for (const robot of seen[0].robots) assert.ok(robotIds.includes(robot.id));
      // Truncated: the public robots reads are dropped whatever the listed robots are.
      assert.ok(strategyWriteTags(seen[0]).includes(PUBLIC_ROBOTS_TAG));
      const left = await db.query<{ n: number }>(
        'select count(*)::int as n from public.robots where id = any($1::uuid[]) and strategy_id is null',
        [robotIds],
      );
      assert.equal(left[0].n, 3);
      // A user who does not own the strategy learns nothing from the dependents function.
      const other = await repo.create(SERVICE_CALLER, {
        user_id: owner,
        name: 'Other',
        strategy_type: 'grid',
      });
      await db.query(
        `insert into public.robots (user_id, strategy_id, name, strategy_type) values ($1, $2, 'R', 'grid')`,
        [crypto.randomUUID(), other.id],
      );
      const stranger = await db.asUser(
        { role: 'authenticated', sub: crypto.randomUUID() },
        (tx) => tx.query('select * from private.strategy_dependent_robots($1::uuid)', [other.id]),
      );
      assert.equal(stranger.length, 0);
      const owners = await db.asUser(
        { role: 'authenticated', sub: owner },
        (tx) => tx.query('select * from private.strategy_dependent_robots($1::uuid)', [other.id]),
      );
      assert.equal(owners.length, 1);
    });

    await t.step("the robots tags spelled in keys.ts are the robots function's own", () => {
      const id = crypto.randomUUID();
      assert.equal(userRobotsTag(id), robotsApp.userRobotsTag(id));
      assert.equal(robotTag(id), robotsApp.robotTag(id));
      assert.equal(PUBLIC_ROBOTS_TAG, robotsApp.PUBLIC_ROBOTS_TAG);
    });

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
  } finally {
    await settleBackground();
    await optimizerA.close();
    await optimizerB.close();
    await db.close();
  }
});

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
