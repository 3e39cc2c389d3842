/**
 * Decide and apply: the optimize run (`performPredictiveOptimization`, `optimizeSystem`,
 * `applyRecommendation` differ only in which candidate changes they choose) and its
 * maintenance steps: alerts, metric aggregation into Postgres, pruning, the previous run's
 * measured effect.
 *
 * @module
 */
import type { Database } from '../../db/types.ts';
import { readSharedBuckets } from '../metrics.ts';
import { deliverWebhook, detectDegradations } from './alerts.ts';
import {
  BUCKET_MS,
  knownResources,
  type ManagerContext,
  message,
  observeShared,
  r2,
} from './context.ts';
import { type Observation, WINDOWS } from './observe.ts';
import type { ManagerBounds } from './options.ts';
import {
  aggregateMetrics,
  type AlertRecord,
  finishRun,
  listRuns,
  prune,
  recordAlerts,
  setMeasuredGain,
  setWebhookStatus,
  startRun,
} from './records.ts';
import { type AppliedChange, GAIN_METHOD, type OptimizationResult } from './results.ts';
import {
  type CandidateChange,
  candidateChanges,
  evaluateRules,
  type Goal,
  type Recommendation,
  type RuleContext,
} from './rules.ts';
import { type AppliedSettings, clamp } from './settings.ts';

/** Which candidate changes a run applies, and why it stopped choosing. */
export type ChangeChooser = (
  candidates: CandidateChange[],
  recommendations: Recommendation[],
) => { chosen: CandidateChange[]; stoppedBecause: OptimizationResult['stoppedBecause'] };

/**
 * `optimizeSystem`'s choice: the candidates serving `priority`, best estimated gain first, until
 * the summed gain reaches `targetGainPercent` or `maxDurationMs` has passed since `startedAt`.
 *
 * @example
 * ```ts
 * const choose = chooseForPriority('cost', 10, 5_000, Date.now(), Date.now);
 * ```
 */
export function chooseForPriority(
  priority: Goal,
  targetGainPercent: number,
  maxDurationMs: number,
  startedAt: number,
  now: () => number,
): ChangeChooser {
  return (candidates) => {
    const ranked = candidates.filter((c) => c.goals.includes(priority)).sort((a, b) =>
      b.estimatedGainPercent - a.estimatedGainPercent || a.setting.localeCompare(b.setting)
    );
    const chosen: CandidateChange[] = [];
    let gain = 0;
    for (const c of ranked) {
      if (now() - startedAt >= maxDurationMs) {
        return { chosen, stoppedBecause: 'time-bound' as const };
      }
      if (gain >= targetGainPercent && chosen.length > 0) {
        return { chosen, stoppedBecause: 'target-reached' as const };
      }
      chosen.push(c);
      gain += c.estimatedGainPercent;
    }
    return {
      chosen,
      stoppedBecause: gain >= targetGainPercent && chosen.length
        ? 'target-reached' as const
        : 'no-more-changes' as const,
    };
  };
}

/** Minutes re-aggregated before the last aggregation's mark (late flushes). */
const AGGREGATION_MARGIN_MS = 5 * BUCKET_MS;

function setIn(settings: AppliedSettings, path: string, value: unknown): AppliedSettings {
  const next = structuredClone(settings);
  const dot = path.indexOf('.');
  if (dot < 0) {
    (next as unknown as Record<string, unknown>)[path] = value;
  } else {
    const head = path.slice(0, dot) as 'ttlByPrefix' | 'throttleLimits' | 'poolSizes';
    next[head] = { ...next[head], [path.slice(dot + 1)]: value as number };
  }
  return next;
}

/**
 * One optimize run: records the run, observes, evaluates the rules, applies what `choose` picks
 * (one write of the settings document, every value clamped to its bounds), raises alerts,
 * aggregates the shared metrics into Postgres, prunes, drains pending invalidations, measures
 * the previous run's effect, and records the outcome. Never throws: failures are in `errors`.
 *
 * @example
 * ```ts
 * await runOptimization(ctx, db, 'manual', (candidates) => ({ chosen: candidates, stoppedBecause: undefined }));
 * ```
 */
