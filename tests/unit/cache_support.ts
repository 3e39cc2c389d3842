/**
 * Helpers of the cache tests: a controllable clock, a store that counts its calls and can fail
 * or hang, and a factory for caches that share one store (isolates).
 *
 * @module
 */
import { MemoryStore } from '../../shared/store/memory.ts';
import type { KeyValueStore, StoreCommand } from '../../shared/store/types.ts';
import { StoreUnavailableError } from '../../shared/store/types.ts';
import {
  type OptimizationConfigInput,
  parseOptimizationConfig,
} from '../../shared/optimizer/config.ts';
import { Metrics } from '../../shared/optimizer/metrics.ts';
import { PredictiveCache } from '../../shared/optimizer/cache/mod.ts';

/** A clock the test moves by hand. */
export class Clock {
  t = 1_700_000_000_000;
  now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

/** Wraps a store: counts calls and pipeline commands; `mode` makes every call fail or hang. */
export function instrumented(inner: KeyValueStore): KeyValueStore & {
  calls: string[];
  commands: StoreCommand[];
  /** Names of the scripts run, in order. */
  scripts: string[];
  mode: 'ok' | 'fail' | 'hang';
} {
  const state = {
    calls: [] as string[],
    commands: [] as StoreCommand[],
    scripts: [] as string[],
    mode: 'ok' as 'ok' | 'fail' | 'hang',
  };
  const proxy = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop in state) return state[prop as keyof typeof state];
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        state.calls.push(String(prop));
        if (prop === 'pipeline') state.commands.push(...(args[0] as StoreCommand[]));
        if (prop === 'runScript') state.scripts.push((args[0] as { name: string }).name);
        if (state.mode === 'fail') {
          return Promise.reject(new StoreUnavailableError('store down (test)'));
        }
        if (state.mode === 'hang') return new Promise(() => {});
        return value.apply(target, args);
      };
    },
    set(_target, prop, value) {
      if (prop === 'mode') state.mode = value;
      return true;
    },
  });
  return proxy as KeyValueStore & typeof state;
}

/** A cache on `store` with a test config (short windows) merged with `config`. */
export function makeCache(
  store: KeyValueStore,
  clock: Clock,
  config: OptimizationConfigInput = {},
  instanceId = 'a',
): { cache: PredictiveCache; metrics: Metrics } {
  const metrics = new Metrics();
  const cache = new PredictiveCache({
    store,
    metrics,
    now: clock.now,
    instanceId,
    config: parseOptimizationConfig({
      predictiveCacheTTL: 10_000,
      ...config,
      cache: {
        staleWhileRevalidateMs: 5_000,
        staleIfErrorMs: 20_000,
        memoryStalenessMs: 1_000,
        popularityFlushMs: 0,
        storeTimeoutMs: 30,
        leasePollMs: 5,
        leaseWaitMs: 100,
        ...config.cache,
      },
    }),
  });
  return { cache, metrics };
}

/** A fresh memory store on the test clock. */
export function memoryStore(clock: Clock): MemoryStore {
  return new MemoryStore({ now: clock.now });
}

/** An origin that counts calls and returns `value` (or the next of `values`). */
export function origin<T>(value: T): (() => Promise<T>) & { calls: number } {
  const fn = Object.assign(async () => {
    fn.calls++;
    await Promise.resolve();
    return value;
  }, { calls: 0 });
  return fn;
}
