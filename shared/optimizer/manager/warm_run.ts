/**
 * The warming run (`POST /warmup`, cron): pings the functions, drains pending invalidations,
 * pre-warms the applied pre-warm list, adapts the warming interval, records a `warm` run.
 *
 * @module
 */
import type { Database } from '../../db/types.ts';
import type { PrewarmReport } from '../cache/mod.ts';
import { type ManagerContext, message, r2 } from './context.ts';
import { finishRun, startRun } from './records.ts';
import { DEFAULT_WARMING_INTERVAL_MS, type WarmupReport } from './results.ts';
import type { AppliedSettings } from './settings.ts';
import { nextWarmingInterval, pingFunctions } from './warmup.ts';

/** Options of a warming run. */
export interface WarmOptions {
  /** The functions to ping. */
  functions: string[];
  /** Where they are served (`<origin>/functions/v1`). */
  baseUrl: string;
  /** Recorded as the run's trigger. @default 'manual' */
  trigger?: string;
  /** Longest wait for one ping, ms. @default pingFunctions' default */
  timeoutMs?: number;
  /** Sent with every ping (the gateway's key). */
  headers?: Record<string, string>;
}

/**
 * The warming run: pings every function, pre-warms the applied pre-warm list through the
 * registered loaders, stores the next interval, records a `warm` run.
 *
 * @example
 * ```ts
 * const report = await runWarmup(ctx, { functions: ['health', 'robots'], baseUrl });
 * report.functions.map((f) => f.coldStart);
 * ```
 */
export async function runWarmup(
  ctx: ManagerContext,
  options: WarmOptions,
): Promise<WarmupReport> {
  const t0 = performance.now();
  const errors: string[] = [];
  let db: Database | undefined;
  let runId: string | null = null;
  try {
    db = await ctx.database();
    runId = await startRun(db, 'warm', options.trigger ?? 'manual');
  } catch (error) {
    errors.push(`record: ${message(error)}`);
  }
  const entries = await pingFunctions(options.functions, options.baseUrl, {
    timeoutMs: options.timeoutMs,
    fetch: ctx.fetch,
    headers: options.headers,
  });
  let invalidations: unknown = null;
  if (db) {
    try {
      invalidations = await ctx.optimizer.drainInvalidations(db);
    } catch (error) {
      errors.push(`drain invalidations: ${message(error)}`);
    }
  }
  const answered = entries.filter((e) => e.ok);
  const cold = answered.filter((e) => e.coldStart).length;
  const m = ctx.optimizer.metrics;
  m.increment('warmup.runs');
  m.increment('warmup.pinged', answered.length);
  m.increment('warmup.cold', cold);
  let settings: AppliedSettings | undefined;
  try {
    settings = await ctx.settingsStore.read();
  } catch (error) {
    errors.push(`settings: ${message(error)}`);
  }
  const keys = (settings?.prewarmKeys ?? []).slice(0, ctx.options.bounds.prewarmKeys);
  let prewarm: PrewarmReport = { warmed: [], skipped: [] };
  if (keys.length) {
    try {
      prewarm = await ctx.optimizer.cache.prewarm(keys);
    } catch (error) {
      errors.push(`prewarm: ${message(error)}`);
    }
  }
  const interval = nextWarmingInterval(
    settings?.warmingIntervalMs ?? DEFAULT_WARMING_INTERVAL_MS,
    cold,
    answered.length,
    ctx.options.bounds.warmingIntervalMs,
  );
  if (settings && interval.nextMs !== interval.previousMs) {
    try {
      // Re-read just before writing: an optimizer run may have written meanwhile.
      const latest = await ctx.settingsStore.read();
      ctx.settings.adopt(
        await ctx.settingsStore.write({ ...latest, warmingIntervalMs: interval.nextMs }),
      );
    } catch (error) {
      errors.push(`interval: ${message(error)}`);
    }
  }
  const report: WarmupReport = {
    success: answered.length === entries.length && errors.length === 0,
    functions: entries,
    prewarm: { requested: keys.length, warmed: prewarm.warmed, skipped: prewarm.skipped },
    interval,
    invalidations,
    runId,
    durationMs: r2(performance.now() - t0),
    errors,
  };
  if (db && runId) {
    try {
      await finishRun(db, runId, {
        status: report.success ? 'succeeded' : answered.length ? 'partial' : 'failed',
        applied: interval.nextMs !== interval.previousMs
          ? [{
            area: 'edge',
            change: 'warming interval',
            setting: 'warmingIntervalMs',
            from: interval.previousMs,
            to: interval.nextMs,
            evidence: [{ metric: 'warmup.cold_start_rate', value: interval.coldStartRate }],
          }]
          : [],
        estimatedGainPercent: null,
        details: {
          functions: entries,
          prewarm: report.prewarm,
          interval,
          errors,
          durationMs: report.durationMs,
        },
      });
    } catch (error) {
      report.errors.push(`record: ${message(error)}`);
    }
  }
  return report;
}