export async function runOptimization(
  ctx: ManagerContext,
  client: unknown,
  trigger: string,
  choose: ChangeChooser,
  extraDetails: Record<string, unknown> = {},
): Promise<OptimizationResult> {
  const started = ctx.now();
  const t0 = performance.now();
  const errors: string[] = [];
  const maintenance: Record<string, unknown> = {};
  let db: Database | undefined;
  let runId: string | null = null;
  try {
    db = await ctx.database();
    runId = await startRun(db, 'optimize', trigger);
  } catch (error) {
    errors.push(`record: ${message(error)}`);
  }
  let observation: Observation;
  let settings: AppliedSettings;
  try {
    [observation, settings] = await Promise.all([
      observeShared(ctx, db),
      ctx.settingsStore.read(),
    ]);
  } catch (error) {
    errors.push(`observe: ${message(error)}`);
    const result = resultOf(false, [], [], [], runId, t0, errors, maintenance);
    if (db && runId) {
      await finishRun(db, runId, {
        status: 'failed',
        applied: [],
        estimatedGainPercent: null,
        details: { errors, ...extraDetails },
      }).catch(() => {});
    }
    return result;
  }
  const recommendations = evaluateRules(observation, ruleContextOf(ctx, settings, client ?? db));
  const { chosen, stoppedBecause } = choose(candidateChanges(recommendations), recommendations);

  // Apply: one write of the settings document, every value clamped to its bounds.
  const applied: AppliedChange[] = [];
  let next = settings;
  for (const c of chosen) {
    const to = bounded(ctx.options.bounds, c);
    next = setIn(next, c.setting, to);
    applied.push({
      area: c.area,
      change: c.change,
      setting: c.setting,
      from: c.from,
      to,
      evidence: c.evidence,
      estimatedGainPercent: c.estimatedGainPercent,
      gainBasis: c.gainBasis,
    });
  }
  if (applied.length) {
    try {
      const written = await ctx.settingsStore.write(next);
      ctx.settings.adopt(written);
    } catch (error) {
      errors.push(`apply: ${message(error)}`);
      applied.length = 0;
    }
  }
  const estimatedGainPercent = r2(
    Math.min(100, applied.reduce((sum, c) => sum + c.estimatedGainPercent, 0)),
  );

  // Alerts, metrics aggregation, pruning, pending invalidations.
  let alerts: AlertRecord[] = [];
  if (db) {
    try {
      alerts = await raiseAlerts(ctx, db, observation, runId);
    } catch (error) {
      errors.push(`alerts: ${message(error)}`);
    }
    try {
      maintenance.metricRowsAggregated = await aggregate(ctx, db, started);
      maintenance.metricRowsPruned = await prune(db, ctx.options.retention);
    } catch (error) {
      errors.push(`aggregate: ${message(error)}`);
    }
    // Invalidations left pending by isolates that died before their retry got through
    // (the cache's outbox, shared/optimizer/cache/outbox.ts).
    try {
      maintenance.invalidations = await ctx.optimizer.drainInvalidations(db);
    } catch (error) {
      errors.push(`drain invalidations: ${message(error)}`);
    }
    try {
      maintenance.previousRunMeasured = await measurePrevious(db, runId, observation);
    } catch (error) {
      errors.push(`measure: ${message(error)}`);
    }
  }
  const result = resultOf(
    errors.every((e) => !e.startsWith('apply')),
    applied,
    recommendations,
    alerts,
    runId,
    t0,
    errors,
    maintenance,
  );
  result.estimatedGainPercent = estimatedGainPercent;
  if (stoppedBecause) result.stoppedBecause = stoppedBecause;
  if (db && runId) {
    const f = observation.windows['15m'];
    try {
      await finishRun(db, runId, {
        status: errors.length ? 'partial' : 'succeeded',
        applied,
        estimatedGainPercent,
        details: {
          ...extraDetails,
          stoppedBecause,
          gainMethod: GAIN_METHOD,
          recommendations: recommendations.map((r) => ({
            id: r.id,
            severity: r.severity,
            evidence: r.evidence,
          })),
          baseline: {
            operationP95Ms: f.operationP95Ms,
            hitRate: f.hitRate,
            operations: f.operations,
            coldStartRate: f.coldStartRate,
          },
          alerts: alerts.map((a) => a.metric),
          maintenance,
          errors,
          durationMs: result.durationMs,
        },
      });
    } catch (error) {
      result.errors.push(`record: ${message(error)}`);
    }
  }
  return result;
}

/**
 * What the rules read besides the observation: thresholds, bounds, the applied settings, the
 * configuration's bases, this isolate's resources, open breakers, and the client's index advice.
 *
 * @example
 * ```ts
 * const recommendations = evaluateRules(observation, ruleContextOf(ctx, settings, db));
 * ```
 */
