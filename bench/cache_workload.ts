/**
 * Replays the synthetic workload (bench/workload.ts) against: no cache, a plain fixed-TTL LRU,
 * the predictive cache with the same memory budget and no shared tier, and the predictive cache
 * with its Redis tier (an in-process store behind a simulated 1 ms round trip).
 *
 * Real time, open loop: sessions start on a fixed schedule whatever the variant's latency, so
 * every variant sees the same requests at the same moments. The origin is a 20 ms timer.
 *
 * Run: `deno run -A bench/cache_workload.ts [--sessions=12000] [--seed=42]`
 *
 * @module
 */
import { MemoryStore } from '../shared/store/memory.ts';
import type { KeyValueStore } from '../shared/store/types.ts';
import { Metrics } from '../shared/optimizer/metrics.ts';
import { parseOptimizationConfig } from '../shared/optimizer/config.ts';
import { PredictiveCache } from '../shared/optimizer/cache/mod.ts';
import { settleBackground } from '../shared/runtime/background.ts';
import { buildWorkload } from './workload.ts';
import {
  plainLru,
  replay,
  type ReplayOutcome,
  type Variant,
  withoutValueTier,
} from './lib/cache_replay.ts';

const args = Object.fromEntries(
  Deno.args.map((a) => a.replace(/^--/, '').split('=') as [string, string]),
);
const SESSIONS = Number(args.sessions ?? 12_000);
const SEED = Number(args.seed ?? 42);
const ORIGIN_MS = 20;
const TTL_MS = 1_000; // base TTL, scaled to the run's length (the schema's minimum)
const MEMORY_ENTRIES = 1_000; // the shared memory budget: 10 % of the detail keys
const STORE_RTT_MS = 1;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let originCalls = 0;
async function origin(key: string): Promise<{ key: string; payload: string }> {
  originCalls++;
  await sleep(ORIGIN_MS);
  return { key, payload: 'x'.repeat(160) };
}

/** Adds a simulated round trip to every store call. */
function withLatency(inner: KeyValueStore, ms: number): KeyValueStore {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return async (...a: unknown[]) => {
        await sleep(ms);
        return value.apply(target, a);
      };
    },
  });
}

function predictive(store: KeyValueStore, memoryOnly: boolean): {
  run: Variant;
  cache: PredictiveCache;
} {
  const cache = new PredictiveCache({
    store,
    metrics: new Metrics(),
    config: parseOptimizationConfig({
      predictiveCacheTTL: TTL_MS,
      cache: {
        memoryMaxEntries: MEMORY_ENTRIES,
        // One isolate: nothing else invalidates, so no re-check is needed in memory-only mode.
        memoryStalenessMs: memoryOnly ? 3_600_000 : 2_000,
        popularityHalfLifeMs: 5_000,
        popularityHalfSaturation: Number(args.halfSaturation ?? 4),
        popularityFlushMs: 1_000,
        staleWhileRevalidateMs: 250,
        staleIfErrorMs: 5_000,
        predictionWindowMs: 500,
        storeTimeoutMs: 100,
      },
    }),
  });
  cache.registerLoader('robot:*', origin);
  cache.registerLoader('strategies:list:*', origin);
  cache.registerLoader('robots:list:*', origin);
  const run: Variant = async (key, dependencies) => {
    const r = await cache.execute(key, () => origin(key), dependencies);
    return {
      fromCache: r.tier !== 'origin',
      stale: r.status === 'stale',
      prewarmed: r.status === 'prewarmed',
    };
  };
  return { run, cache };
}

function summarize(name: string, o: ReplayOutcome, origins: number) {
  const sorted = [...o.latencies].sort((a, b) => a - b);
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  const p95 = sorted[Math.floor(sorted.length * 0.95)];
  const p50 = sorted[Math.floor(sorted.length * 0.5)];
  return {
    variant: name,
    requests: sorted.length,
    hitRate: o.served / sorted.length,
    freshHitRate: o.fresh / sorted.length,
    stale: o.stale,
    prewarmedReads: o.prewarmed,
    meanMs: mean,
    p50Ms: p50,
    p95Ms: p95,
    originCalls: origins,
  };
}

const sessions = buildWorkload({ seed: SEED, sessions: SESSIONS });
const results = [];

const variants: [string, () => { run: Variant; close?: () => Promise<void> }][] = [
  ['no cache', () => ({ run: async (key) => (await origin(key), { fromCache: false }) })],
  ['plain LRU, fixed TTL', () => ({ run: plainLru(MEMORY_ENTRIES, TTL_MS, origin) })],
  ['predictive, memory tier only', () => {
    const { run, cache } = predictive(
      withoutValueTier(new MemoryStore({ maxEntries: 1_000_000 }), 'qf:cache:v:'),
      true,
    );
    return { run, close: () => cache.close() };
  }],
  ['predictive, memory + Redis tier (1 ms RTT)', () => {
    const { run, cache } = predictive(
      withLatency(new MemoryStore({ maxEntries: 1_000_000 }), STORE_RTT_MS),
      false,
    );
    return { run, close: () => cache.close() };
  }],
];

for (const [name, make] of variants) {
  originCalls = 0;
  const { run, close } = make();
  const outcome = await replay(sessions, run);
  await settleBackground();
  await close?.();
  results.push(summarize(name, outcome, originCalls));
}

const fmt = (x: number, d = 1) => x.toFixed(d);
console.log(
  `workload: seed ${SEED}, ${SESSIONS} sessions at 1500/s, origin ${ORIGIN_MS} ms, base TTL ${TTL_MS} ms, memory budget ${MEMORY_ENTRIES} entries`,
);
console.log(
  '| variant | requests | hit rate | fresh hits | stale served | pre-warmed reads | mean ms | p50 ms | p95 ms | origin calls |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const r of results) {
  console.log(
    `| ${r.variant} | ${r.requests} | ${fmt(r.hitRate * 100)} % | ${
      fmt(r.freshHitRate * 100)
    } % | ${r.stale} | ${r.prewarmedReads} | ${fmt(r.meanMs, 2)} | ${fmt(r.p50Ms, 2)} | ${
      fmt(r.p95Ms, 2)
    } | ${r.originCalls} |`,
  );
}
const lru = results[1];
for (const r of results.slice(2)) {
  console.log(
    `${r.variant} vs plain LRU: hit rate ${fmt((r.hitRate / lru.hitRate - 1) * 100)} % relative (${
      fmt((r.hitRate - lru.hitRate) * 100)
    } points), mean latency ${fmt((1 - r.meanMs / lru.meanMs) * 100)} % lower, p95 ${
      fmt((1 - r.p95Ms / lru.p95Ms) * 100)
    } % lower`,
  );
}
