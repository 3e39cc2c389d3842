/**
 * Advice-only rules: they change no setting. Retries that rarely recover (tune the retry
 * options), and hot filters that scan sequentially (add the query-plan advisor's indexes in a
 * migration: DDL never runs from a run).
 *
 * @module
 */
import { ev, type Recommendation, type RuleInput } from './types.ts';

/**
 * Most retried calls fail anyway: retries add load without recovering.
 *
 * @example
 * ```ts
 * retryTuningRule(input)?.action; // 'lower maxRetryAttempts ...'
 * ```
 */
export function retryTuningRule({ f, t }: RuleInput): Recommendation | undefined {
  if (!(f.retryRetried >= 5 && f.retryExhausted / f.retryRetried > t.retryExhaustedRate)) {
    return undefined;
  }
  const rate = Math.round((f.retryExhausted / f.retryRetried) * 10_000) / 10_000;
  return {
    id: 'retry-tuning',
    kind: 'single-area',
    area: 'resilience',
    title: 'Most retried calls fail anyway: retries add load without recovering',
    severity: 'medium',
    evidence: [ev('retry.exhausted_rate', rate, '>', t.retryExhaustedRate)],
    action: 'lower maxRetryAttempts (QF_MAX_RETRY_ATTEMPTS) or raise retryBackoffBase',
    changes: [],
  };
}

/**
 * Slow origin or sequential scans, and the advisor has index statements: add them.
 *
 * @example
 * ```ts
 * queryIndexesRule(input)?.indexStatements; // ['create index concurrently ...']
 * ```
 */
export function queryIndexesRule({ f, t, ctx, slowOrigin }: RuleInput): Recommendation | undefined {
  if (!(ctx.indexAdvice.length && (slowOrigin || f.seqScans > 0))) return undefined;
  return {
    id: 'query-indexes',
    kind: 'single-area',
    area: 'database',
    title: 'Hot filters scan sequentially: add the advised indexes',
    severity: slowOrigin ? 'high' : 'medium',
    evidence: [
      ev('optimizer.origin.p95_ms', f.originP95Ms, '>', t.slowOriginP95Ms),
      ev('queryplan.seq_scans', f.seqScans, '>', 0),
    ],
    action: 'add the statements to a migration of their own (create index concurrently)',
    changes: [],
    indexStatements: ctx.indexAdvice.map((a) => a.sql),
  };
}