export function ruleContextOf(
  ctx: ManagerContext,
  settings: AppliedSettings,
  client: unknown,
): RuleContext {
  const o = ctx.optimizer;
  const resources = knownResources(o);
  return {
    thresholds: ctx.options.thresholds,
    bounds: ctx.options.bounds,
    settings,
    baseTtlMs: o.config.predictiveCacheTTL,
    baseThrottleLimit: o.config.resilience.throttleLimit,
    basePoolSize: o.config.resilience.poolMaxConcurrent,
    resources,
    indexAdvice: client === undefined ? [] : o.queryPlanAdvice(client),
    openBreakers: Object.entries(o.breakers.states()).filter(([, s]) => s !== 'closed').map((
      [k],
    ) => k),
  };
}

/**
 * Writes every minute since the last aggregation (at most a day, the store's retention) into
 * `optimization_metrics`; the current minute is rewritten by the next run (rows are replaced,
 * never added to).
 */
async function aggregate(ctx: ManagerContext, db: Database, now: number): Promise<number> {
  const until = Number(await ctx.store.get<number>(ctx.aggregatedKey)) || 0;
  const windowMs = Math.min(
    86_400_000,
    // Five minutes of margin: a flush retried late still reaches Postgres.
    Math.max(2 * BUCKET_MS, until ? now - until + AGGREGATION_MARGIN_MS : WINDOWS['1h']),
  );
  const buckets = await readSharedBuckets(ctx.store, {
    now: () => now,
    windowMs,
    prefix: ctx.metricsPrefix,
  });
  const rows = await aggregateMetrics(db, buckets, BUCKET_MS, ctx.scope);
  await ctx.store.set(ctx.aggregatedKey, now - (now % BUCKET_MS));
  return rows;
}

/** A change's value within the manager's bounds. */
function bounded(b: ManagerBounds, c: CandidateChange): CandidateChange['to'] {
  if (Array.isArray(c.to)) return c.to.slice(0, b.prewarmKeys);
  if (c.area === 'cache') return clamp(c.to, b.ttlMs);
  if (c.area === 'throttle') return clamp(c.to, b.throttleLimit);
  if (c.area === 'pool') return clamp(c.to, b.poolSize);
  if (c.area === 'edge') return clamp(c.to, b.warmingIntervalMs);
  return c.to;
}

function resultOf(
  success: boolean,
  applied: AppliedChange[],
  recommendations: Recommendation[],
  alerts: AlertRecord[],
  runId: string | null,
  t0: number,
  errors: string[],
  maintenance: Record<string, unknown>,
): OptimizationResult {
  return {
    success,
    optimizationsApplied: applied,
    estimatedGainPercent: 0,
    gainMethod: GAIN_METHOD,
    runId,
    recommendations,
    alerts,
    durationMs: r2(performance.now() - t0),
    errors,
    maintenance,
  };
}

/** Records the degradations the observation shows; new ones go to the alert webhook. */
async function raiseAlerts(
  ctx: ManagerContext,
  db: Database,
  observation: Observation,
  runId: string | null,
): Promise<AlertRecord[]> {
  const seen = detectDegradations(observation, ctx.options.alerts, ctx.options.thresholds);
  const recorded = await recordAlerts(db, seen, runId);
  const url = ctx.env('ALERT_WEBHOOK_URL');
  if (url) {
    await Promise.all(
      recorded.filter((a) => a.isNew).map(async (a) => {
        const status = await deliverWebhook(
          url,
          { type: 'optimizer.alert', alert: { ...a, isNew: undefined } },
          ctx.options.webhookTimeoutMs,
          ctx.fetch,
        );
        a.webhookStatus = status;
        await setWebhookStatus(db, a.id, status);
      }),
    );
  }
  return recorded.map(({ isNew: _isNew, ...a }) => a);
}

/** The previous optimize run's measured effect: its baseline p95 vs now. */
async function measurePrevious(db: Database, runId: string | null, observation: Observation) {
  const [previous] = (await listRuns(db, { limit: 2, kind: 'optimize' })).filter((r) =>
    r.id !== runId && r.finishedAt !== null
  );
  const baseline = previous?.details?.baseline as { operationP95Ms?: number } | undefined;
  const now = observation.windows['15m'];
  if (!previous || !baseline?.operationP95Ms || now.operations === 0) return null;
  const measured = r2(
    ((baseline.operationP95Ms - now.operationP95Ms) / baseline.operationP95Ms) * 100,
  );
  await setMeasuredGain(db, previous.id, measured);
  return { runId: previous.id, measuredGainPercent: measured };
}
