/**
 * Hot paths of the resilience layer (memory store, healthy resource):
 * `deno bench -A bench/resilience_bench.ts`
 */
import { Metrics } from '../shared/optimizer/metrics.ts';
import {
  AdaptiveThrottle,
  Bulkhead,
  CircuitBreakerRegistry,
  Deduplicator,
  RetryPolicy,
} from '../shared/optimizer/resilience/mod.ts';
import { MemoryStore } from '../shared/store/memory.ts';

const metrics = new Metrics();
const store = new MemoryStore();
const resilience = { throttleLimit: 1_000_000_000, throttleMaxConcurrent: 1_000_000 };
const retry = new RetryPolicy({ maxRetryAttempts: 3, retryBackoffBase: 100, resilience }, {
  metrics,
});
// breakerStateCacheMs is the default (1 s): the shared read happens about once per second.
const breakers = new CircuitBreakerRegistry({ resilience }, { store, metrics });
const throttle = new AdaptiveThrottle({ resilience }, { store, metrics });
const bulkhead = new Bulkhead('db', { resilience: { poolMaxConcurrent: 10 } }, { metrics });
const dedup = new Deduplicator({ metrics });
const value = { id: 1 };
const resolved = () => Promise.resolve(value);

Deno.bench('baseline: await a resolved op', { group: 'resilience', baseline: true }, async () => {
  await resolved();
});

Deno.bench('retry wrapper around a resolved op', { group: 'resilience' }, async () => {
  await retry.execute(resolved, { resourceKey: 'db' });
});

Deno.bench('breaker closed path', { group: 'resilience' }, async () => {
  await breakers.execute('db', resolved);
});

Deno.bench('throttle allow path (memory window)', { group: 'resilience' }, async () => {
  await throttle.execute('db', resolved);
});

Deno.bench('throttle acquire+release only (sync)', { group: 'resilience' }, () => {
  const permit = throttle.acquire('db2');
  throttle.release(permit as never, 1, false);
});

Deno.bench('bulkhead tryAcquire+release (sync)', { group: 'resilience' }, () => {
  bulkhead.tryAcquire();
  bulkhead.release();
});

Deno.bench('bulkhead run around a resolved op', { group: 'resilience' }, async () => {
  await bulkhead.run(resolved);
});

Deno.bench('dedup run (no concurrent twin)', { group: 'resilience' }, async () => {
  await dedup.run('k', resolved);
});

Deno.bench('throttle > breaker > bulkhead > retry, composed', { group: 'resilience' }, async () => {
  await throttle.execute(
    'db',
    () =>
      breakers.execute(
        'db',
        () => bulkhead.run(() => retry.execute(resolved, { resourceKey: 'db' })),
      ),
  );
});
