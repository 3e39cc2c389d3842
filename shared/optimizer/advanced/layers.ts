/**
 * Layers 2 to 6 of `executeOptimizedOperation`, around the origin: throttle, breaker, retry,
 * bulkhead, then the operation itself. A supabase-js `{ data, error }` result whose error is
 * set travels through the layers as a {@link ResultCarrier}: it counts against the breaker and
 * is never cached.
 *
 * The cache (layer 1) sits in front of these layers, although issue #4 lists throttle and
 * breaker before it, because they protect the resource, and a cache hit does not touch the
 * resource: in front of the cache, every hit would count as a success of the resource (an origin
 * that is down behind a 90% hit rate never reaches the breaker's failure ratio), an open breaker
 * would refuse hits that need no origin, cache-hit latencies would dilute the throttle's latency
 * signal, and a memory-tier hit would cost a Redis round trip for the rate window on Upstash. So
 * a memory hit touches no network, a Redis-tier hit costs one round trip, and the rate window
 * meters the calls that reach the origin.
 *
 * @module
 */
import type { OptimizationConfig } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import {
  type AdaptiveThrottle,
  type BulkheadRegistry,
  type CircuitBreakerRegistry,
  classifyError,
  resultError,
  type RetryPolicy,
  signalsOverload,
} from '../resilience/mod.ts';
import type { OptimizedResult } from './types.ts';

/** Carries a `{ data, error }` result whose error must not be cached, through the layers. */
export class ResultCarrier extends Error {
  override name = 'ResultCarrier';
  constructor(readonly result: unknown, readonly inner: unknown) {
    super('operation returned an error result');
  }
}

/**
 * Whether a failure counts against the resource's breaker: transient errors only, and a
 * `{ data, error }` result by its error, as a thrown one would.
 *
 * @example
 * ```ts
 * new CircuitBreakerRegistry(config, { isFailure: countsAgainstResource });
 * ```
 */
export function countsAgainstResource(error: unknown): boolean {
  return classifyError(error instanceof ResultCarrier ? error.inner : error).transient;
}

/** The resilience parts of the optimizer the layers run through. */
export interface OriginLayers {
  readonly config: OptimizationConfig;
  readonly metrics: Metrics;
  readonly retry: RetryPolicy;
  readonly breakers: CircuitBreakerRegistry;
  readonly throttle: AdaptiveThrottle;
  readonly pools: BulkheadRegistry;
}

/** One call's place in the layers. */
export interface OriginCall {
  /** Throttle, breaker and pool key. */
  resourceKey: string;
  /** Non-idempotent operations are never retried. @default true */
  idempotent?: boolean;
  /** Stops waiting, retrying and the attempt in flight. */
  signal?: AbortSignal;
  /** Told how the throttle admitted the call (not called when throttling is off). */
  onAdmitted?: (admission: OptimizedResult<unknown>['throttle']) => void;
}

/**
 * Runs `operation` through the enabled layers: an open breaker answers first (503, no token
 * spent), then the throttle admits it, the breaker records the outcome of the retried, pooled
 * attempts; the origin time is observed as `optimizer.origin.ms` and fed to the throttle.
 *
 * @example
 * ```ts
 * const rows = await throughLayers(optimizer, () => loadRobots(), { resourceKey: 'robots_api' });
 * ```
 */
export async function throughLayers<T>(
  layers: OriginLayers,
  operation: () => Promise<T>,
  call: OriginCall,
): Promise<T> {
  const { config } = layers;
  const { resourceKey, signal } = call;
  // The last attempt's result, to hand back a `{ data, error }` result whose retries ran out.
  let last: { value: T } | undefined;
  const pooled = config.enableResourcePooling
    ? () => layers.pools.run(resourceKey, operation, signal)
    : operation;
  const attempt = async () => {
    last = undefined;
    const value = await pooled();
    last = { value };
    return value;
  };
  const retried = config.enableIntelligentRetries
    ? () =>
      layers.retry.execute(attempt, {
        resourceKey,
        idempotent: call.idempotent ?? true,
        signal,
      })
    : attempt;
  const guarded = async () => {
    let value: T;
    try {
      value = await retried();
    } catch (error) {
      if (last && resultError(last.value) !== undefined) {
        throw new ResultCarrier(last.value, resultError(last.value));
      }
      throw error;
    }
    const error = resultError(value);
    // An error result must not be cached, and counts against the breaker.
    if (error !== undefined) throw new ResultCarrier(value, error);
    return value;
  };
  // An open breaker answers before the throttle: 503, not 429, and no token spent.
  layers.breakers.get(resourceKey).rejectIfOpen();
  const permit = config.enableAdaptiveThrottling
    ? await layers.throttle.acquire(resourceKey, signal)
    : undefined;
  if (permit) call.onAdmitted?.(permit.admission);
  const t0 = performance.now();
  let failed = false;
  try {
    return await layers.breakers.execute(resourceKey, guarded);
  } catch (error) {
    // Overload shrinks the adaptive limits; a resource that is down is the breaker's.
    failed = signalsOverload(error instanceof ResultCarrier ? error.inner : error);
    throw error;
  } finally {
    const originMs = performance.now() - t0;
    layers.metrics.observe('optimizer.origin.ms', originMs);
    if (permit) layers.throttle.release(permit, originMs, failed);
  }
}
