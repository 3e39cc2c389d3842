/**
 * What the manager's runs return: the applied changes, the result of an optimize run and of a
 * warming run, the options of `optimizeSystem`, and why a recommendation cannot be applied.
 *
 * @module
 */
import type { PrewarmReport } from '../cache/mod.ts';
import type { AlertRecord } from './records.ts';
import type { CandidateChange, Evidence, Goal, Recommendation } from './rules.ts';
import type { IntervalDecision, WarmupEntry } from './warmup.ts';

/** One change the manager applied. */
export interface AppliedChange {
  area: CandidateChange['area'];
  change: string;
  setting: string;
  from: CandidateChange['from'];
  to: CandidateChange['to'];
  evidence: Evidence[];
  estimatedGainPercent: number;
  gainBasis: string;
}

/** The result of a run (the spec's shape, plus what an operator needs to follow it). */
export interface OptimizationResult {
  success: boolean;
  optimizationsApplied: AppliedChange[];
  estimatedGainPercent: number;
  /** How the estimate was computed. */
  gainMethod: string;
  runId: string | null;
  recommendations: Recommendation[];
  alerts: AlertRecord[];
  durationMs: number;
  /** What failed, when `success` is false or a step was skipped. */
  errors: string[];
  /** `optimizeSystem` only: why it stopped. */
  stoppedBecause?: 'target-reached' | 'time-bound' | 'no-more-changes';
  /** What the run also did: metric rows aggregated, rows pruned, invalidations drained. */
  maintenance: Record<string, unknown>;
}

/** The default warming interval (the cron schedule's 5 minutes), ms. */
export const DEFAULT_WARMING_INTERVAL_MS = 300_000;

/** What a warming run reports. */
export interface WarmupReport {
  success: boolean;
  /** One entry per function. */
  functions: WarmupEntry[];
  prewarm: { requested: number; warmed: string[]; skipped: PrewarmReport['skipped'] };
  interval: IntervalDecision;
  /** Pending cache invalidations drained (`{ drained, pending }`), null without a database. */
  invalidations: unknown;
  runId: string | null;
  durationMs: number;
  errors: string[];
}

/** Options of {@link BackendOptimizationManager.optimizeSystem}. */
export interface OptimizeSystemOptions {
  /** What to favour. @default 'performance' */
  priority?: Goal;
  /** Time bound of the run, ms. @default 10_000 */
  maxDurationMs?: number;
  /** Stop once the estimated gain reaches this, percent. @default 10 */
  targetGainPercent?: number;
  /** Recorded as the run's trigger. @default 'manual' */
  trigger?: string;
}

/** How an optimize run estimates its gain (recorded with every run). */
export const GAIN_METHOD: string =
  'sum over applied changes of (origin or wait time each change is projected to save, from the ' +
  'measured 15-min figures) / (total operation time of the window), capped at 100; see each ' +
  "change's gainBasis";

/** Why a recommendation cannot be applied. */
export class RecommendationError extends Error {
  /** `not_found`: no current recommendation has the id; `advice_only`: it changes nothing. */
  readonly code: 'not_found' | 'advice_only';
  readonly id: string;
  constructor(code: 'not_found' | 'advice_only', id: string) {
    super(
      code === 'not_found'
        ? `No current recommendation has the id ${JSON.stringify(id.slice(0, 200))}`
        : `Recommendation ${
          JSON.stringify(id.slice(0, 200))
        } is advice only: it has no setting to apply`,
    );
    this.name = 'RecommendationError';
    this.code = code;
    this.id = id;
  }
}
