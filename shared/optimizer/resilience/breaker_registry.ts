/**
 * The breakers of an isolate, one per resource key (`breaker.ts` holds one breaker).
 *
 * @module
 */
import { KeyedRegistry } from './registry.ts';
import {
  type BreakerCallOptions,
  type BreakerDeps,
  type BreakerState,
  CircuitBreaker,
} from './breaker.ts';
import { parseResilienceOptions, type ResilienceOptions } from './options.ts';

/**
 * The breakers of an isolate, one per resource key, sharing a store and options.
 *
 * @example
 * ```ts
 * const breakers = new CircuitBreakerRegistry(config, { store: getStore() });
 * const robots = await breakers.execute('robots-db', () => loadRobots(), {
 *   fallback: () => staleRobots,
 * });
 * ```
 */
export class CircuitBreakerRegistry {
  readonly #config: { resilience?: Partial<ResilienceOptions> };
  readonly #deps: BreakerDeps;
  readonly #breakers = new KeyedRegistry(
    (resourceKey) => new CircuitBreaker(resourceKey, this.#config, this.#deps),
  );

  constructor(config: { resilience?: Partial<ResilienceOptions> } = {}, deps: BreakerDeps = {}) {
    this.#config = { resilience: parseResilienceOptions(config.resilience ?? {}) };
    this.#deps = { ...deps, isolateId: deps.isolateId ?? crypto.randomUUID() };
  }

  /** The breaker of `resourceKey`, created on first use. */
  get(resourceKey: string): CircuitBreaker {
    return this.#breakers.get(resourceKey);
  }

  /** Runs `operation` through the breaker of `resourceKey`. */
  execute<T>(
    resourceKey: string,
    operation: () => Promise<T>,
    options?: BreakerCallOptions<T>,
  ): Promise<T> {
    return this.get(resourceKey).execute(operation, options);
  }

  /** Every breaker's local state, for the status endpoint. */
  states(): Record<string, BreakerState> {
    const out: Record<string, BreakerState> = {};
    for (const [key, breaker] of this.#breakers.entries()) out[key] = breaker.state;
    return out;
  }
}
