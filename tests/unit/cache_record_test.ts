import assert from 'node:assert/strict';
import { settleBackground } from '../../shared/runtime/background.ts';
import { Metrics } from '../../shared/optimizer/metrics.ts';
import { parseOptimizationConfig } from '../../shared/optimizer/config.ts';
import { PredictiveCache, readEntryScript } from '../../shared/optimizer/cache/mod.ts';
import {
  defaultPredictiveCacheConfig,
  type PredictiveCacheConfig,
} from '../../shared/optimizer/cache/options.ts';
import {
  decodeRecord,
  encodeRecord,
  entryFromRecord,
} from '../../shared/optimizer/cache/record.ts';
import type { CacheEntry } from '../../shared/optimizer/cache/memory_tier.ts';
import { Clock, makeCache, memoryStore, origin } from './cache_support.ts';

const entry = (over: Partial<CacheEntry> = {}): CacheEntry => ({
  value: { id: 1 },
  storedAt: 1000,
  freshUntil: 2000,
  staleUntil: 3000,
  errorUntil: 4000,
  version: 'a:1000:1',
  checkedAt: 1000,
  originMs: 12.3456,
  prewarmed: false,
  bytes: 200,
  hits: 0,
  ...over,
});

Deno.test('cache record: fields in the documented order, f and s first; g only with tags', () => {
  assert.deepEqual(Object.keys(JSON.parse(encodeRecord(entry()))), [
    'f',
    's',
    'v',
    't',
    'e',
    'id',
    'o',
    'b',
  ]);
  const tagged = JSON.parse(encodeRecord(entry({ tags: ['robots'] })));
  assert.deepEqual(tagged.g, ['robots']);
  assert.equal(tagged.o, 12.35);
  assert.ok(encodeRecord(entry()).startsWith('{"f":2000,"s":3000,'));
});

Deno.test('cache record: decode treats absent, foreign and broken text as absent', () => {
  assert.equal(decodeRecord(''), null);
  assert.equal(decodeRecord('not json'), null);
  assert.equal(decodeRecord('{"x":1}'), null);
  assert.equal(decodeRecord('null'), null);
  assert.deepEqual(decodeRecord(encodeRecord(entry()))?.v, { id: 1 });
});

Deno.test('cache record: the same version keeps the decoded value, hits and pre-warm mark', () => {
  const record = decodeRecord(encodeRecord(entry()))!;
  const previous = entry({ hits: 4, prewarmed: true });
  const same = entryFromRecord(record, previous, 1500);
  assert.equal(same.value, previous.value); // the same object, not a copy
  assert.equal(same.hits, 4);
  assert.equal(same.prewarmed, true);
  assert.equal(same.checkedAt, 1500);
  const other = entryFromRecord(record, entry({ version: 'b:900:1', hits: 4 }), 1500);
  assert.notEqual(other.value, previous.value);
  assert.deepEqual(other.value, { id: 1 });
  assert.equal(other.hits, 0);
});

Deno.test('cache record: what the cache writes, the read script reads without parsing', async () => {
  const clock = new Clock();
  const store = memoryStore(clock);
  const { cache } = makeCache(store, clock);
  await cache.execute('k', origin({ id: 7 }), undefined, { tags: ['t'] });
  await settleBackground();
  const stored = await store.get<Record<string, unknown>>('qf:cache:v:k');
  assert.deepEqual(Object.keys(stored ?? {}), ['f', 's', 'v', 't', 'e', 'id', 'o', 'b', 'g']);
  const keys = ['qf:cache:v:k', 'qf:cache:lease:k', 'qf:cache:c1', 'qf:cache:c2'];
  // Within the stale window: a 'due' read does not claim the lease ('-').
  const fresh = await store.runScript(readEntryScript, keys, ['due', clock.t, '"x"', 5000]);
  assert.equal(fresh[1], '-');
  // Past it: the same read claims the lease.
  const late = Number(stored?.s) + 1;
  const due = await store.runScript(readEntryScript, keys, ['due', late, '"x"', 5000]);
  assert.equal(due[1], '1');
  await cache.close();
});

Deno.test('cache options: the cache takes its own config; an OptimizationConfig still fits', async () => {
  const full = parseOptimizationConfig();
  assert.deepEqual(defaultPredictiveCacheConfig(), {
    enablePredictiveCaching: full.enablePredictiveCaching,
    predictiveCacheTTL: full.predictiveCacheTTL,
    cache: full.cache,
  });
  const own: PredictiveCacheConfig = { ...defaultPredictiveCacheConfig() };
  own.enablePredictiveCaching = false;
  const store = memoryStore(new Clock());
  const off = new PredictiveCache({ store, metrics: new Metrics(), config: own });
  assert.equal((await off.execute('k', origin(1))).reason, 'disabled');
  await off.close();
  const on = new PredictiveCache({ store, metrics: new Metrics(), config: full });
  const op = origin(2);
  await on.execute('k', op);
  assert.equal((await on.execute('k', op)).status, 'hit');
  await on.close();
});

Deno.test('cache modules never import the optimizer config (no config.ts <-> cache/ cycle)', async () => {
  const dir = new URL('../../shared/optimizer/cache/', import.meta.url);
  const offenders: string[] = [];
  for await (const file of Deno.readDir(dir)) {
    if (!file.name.endsWith('.ts')) continue;
    const text = await Deno.readTextFile(new URL(file.name, dir));
    for (const m of text.matchAll(/^\s*(?:import|export)[^'"]*from\s+'([^']+)'/gm)) {
      if (/(^|\/)config\.ts$/.test(m[1])) offenders.push(`${file.name}: ${m[1]}`);
    }
  }
  assert.deepEqual(offenders, []);
});
