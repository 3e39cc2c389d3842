/**
 * Hot path: a memory-tier hit through `PredictiveCache.execute` and through
 * `executeWithPredictiveCaching`. Target: at most 2 µs per hit.
 *
 * Run: `deno bench -A bench/cache_hit_bench.ts`
 */
import { MemoryStore } from '../shared/store/memory.ts';
import { Metrics } from '../shared/optimizer/metrics.ts';
import { parseOptimizationConfig } from '../shared/optimizer/config.ts';
import { executeWithPredictiveCaching, PredictiveCache } from '../shared/optimizer/cache/mod.ts';

const cache = new PredictiveCache({
  store: new MemoryStore(),
  metrics: new Metrics(),
  // Long staleness bound and flush interval: the bench measures memory-tier hits only.
  config: parseOptimizationConfig({
    cache: { memoryStalenessMs: 3_600_000, popularityFlushMs: 3_600_000 },
  }),
});
const operation = () => Promise.resolve({ id: 1, name: 'robot' });
const deps = ['strategies:list'];
await cache.execute('robots:list', operation);
await cache.execute('strategies:list', operation);

Deno.bench('memory-tier hit: cache.execute', async () => {
  await cache.execute('robots:list', operation);
});

Deno.bench('memory-tier hit: executeWithPredictiveCaching', async () => {
  await executeWithPredictiveCaching(cache, 'robots:list', operation);
});

Deno.bench('memory-tier hit with a warm declared dependency', async () => {
  await cache.execute('robots:list', operation, deps);
});

Deno.bench('memory-tier hit, user-scoped key', async () => {
  await cache.execute('u=7f3c:robots:list', operation);
});
