import assert from 'node:assert/strict';
import { beladyHits, type TraceRequest } from '../../bench/lib/belady.ts';

const trace = (keys: string, stepMs = 1): TraceRequest[] =>
  [...keys].map((key, i) => ({ key, atMs: i * stepMs }));

/** Exhaustive optimum: tries every keep/evict choice (tiny traces only). */
function bruteForce(requests: TraceRequest[], capacity: number, ttlMs = Infinity): number {
  const best = (i: number, cache: Map<string, number>): number => {
    if (i === requests.length) return 0;
    const { key, atMs } = requests[i];
    const expiresAt = cache.get(key);
    if (expiresAt !== undefined && expiresAt > atMs) return 1 + best(i + 1, cache);
    const without = new Map(cache);
    without.delete(key);
    let result = best(i + 1, without); // bypass
    if (without.size < capacity) {
      result = Math.max(result, best(i + 1, new Map(without).set(key, atMs + ttlMs)));
    } else {
      for (const victim of without.keys()) {
        const next = new Map(without);
        next.delete(victim);
        next.set(key, atMs + ttlMs);
        result = Math.max(result, best(i + 1, next));
      }
    }
    return result;
  };
  return best(0, new Map());
}

Deno.test('belady: the textbook trace, capacity 3', () => {
  // 7 0 1 2 0 3 0 4 2 3 0 3 2 1 2 0 1 7 0 1 with 3 frames: OPT has 9 faults (11 hits) when
  // every miss must be loaded; MIN may also bypass an entry not worth keeping, which saves one
  // more fault here: 12 hits (checked once with bruteForce below; too slow to run every time).
  const keys = [7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1];
  const requests = keys.map((k, i) => ({ key: String(k), atMs: i }));
  assert.equal(beladyHits(requests, { capacity: 3 }), 12);
});

Deno.test('belady: unlimited capacity misses only first requests, then only expiries', () => {
  assert.equal(beladyHits(trace('abcabcabc'), { capacity: Infinity }), 6);
  // Loaded at 0, fresh until 3 (exclusive): a at 3 and 6 reload, so no hit for a.
  assert.equal(beladyHits(trace('aaa', 3), { capacity: Infinity, ttlMs: 3 }), 0);
  assert.equal(beladyHits(trace('aaaa'), { capacity: Infinity, ttlMs: 2 }), 2);
});

Deno.test('belady: a hit does not extend the TTL', () => {
  // a at 0,1,2,3 with ttl 3: hits at 1 and 2; the request at 3 is a miss (loaded at 0).
  assert.equal(beladyHits(trace('aaaa'), { capacity: 1, ttlMs: 3 }), 2);
});

Deno.test('belady: capacity 0 never hits', () => {
  assert.equal(beladyHits(trace('aaaa'), { capacity: 0 }), 0);
});

Deno.test('belady: equals the exhaustive optimum on random tiny traces, with and without TTL', () => {
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let round = 0; round < 60; round++) {
    const length = 6 + Math.floor(random() * 5);
    const requests = Array.from({ length }, (_, i) => ({
      key: 'abcde'[Math.floor(random() * (2 + (round % 4)))],
      atMs: i,
    }));
    const capacity = 1 + (round % 3);
    const ttlMs = round % 2 ? 3 + (round % 4) : Infinity;
    assert.equal(
      beladyHits(requests, { capacity, ttlMs }),
      bruteForce(requests, capacity, ttlMs),
      `trace ${requests.map((r) => r.key).join('')}, capacity ${capacity}, ttl ${ttlMs}`,
    );
  }
});

Deno.test('belady: rejects a negative capacity and a non-positive TTL', () => {
  assert.throws(() => beladyHits([], { capacity: -1 }), /'capacity' must be >= 0: received -1/);
  assert.throws(() => beladyHits([], { capacity: 1, ttlMs: 0 }), /'ttlMs' must be > 0/);
});
