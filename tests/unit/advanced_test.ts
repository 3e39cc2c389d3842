import assert from 'node:assert/strict';
import {
  AdvancedBackendOptimizer,
  CircuitOpenError,
  Metrics,
  type OptimizationConfigInput,
  RetryExhaustedError,
  ThrottledError,
  userKey,
} from '../../shared/optimizer/mod.ts';
import { MemoryStore } from '../../shared/store/memory.ts';
import { settleBackground } from '../../shared/runtime/background.ts';

function optimizer(config: OptimizationConfigInput = {}) {
  const metrics = new Metrics();
  const instance = new AdvancedBackendOptimizer({
    store: new MemoryStore(),
    metrics,
    metricsFlushIntervalMs: 0,
    config: {
      retryBackoffBase: 1,
      ...config,
      resilience: { retryMaxDelayMs: 5, retryJitterRatio: 0, ...config.resilience },
    },
  });
  return { instance, metrics };
}

async function closing<T>(o: AdvancedBackendOptimizer, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } finally {
    await o.close();
    await settleBackground();
  }
}

Deno.test('optimizer: the second identical call is a memory-tier hit; the origin ran once', async () => {
  const { instance } = optimizer();
  await closing(instance, async () => {
    let calls = 0;
    const op = () => Promise.resolve({ data: [{ id: 1 }], error: null, n: ++calls });
    const key = userKey('user-1', 'robots', 'list');
    const first = await instance.executeOptimizedOperationDetailed(null, op, {
      cacheKey: key,
      table: 'robots',
      resourceKey: 'robots_api',
    });
    const second = await instance.executeOptimizedOperationDetailed(null, op, {
      cacheKey: key,
      table: 'robots',
      resourceKey: 'robots_api',
    });
    assert.equal(calls, 1);
    assert.equal(first.cache?.status, 'miss');
    assert.equal(first.originCalled, true);
    assert.equal(first.throttle, 'allowed');
    assert.equal(second.cache?.status, 'hit');
    assert.equal(second.cache?.tier, 'memory');
    assert.equal(second.originCalled, false);
    assert.deepEqual(second.value, first.value);
    // Another user's key is another entry.
    await instance.executeOptimizedOperation(null, op, {
      cacheKey: userKey('user-2', 'robots', 'list'),
    });
    assert.equal(calls, 2);
  });
});

Deno.test('optimizer: a supabase-js error result is retried when transient, returned as is, never cached', async () => {
  const { instance, metrics } = optimizer({ maxRetryAttempts: 3 });
  await closing(instance, async () => {
    let calls = 0;
    const failing = () => {
      calls++;
      return Promise.resolve({ data: null, error: { message: 'upstream', status: 503 } });
    };
    const result = await instance.executeOptimizedOperation(null, failing, { cacheKey: 'pub:x' });
    assert.deepEqual(result, { data: null, error: { message: 'upstream', status: 503 } });
    assert.equal(calls, 3, 'three attempts');
    // Not cached: the next call reaches the origin again.
    const ok = await instance.executeOptimizedOperation(
      null,
      () => Promise.resolve({ data: [1], error: null }),
      { cacheKey: 'pub:x' },
    );
    assert.deepEqual(ok, { data: [1], error: null });
    assert.equal(metrics.counter('retry.calls') >= 2, true);
  });
});

Deno.test('optimizer: a permanent error (404) is not retried; a non-idempotent write is tried once', async () => {
  const { instance } = optimizer({ maxRetryAttempts: 4 });
  await closing(instance, async () => {
    let reads = 0;
    const notFound = Object.assign(new Error('no such robot'), { status: 404 });
    await assert.rejects(
      instance.executeOptimizedOperation(null, () => {
        reads++;
        return Promise.reject(notFound);
      }, { cacheKey: 'pub:robot:404' }),
      (e: unknown) => e === notFound,
    );
    assert.equal(reads, 1);
    let writes = 0;
    await assert.rejects(
      instance.executeOptimizedOperation(null, () => {
        writes++;
        return Promise.reject(Object.assign(new Error('reset'), { code: 'ECONNRESET' }));
      }, { idempotent: false }),
    );
    assert.equal(writes, 1);
  });
});

Deno.test('optimizer: transient failures are retried up to maxRetryAttempts with every cause kept', async () => {
  const { instance } = optimizer({ maxRetryAttempts: 3 });
  await closing(instance, async () => {
    let calls = 0;
    const error = await instance.executeWithIntelligentRetry(() => {
      calls++;
      return Promise.reject(Object.assign(new Error(`reset ${calls}`), { code: 'ECONNRESET' }));
    }).catch((e) => e);
    assert.equal(calls, 3);
    assert.ok(error instanceof RetryExhaustedError);
    assert.deepEqual(error.attempts.map((a) => (a.error as Error).message), [
      'reset 1',
      'reset 2',
      'reset 3',
    ]);
    let flaky = 0;
    const value = await instance.executeWithIntelligentRetry(() =>
      ++flaky < 2
        ? Promise.reject(Object.assign(new Error('503'), { status: 503 }))
        : Promise.resolve('ok')
    );
    assert.equal(value, 'ok');
    assert.equal(flaky, 2);
  });
});

