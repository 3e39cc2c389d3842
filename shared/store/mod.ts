/**
 * The key-value port and its adapters. {@link storeFromEnv} picks the adapter the way every
 * function does: Upstash when `UPSTASH_REDIS_REST_URL` and `UPSTASH_REDIS_REST_TOKEN` are set,
 * the embedded memory store otherwise.
 *
 * The Upstash adapter (`./upstash.ts`, with `@upstash/redis`) is loaded only when the process
 * starts with both variables set (a top-level `await import()`, a string literal the deploy
 * bundles): on the memory store a cold start does not pay for it. Import `UpstashStore` from
 * `./upstash.ts`; code that names Upstash later (its own environment reader, or variables set
 * after start) calls {@link loadUpstashAdapter} first.
 *
 * @module
 */
import { MemoryStore } from './memory.ts';
import type { KeyValueStore } from './types.ts';
import { type EnvReader, processEnv } from '../runtime/env.ts';

export {
  type KeyValueStore,
  type MemoryScriptContext,
  type ScoredMember,
  type SetOptions,
  type StoreBackend,
  type StoreCommand,
  type StoreScript,
  StoreUnavailableError,
  type ZRangeOptions,
} from './types.ts';
export { MemoryStore, type MemoryStoreOptions } from './memory.ts';
export type { UpstashStore, UpstashStoreOptions } from './upstash.ts';

// Compatibility: the environment reader lives in shared/runtime/env.ts.
export { type EnvReader, processEnv } from '../runtime/env.ts';

type UpstashModule = typeof import('./upstash.ts');

const namesUpstash = (env: EnvReader) =>
  Boolean(env('UPSTASH_REDIS_REST_URL') && env('UPSTASH_REDIS_REST_TOKEN'));

let upstashModule: UpstashModule | undefined = namesUpstash(processEnv)
  ? await import('./upstash.ts')
  : undefined;

/** Whether this isolate has loaded the Upstash adapter (and `@upstash/redis`). */
export function upstashAdapterLoaded(): boolean {
  return upstashModule !== undefined;
}

/**
 * Loads the Upstash adapter, for {@link storeFromEnv} with an environment that names Upstash when
 * the process did not start with it.
 *
 * @example
 * ```ts
 * await loadUpstashAdapter();
 * const store = storeFromEnv((name) => settings[name]);
 * ```
 */
export async function loadUpstashAdapter(): Promise<void> {
  upstashModule ??= await import('./upstash.ts');
}

/**
 * Builds the store the environment names.
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | `UPSTASH_REDIS_REST_URL`, `UPSTASH_REDIS_REST_TOKEN` | unset | both set: Upstash Redis |
 * | `UPSTASH_TIMEOUT_MS` | `250` | bound of one Upstash call |
 * | `MEMORY_STORE_MAX_ENTRIES` | `50000` | keys the memory store holds |
 *
 * @example
 * ```ts
 * const store = storeFromEnv(); // MemoryStore with no environment
 * ```
 */
export function storeFromEnv(env: EnvReader = processEnv): KeyValueStore {
  const url = env('UPSTASH_REDIS_REST_URL');
  const token = env('UPSTASH_REDIS_REST_TOKEN');
  if (url && token) {
    if (!upstashModule) {
      throw new Error(
        'UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN name Upstash, but the process did ' +
          'not start with them: await loadUpstashAdapter() before building the store',
      );
    }
    const timeout = env('UPSTASH_TIMEOUT_MS');
    return new upstashModule.UpstashStore({
      url,
      token,
      timeoutMs: timeout ? Number(timeout) : undefined,
    });
  }
  if (url || token) {
    throw new TypeError(
      'UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN must be set together: only ' +
        (url ? 'UPSTASH_REDIS_REST_URL' : 'UPSTASH_REDIS_REST_TOKEN') + ' is set',
    );
  }
  const max = env('MEMORY_STORE_MAX_ENTRIES');
  return new MemoryStore({ maxEntries: max ? Number(max) : undefined });
}

let isolateStore: KeyValueStore | undefined;

/** The isolate's store, created once on first use (clients live outside request handlers). */
export function getStore(): KeyValueStore {
  return isolateStore ??= storeFromEnv();
}

/** Replaces the isolate's store (tests, dev server). */
export function setStore(store: KeyValueStore | undefined): void {
  isolateStore = store;
}
