/**
 * What the manager's steps share: its collaborators and store keys (one {@link ManagerContext}
 * per manager), and the reads every step starts from (this isolate's counts flushed, then the
 * shared minutes of the store, older minutes from Postgres).
 *
 * @module
 */
import type { Database } from '../../db/types.ts';
import type { KeyValueStore } from '../../store/types.ts';
import type { EnvReader } from '../../runtime/env.ts';
import type { AdvancedBackendOptimizer } from '../advanced.ts';
import { readSharedBuckets, type SharedBucket } from '../metrics.ts';
import { type Observation, observationOf, WINDOWS } from './observe.ts';
import type { ManagerOptions } from './options.ts';
import { bucketsFromPostgres } from './records.ts';
import type { AppliedSettingsReader, SettingsStore } from './settings.ts';

/** The manager's collaborators and keys, handed to each of its steps. */
export interface ManagerContext {
  optimizer: AdvancedBackendOptimizer;
  options: ManagerOptions;
  /** The reader the optimizer uses; a run adopts what it writes. */
  settings: AppliedSettingsReader;
  settingsStore: SettingsStore;
  store: KeyValueStore;
  database: () => Promise<Database>;
  now: () => number;
  env: EnvReader;
  fetch: typeof fetch;
  /** Where the metric buckets are (`<ns>metrics:`). */
  metricsPrefix: string;
  /** The `scope` of `optimization_metrics` rows ('global' for the default namespace). */
  scope: string;
  /** The mark of the last aggregation into Postgres. */
  aggregatedKey: string;
}

/** Width of a metrics bucket, ms (Metrics.flushTo's default). */
export const BUCKET_MS = 60_000;
/**
 * How far back the observation reads the store: the 15-minute window, the one before it, and
 * one bucket of margin. Older minutes come from Postgres.
 */
export const STORE_WINDOW_MS: number = 2 * WINDOWS['15m'] + BUCKET_MS;

/** Two decimals. */
export const r2 = (n: number): number => Math.round(n * 100) / 100;
/** An error's message, for the `errors` of a result. */
export const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * The store's recent minutes (the last {@link STORE_WINDOW_MS}, this isolate's counts flushed
 * first so a step sees them without waiting for the next flush), and the first minute they
 * cover: older minutes are Postgres's.
 *
 * @example
 * ```ts
 * const { now, recent, firstRecent } = await recentBuckets(ctx);
 * ```
 */
export async function recentBuckets(
  ctx: ManagerContext,
): Promise<{ now: number; recent: SharedBucket[]; firstRecent: number }> {
  await ctx.optimizer.metrics.flushTo(ctx.store, { prefix: ctx.metricsPrefix }).catch(() => {});
  const now = ctx.now();
  const recent = await readSharedBuckets(ctx.store, {
    now: () => now,
    windowMs: STORE_WINDOW_MS,
    prefix: ctx.metricsPrefix,
  });
  const firstRecent = now - (now % BUCKET_MS) -
    Math.floor(STORE_WINDOW_MS / BUCKET_MS) * BUCKET_MS;
  return { now, recent, firstRecent };
}

/**
 * Observes the shared metrics (every window at once): the store's recent minutes, older ones
 * from `optimization_metrics` (what earlier runs aggregated), so a run costs about 32 store
 * commands plus one per writer and minute, not 120 minutes' worth.
 *
 * @example
 * ```ts
 * const observation = await observeShared(ctx, db);
 * observation.windows['15m'].hitRate;
 * ```
 */
export async function observeShared(ctx: ManagerContext, db?: Database): Promise<Observation> {
  const { now, recent, firstRecent } = await recentBuckets(ctx);
  let older: Awaited<ReturnType<typeof bucketsFromPostgres>> = [];
  const database = db ?? await ctx.database().catch(() => undefined);
  if (database) {
    older = await bucketsFromPostgres(database, now - 2 * WINDOWS['1h'], firstRecent, ctx.scope)
      .catch(() => []);
  }
  return observationOf([...older, ...recent], now);
}

/**
 * The resource keys this isolate's pools and breakers know, sorted.
 *
 * @example
 * ```ts
 * knownResources(optimizer); // ['robots_api', 'strategies_api']
 * ```
 */
export function knownResources(optimizer: AdvancedBackendOptimizer): string[] {
  return [
    ...new Set([
      ...Object.keys(optimizer.pools.utilization()),
      ...Object.keys(optimizer.breakers.states()),
    ]),
  ].sort();
}
