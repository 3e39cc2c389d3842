/**
 * Serialization and the optimized wrappers: strong ETags computed once, If-None-Match, a value
 * that cannot be serialized, and write() with its outbox and invalidation.
 */
import assert from 'node:assert/strict';
import { createFunctionApp } from '../../shared/http/app.ts';
import type { WriteHooks } from '../../shared/db/hooks.ts';

Deno.test('http: ETags are strong, computed once per value; If-None-Match uses weak comparison', async () => {
  const { serializeOnce, ifNoneMatchHits, conditionalJson } = await import(
    '../../shared/http/json_response.ts'
  );
  const value = { items: [1, 2, 3] };
  const first = await serializeOnce(value);
  assert.equal(await serializeOnce(value), first, 'the same object reuses its serialization');
  assert.equal((await serializeOnce({ items: [1, 2, 3] })).etag, first.etag, 'same body, same tag');
  assert.notEqual((await serializeOnce({ items: [1, 2] })).etag, first.etag);
  assert.match(first.etag, /^"[A-Za-z0-9_-]{32}"$/);
  assert.ok(ifNoneMatchHits(`W/${first.etag}`, first.etag));
  assert.ok(ifNoneMatchHits(`"a", ${first.etag}`, first.etag));
  assert.ok(ifNoneMatchHits('*', first.etag));
  assert.ok(!ifNoneMatchHits('"a"', first.etag));
  assert.ok(!ifNoneMatchHits(undefined, first.etag));

  const app = createFunctionApp('demo');
  app.get('/', (c) => conditionalJson(c, value));
  const ok = await app.request('/demo');
  assert.equal(ok.headers.get('etag'), first.etag);
  assert.deepEqual(await ok.json(), value);
  const notModified = await app.request('/demo', { headers: { 'if-none-match': first.etag } });
  assert.equal(notModified.status, 304);
  assert.equal(await notModified.text(), '');
});

Deno.test('http: a value that cannot be serialized is a 500 once, then dropped from the cache', async () => {
  const { optimizedResource } = await import('../../shared/http/optimized.ts');
  const { AdvancedBackendOptimizer, Metrics } = await import('../../shared/optimizer/mod.ts');
  const { MemoryStore } = await import('../../shared/store/memory.ts');
  const optimizer = new AdvancedBackendOptimizer({
    store: new MemoryStore(),
    metrics: new Metrics(),
    metricsFlushIntervalMs: 0,
  });
  const originalError = console.error;
  console.error = () => {};
  try {
    let loads = 0;
    const resource = optimizedResource({
      table: 'things',
      repository: () => ({
        load: () => {
          loads++;
          if (loads > 1) return Promise.resolve({ ok: true });
          const cyclic: Record<string, unknown> = {};
          cyclic.self = cyclic;
          return Promise.resolve(cyclic);
        },
      }),
      db: () => Promise.resolve({} as never),
      optimizer,
    });
    const app = createFunctionApp('demo');
    app.get(
      '/',
      (c) =>
        resource.read(c, (repo) => repo.load(), {
          cacheKey: 'pub:things:one',
          tags: ['pub:things'],
        }),
    );
    const broken = await app.request('/demo');
    assert.equal(broken.status, 500);
    assert.equal((await broken.json()).error.code, 'unserializable_response');
    const healed = await app.request('/demo');
    assert.equal(healed.status, 200);
    assert.deepEqual(await healed.json(), { ok: true });
    assert.equal(loads, 2);
  } finally {
    console.error = originalError;
    await optimizer.close();
  }
});

Deno.test('http: write() records the outbox inside the write transaction, invalidates after', async () => {
  const { optimizedResource } = await import('../../shared/http/optimized.ts');
  const { AdvancedBackendOptimizer, Metrics } = await import('../../shared/optimizer/mod.ts');
  const { MemoryStore } = await import('../../shared/store/memory.ts');
  const optimizer = new AdvancedBackendOptimizer({
    store: new MemoryStore(),
    metrics: new Metrics(),
    metricsFlushIntervalMs: 0,
  });
  try {
    const invalidated: { tags: string[]; outboxId?: string }[] = [];
    optimizer.invalidateTags = (tags: string[], options: { outboxId?: string } = {}) => {
      invalidated.push({ tags, outboxId: options.outboxId });
      return Promise.resolve(true);
    };
    const log: string[] = [];
    // The write's transaction: the outbox row is written through it, before the commit.
    const fakeTx = {
      query: (sql: string, params: unknown[]) => {
        log.push(`tx: ${sql.includes('enqueue_cache_invalidation') ? 'outbox' : sql} ${params}`);
        return Promise.resolve([{ id: '42' }]);
      },
    } as unknown as import('../../shared/db/types.ts').SqlExecutor;
    const repo = {
      // A repository write: the hook runs before the transaction commits.
      async save(
        name: string,
        hooks: WriteHooks<{ id: string }>,
      ) {
        log.push('begin');
        if (name !== 'missing') await hooks.afterWrite?.(fakeTx, { id: name });
        log.push('commit');
        return name === 'missing' ? null : { id: name };
      },
    };
    const resource = optimizedResource({
      table: 'things',
      repository: () => repo,
      db: () => Promise.resolve({} as never),
      optimizer,
    });
    const saved = await resource.write((r, hooks) => r.save('a', hooks), {
      tags: (row: { id: string }) => {
        log.push('tags');
        return [`pub:thing:${row.id}`, 'pub:things', 'pub:things'];
      },
    });
    assert.deepEqual(saved, { id: 'a' });
    assert.deepEqual(log, [
      'begin',
      'tags',
      'tx: outbox ["pub:thing:a","pub:things"]',
      'commit',
    ]);
    assert.deepEqual(invalidated, [{ tags: ['pub:thing:a', 'pub:things'], outboxId: '42' }]);
    invalidated.length = 0;
    assert.equal(
      await resource.write((r, hooks) => r.save('missing', hooks), {
        tags: (_row: { id: string }) => ['x'],
      }),
      null,
    );
    assert.deepEqual(invalidated, [], 'nothing written, nothing invalidated');
  } finally {
    await optimizer.close();
  }
});