Deno.test('optimizer: an open breaker fails fast, and the cache serves a stale entry instead', async () => {
  const { instance } = optimizer({
    maxRetryAttempts: 1,
    predictiveCacheTTL: 1000,
    cache: { staleIfErrorMs: 60_000, staleWhileRevalidateMs: 0 },
    resilience: { breakerMinimumCalls: 2, breakerFailureRateThreshold: 0.5, breakerOpenMs: 60_000 },
  });
  await closing(instance, async () => {
    const down = () =>
      Promise.reject(Object.assign(new Error('db down'), { code: 'ECONNREFUSED' }));
    // A cached value with a tiny fresh window, then let it go stale.
    await instance.executeOptimizedOperation(null, () => Promise.resolve('v1'), {
      cacheKey: 'pub:stale',
      resourceKey: 'db',
      ttlMs: 5,
    });
    await new Promise((r) => setTimeout(r, 60));
    for (let i = 0; i < 2; i++) {
      await instance.executeOptimizedOperation(null, down, { resourceKey: 'db' }).catch(() => {});
    }
    let reached = false;
    await assert.rejects(
      instance.executeOptimizedOperation(null, () => {
        reached = true;
        return Promise.resolve('never');
      }, { resourceKey: 'db' }),
      CircuitOpenError,
    );
    assert.equal(reached, false, 'open breaker does not call the origin');
    const served = await instance.executeOptimizedOperationDetailed(
      null,
      () => Promise.resolve('v2'),
      { cacheKey: 'pub:stale', resourceKey: 'db' },
    );
    assert.equal(served.value, 'v1');
    assert.equal(served.cache?.status, 'stale');
    assert.equal(served.cache?.reason, 'stale-if-error');
  });
});

Deno.test('optimizer: the throttle delays then rejects origin calls over the limit, with a reason', async () => {
  const { instance, metrics } = optimizer({
    resilience: { throttleLimit: 2, throttleWindowMs: 60_000, throttleMaxWaitMs: 5 },
  });
  await closing(instance, async () => {
    const op = () => Promise.resolve('ok');
    assert.equal(await instance.executeWithAdaptiveThrottling(op, 'quotes'), 'ok');
    assert.equal(await instance.executeWithAdaptiveThrottling(op, 'quotes'), 'ok');
    const error = await instance.executeWithAdaptiveThrottling(op, 'quotes').catch((e) => e);
    assert.ok(error instanceof ThrottledError);
    assert.equal(error.reason, 'rate-limit');
    assert.ok(error.retryAfterMs > 0);
    // Another resource has its own window.
    assert.equal(await instance.executeWithAdaptiveThrottling(op, 'robots'), 'ok');
    assert.ok(instance.getMetrics().adaptiveThrottlingRate > 0);
    assert.ok(metrics.counter('throttle.calls') >= 4);
  });
});

Deno.test('optimizer: cache hits do not spend the resource rate window', async () => {
  const { instance } = optimizer({
    resilience: { throttleLimit: 1, throttleWindowMs: 60_000, throttleMaxWaitMs: 0 },
  });
  await closing(instance, async () => {
    for (let i = 0; i < 5; i++) {
      const value = await instance.executeOptimizedOperation(null, () => Promise.resolve(i), {
        cacheKey: 'pub:hot',
        resourceKey: 'r',
      });
      assert.equal(value, 0);
    }
    await assert.rejects(
      instance.executeOptimizedOperation(null, () => Promise.resolve('miss'), {
        cacheKey: 'pub:cold',
        resourceKey: 'r',
      }),
      ThrottledError,
    );
  });
});

Deno.test('optimizer: every flag off turns its layer off; dedup still shares in-flight calls', async () => {
  const { instance } = optimizer({
    enablePredictiveCaching: false,
    enableAdaptiveThrottling: false,
    enableIntelligentRetries: false,
    enableResourcePooling: false,
  });
  await closing(instance, async () => {
    let calls = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => release = r);
    const op = async () => {
      calls++;
      await gate;
      return calls;
    };
    const all = Promise.all(
      [1, 2, 3].map(() =>
        instance.executeOptimizedOperationDetailed(null, op, { cacheKey: 'pub:k' })
      ),
    );
    release();
    const results = await all;
    assert.equal(calls, 1, 'concurrent identical calls deduplicated');
    assert.deepEqual(results.map((r) => r.value), [1, 1, 1]);
    assert.equal(results[0].cache, undefined);
    assert.equal(results[0].throttle, 'disabled');
    // Not cached: a later call runs again.
    await instance.executeOptimizedOperation(null, op, { cacheKey: 'pub:k' });
    assert.equal(calls, 2);
    // Retries off: one attempt.
    let attempts = 0;
    await instance.executeWithIntelligentRetry(() => {
      attempts++;
      return Promise.reject(Object.assign(new Error('x'), { code: 'ECONNRESET' }));
    }).catch(() => {});
    assert.equal(attempts, 1);
  });
});

Deno.test('optimizer: getMetrics reports the spec metrics from real counts', async () => {
  const { instance } = optimizer();
  await closing(instance, async () => {
    const slow = () => new Promise<string>((r) => setTimeout(() => r('v'), 5));
    await instance.executeOptimizedOperation(null, slow, { cacheKey: 'pub:m' });
    for (let i = 0; i < 3; i++) {
      await instance.executeOptimizedOperation(null, slow, { cacheKey: 'pub:m' });
    }
    const m = instance.getMetrics();
    assert.equal(m.operations, 4);
    assert.equal(m.originCalls, 1);
    assert.equal(m.predictiveCacheHitRate, 0.75);
    assert.ok(
      m.totalOptimizationGain > 0.5 && m.totalOptimizationGain < 1,
      `${m.totalOptimizationGain}`,
    );
    assert.equal(m.retrySuccessRate, 1);
  });
});
