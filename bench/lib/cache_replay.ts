/**
 * Replays a bench/workload.ts trace against one cache variant, in real time and open loop:
 * sessions start on a fixed schedule whatever the variant's latency, so every variant sees the
 * same requests at (nearly) the same moments. Shared by bench/cache_workload.ts and
 * bench/cache_strategies.ts.
 *
 * @module
 */
import type { KeyValueStore } from '../../shared/store/types.ts';
import type { WorkloadSession } from '../workload.ts';
import type { TraceRequest } from './belady.ts';

/** The origin a variant loads from. */
export type Origin = (key: string) => Promise<unknown>;

/** One cache variant: answers one request and says how it was served. */
export type Variant = (
  key: string,
  dependencies: string[] | undefined,
) => Promise<{ fromCache: boolean; stale?: boolean; prewarmed?: boolean }>;

/** What one replay measured. */
export interface ReplayOutcome {
  /** Per-request latency, ms, in completion order. */
  latencies: number[];
  /** Requests answered from the cache (without waiting for an origin call they started). */
  served: number;
  fresh: number;
  stale: number;
  prewarmed: number;
  foregroundOrigin: number;
  /** Requests in the order they were issued, with issue times (ms from the start). */
  trace: TraceRequest[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Replays `sessions` against `run`.
 *
 * @example
 * ```ts
 * const outcome = await replay(buildWorkload({ sessions: 100 }), plainLru(10, 1000, origin));
 * ```
 */
export async function replay(sessions: WorkloadSession[], run: Variant): Promise<ReplayOutcome> {
  const outcome: ReplayOutcome = {
    latencies: [],
    served: 0,
    fresh: 0,
    stale: 0,
    prewarmed: 0,
    foregroundOrigin: 0,
    trace: [],
  };
  const start = performance.now();
  await Promise.all(sessions.map(async (session) => {
    const wait = session.startMs - (performance.now() - start);
    if (wait > 0) await sleep(wait);
    for (const request of session.requests) {
      if (request.thinkMs > 0) await sleep(request.thinkMs);
      const t0 = performance.now();
      outcome.trace.push({ key: request.key, atMs: t0 - start });
      const r = await run(request.key, request.dependencies);
      outcome.latencies.push(performance.now() - t0);
      if (r.fromCache) {
        outcome.served++;
        if (r.stale) outcome.stale++;
        else outcome.fresh++;
        if (r.prewarmed) outcome.prewarmed++;
      } else outcome.foregroundOrigin++;
    }
  }));
  return outcome;
}

/**
 * A plain LRU with a fixed TTL from load: no dedup, no prediction, no stale serving.
 *
 * @example
 * ```ts
 * const run = plainLru(1000, 1000, (key) => load(key));
 * ```
 */
export function plainLru(maxEntries: number, ttlMs: number, origin: Origin): Variant {
  const map = new Map<string, { value: unknown; expiresAt: number }>();
  return async (key) => {
    const now = Date.now();
    const hit = map.get(key);
    if (hit && hit.expiresAt > now) {
      map.delete(key);
      map.set(key, hit);
      return { fromCache: true };
    }
    const value = await origin(key);
    map.delete(key);
    map.set(key, { value, expiresAt: Date.now() + ttlMs });
    while (map.size > maxEntries) map.delete(map.keys().next().value as string);
    return { fromCache: false };
  };
}

/**
 * A store that keeps counters and leases but drops cached values (keys under `valuePrefix`):
 * the predictive cache with its memory tier only.
 *
 * @example
 * ```ts
 * const store = withoutValueTier(new MemoryStore(), 'qf:cache:v:');
 * ```
 */
export function withoutValueTier(inner: KeyValueStore, valuePrefix: string): KeyValueStore {
  const isValue = (key: string) => key.startsWith(valuePrefix);
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop === 'pipeline') {
        return async (commands: { op: string; key?: string }[]) => {
          const kept = commands.map((c) => !(c.key && isValue(c.key)));
          const replies = await inner.pipeline(
            commands.filter((_, i) => kept[i]) as Parameters<KeyValueStore['pipeline']>[0],
          );
          let j = 0;
          return commands.map((c, i) => kept[i] ? replies[j++] : (c.op === 'set' ? true : null));
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
