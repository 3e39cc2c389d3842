/**
 * What the manager's rules read and produce: evidence, candidate changes, recommendations, the
 * rule context, and the signals every rule shares (computed once per evaluation).
 *
 * @module
 */
import type { WindowFigures, WindowName } from '../observe.ts';
import type { ManagerBounds, ManagerThresholds } from '../options.ts';
import type { AppliedSettings } from '../settings.ts';

/** One measured value compared with its threshold. */
export interface Evidence {
  metric: string;
  value: number;
  comparison: '<' | '>' | '>=';
  threshold: number;
  window: WindowName;
}

/** What the manager can change. */
export type ChangeArea = 'cache' | 'prewarm' | 'edge' | 'pool' | 'throttle';
/** What a change serves (`optimizeSystem` ranks by it). */
export type Goal = 'performance' | 'cost' | 'reliability';

/** A change a rule proposes: `setting` is the path in the applied settings. */
export interface CandidateChange {
  area: ChangeArea;
  setting: string;
  change: string;
  from: number | string[] | null;
  to: number | string[];
  estimatedGainPercent: number;
  gainBasis: string;
  goals: Goal[];
  evidence: Evidence[];
}

/** A recommendation. */
export interface Recommendation {
  id: string;
  kind: 'correlation' | 'single-area';
  area: 'cross-system' | 'cache' | 'database' | 'edge' | 'resilience';
  title: string;
  severity: 'low' | 'medium' | 'high' | 'critical';
  evidence: Evidence[];
  action: string;
  changes: CandidateChange[];
  /** `create index` statements from the query-plan advisor. */
  indexStatements?: string[];
}

/** What the rules read besides the observation. */
export interface RuleContext {
  thresholds: ManagerThresholds;
  bounds: ManagerBounds;
  settings: AppliedSettings;
  /** The configuration's base TTL, ms. */
  baseTtlMs: number;
  /** The configuration's throttle limit and pool size. */
  baseThrottleLimit: number;
  basePoolSize: number;
  /** Default warming interval, ms. @default 300_000 */
  baseWarmingIntervalMs?: number;
  /** Throttle and pool resources this isolate knows. */
  resources: string[];
  /** The query-plan advisor's statements. */
  indexAdvice: { sql: string; reason?: string }[];
  /** Breakers currently open. */
  openBreakers: string[];
}

/** One evaluation's input: the decision window's figures, and what several rules test. */
export interface RuleInput {
  /** The figures of the window the rules decide on ({@link RULE_WINDOW}). */
  f: WindowFigures;
  t: ManagerThresholds;
  ctx: RuleContext;
  /** Enough cache requests to trust the hit rate. */
  enoughCache: boolean;
  /** Enough operations to trust the error rate. */
  enoughOps: boolean;
  slowOrigin: boolean;
  lowHit: boolean;
  coldStarts: boolean;
}

/** The window every rule decides on. */
export const RULE_WINDOW: WindowName = '15m';

/** A share (0..1) as a percentage with two decimals. */
export const pct = (n: number): number => Math.round(n * 10_000) / 100;

/**
 * Evidence of the decision window.
 *
 * @example
 * ```ts
 * ev('cache.hit_rate', 0.31, '<', 0.5); // { metric, value, comparison, threshold, window: '15m' }
 * ```
 */
export const ev = (
  metric: string,
  value: number,
  comparison: Evidence['comparison'],
  threshold: number,
): Evidence => ({ metric, value, comparison, threshold, window: RULE_WINDOW });
