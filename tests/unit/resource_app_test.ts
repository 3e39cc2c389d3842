import assert from 'node:assert/strict';
import type { Context } from 'hono';
import { ROBOT_FIELDS, robotUpdateSchema } from '../../shared/db/mod.ts';
import type { WriteHooks } from '../../shared/db/hooks.ts';
import {
  callerScopedReads,
  nonEmptyPatch,
  prewarmingWriter,
  resourceRequests,
} from '../../shared/http/resource_app.ts';
import { loadPublicListing, pageOf } from '../../shared/http/resource_reads.ts';
import { ANON_CALLER } from '../../shared/http/caller.ts';
import { publicStrategyKey } from '../../supabase/functions/strategies/keys.ts';

const ID = '0b7c3f2e-1d4a-4c5b-9e8f-7a6b5c4d3e2f';
const USER = '5d7e9f11-2233-4455-8899-aabbccddeeff';

/** A context whose caller is `userId` (signed in) or anonymous. */
function contextOf(userId?: string): Context {
  const auth = userId
    ? { role: 'authenticated', userId, claims: { sub: userId, role: 'authenticated' } }
    : undefined;
  return { get: (name: string) => name === 'auth' ? auth : undefined } as unknown as Context;
}

Deno.test('resource_app: a PATCH body must set a field, and says which it may set', () => {
  const schema = nonEmptyPatch(robotUpdateSchema);
  const empty = schema.safeParse({});
  assert.equal(empty.success, false);
  assert.match(empty.error!.issues[0].message, /^needs at least one of strategy_id, name, /);
  assert.equal(schema.safeParse({ name: 'Falcon' }).success, true);
});

Deno.test('resource_app: resourceRequests names the resource in its 404 and its id errors', () => {
  const requests = resourceRequests('robot', ROBOT_FIELDS);
  const error = requests.notFound(ID);
  assert.equal(error.status, 404);
  assert.equal(error.code, 'not_found');
  assert.equal(error.message, `No robot ${ID} visible to this caller`);
  assert.equal(requests.list.safeParse({ limit: '0' }).success, false);
  assert.equal(requests.detail.safeParse({ unknown: 'x' }).success, false);
});

Deno.test('resource_app: caller-scoped reads key a user under u=, anon under pub: (the loader key)', async () => {
  const seen: { cacheKey: string; tags: string[]; filters?: Record<string, unknown> }[] = [];
  const resource = {
    read(_c: Context, _op: unknown, options: (typeof seen)[number]) {
      seen.push(options);
      return Promise.resolve(new Response());
    },
  };
  const reads = callerScopedReads(resource as never, {
    name: 'strategies',
    tags: { user: (id) => `u=${id}:strategies`, public: 'pub:strategies', item: (id) => `s:${id}` },
    notFound: (id) => resourceRequests('strategy', ROBOT_FIELDS).notFound(id),
  });
  await reads.detail(contextOf(), ID, {});
  await reads.detail(contextOf(USER), ID, { fields: 'id' });
  await reads.search(contextOf(), { q: 'grid', limit: undefined });
  await reads.search(contextOf(USER), { q: 'grid', strategy_type: 'grid' });

  // An anonymous read by id is the key the strategies loader pre-warms.
  assert.equal(seen[0].cacheKey, publicStrategyKey(ID));
  assert.deepEqual(seen[0].tags, [`s:${ID}`]);
  assert.deepEqual(seen[0].filters, { id: ID });
  assert.match(seen[1].cacheKey, new RegExp(`^u=${USER}:strategies:get:${ID}:`));
  assert.deepEqual(seen[1].tags, [`u=${USER}:strategies`, `s:${ID}`]);
  assert.match(seen[2].cacheKey, /^pub:strategies:search:/);
  assert.deepEqual(seen[2].tags, ['pub:strategies']);
  assert.match(seen[3].cacheKey, new RegExp(`^u=${USER}:strategies:search:`));
  assert.deepEqual(seen[3].tags, [`u=${USER}:strategies`, 'pub:strategies']);
  assert.deepEqual(seen[3].filters, { q: 'grid', strategy_type: 'grid' });
});

Deno.test('resource_app: a write invalidates its pre-warmable keys after the commit, failures included', async () => {
  const events: string[] = [];
  const resource = {
    async write<T, Row>(
      operation: (repo: unknown, hooks: Required<WriteHooks<Row>>) => Promise<T>,
      options: { tags: (row: Row) => string[] },
    ): Promise<T> {
      const value = await operation({}, {
        afterWrite: (_tx, row) => {
          events.push(`tags ${options.tags(row).join(',')}`);
          return Promise.resolve();
        },
      });
      events.push('commit');
      return value;
    },
  };
  const optimizer = {
    invalidate(key: string) {
      events.push(`invalidate ${key}`);
      return key === 'k2' ? Promise.reject(new Error('store down')) : Promise.resolve(true);
    },
  };
  const write = prewarmingWriter(resource as never, optimizer);
  const value = await write(
    async (_repo, hooks: Required<WriteHooks<{ id: string }>>) => {
      await hooks.afterWrite(undefined as never, { id: 'a' });
      return 'done';
    },
    (row) => [`tag:${row.id}`],
    () => ['k1', 'k2', 'k1'],
  );
  assert.equal(value, 'done');
  assert.deepEqual(events, ['tags tag:a', 'commit', 'invalidate k1', 'invalidate k2']);
});

Deno.test('resource_reads: the public listing reads public rows as anon, paged as asked', async () => {
  const calls: unknown[][] = [];
  const repo = {
    list(...args: unknown[]) {
      calls.push(args);
      return Promise.resolve('page');
    },
  };
  const query = {
    limit: 5,
    cursor: 'c',
    fields: 'id',
    total: 'none' as const,
    strategy_type: 'grid',
  };
  assert.equal(await loadPublicListing(repo, query), 'page');
  assert.deepEqual(calls, [[ANON_CALLER, {
    limit: 5,
    cursor: 'c',
    fields: 'id',
    total: 'none',
    filters: { isPublic: true, strategyType: 'grid' },
  }]]);
  assert.deepEqual(pageOf(query), { limit: 5, cursor: 'c', fields: 'id', total: 'none' });
});
