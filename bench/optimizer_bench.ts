/**
 * Hot path of the facade: `executeOptimizedOperation` with every feature on, served from the
 * memory tier. Target: at most 5 µs per call.
 *
 * Run: `DENO_NO_PACKAGE_JSON=1 node_modules/.bin/deno bench -A bench/optimizer_bench.ts`
 */
import { AdvancedBackendOptimizer, Metrics, userKey } from '../shared/optimizer/mod.ts';
import { MemoryStore } from '../shared/store/memory.ts';

const optimizer = new AdvancedBackendOptimizer({
  store: new MemoryStore(),
  metrics: new Metrics(),
  metricsFlushIntervalMs: 0,
  // Long staleness bound and flush interval: the bench measures memory-tier hits only.
  config: { cache: { memoryStalenessMs: 3_600_000, popularityFlushMs: 3_600_000 } },
});
const operation = () => Promise.resolve({ data: [{ id: 1, name: 'robot' }], error: null });
const key = userKey('7f3c2a9e-0000-4000-8000-000000000001', 'robots', 'list', { limit: 20 });
const options = { cacheKey: key, table: 'robots', resourceKey: 'robots_api' };
await optimizer.executeOptimizedOperation(null, operation, options);

Deno.bench('executeOptimizedOperation, every feature on, memory-tier hit', async () => {
  await optimizer.executeOptimizedOperation(null, operation, options);
});

Deno.bench('executeOptimizedOperationDetailed (x-cache data), memory-tier hit', async () => {
  await optimizer.executeOptimizedOperationDetailed(null, operation, options);
});

Deno.bench('executeWithPredictiveCaching, memory-tier hit', async () => {
  await optimizer.executeWithPredictiveCaching(key, operation);
});
