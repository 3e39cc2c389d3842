/**
 * Record: the manager's Postgres side. Runs in `optimization_runs`, metric buckets aggregated
 * into `optimization_metrics`, alerts in `optimization_alerts`. Every statement runs with the
 * connection's service role (`Database.query`).
 *
 * @module
 */
import type { SqlExecutor } from '../../db/types.ts';
import { type HistogramSnapshot, LATENCY_BUCKETS_MS, type SharedBucket } from '../metrics.ts';

/** A row of `optimization_runs`, as the API returns it. */
export interface RunRecord {
  id: string;
  kind: 'optimize' | 'warm';
  trigger: string;
  status: string;
  startedAt: string;
  finishedAt: string | null;
  applied: unknown[];
  estimatedGainPercent: number | null;
  measuredGainPercent: number | null;
  details: Record<string, unknown>;
}

const iso = (v: unknown) =>
  v instanceof Date ? v.toISOString() : v === null || v === undefined ? null : String(v);
const json = <T>(v: unknown, fallback: T): T =>
  typeof v === 'string' ? JSON.parse(v) : (v ?? fallback) as T;
const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));

function runOf(row: Record<string, unknown>): RunRecord {
  return {
    id: String(row.id),
    kind: row.kind as RunRecord['kind'],
    trigger: String(row.trigger),
    status: String(row.status),
    startedAt: iso(row.started_at)!,
    finishedAt: iso(row.finished_at),
    applied: json(row.applied, []),
    estimatedGainPercent: num(row.estimated_gain_percent),
    measuredGainPercent: num(row.measured_gain_percent),
    details: json(row.details, {}),
  };
}

/**
 * Starts a run row; returns its id.
 *
 * @example
 * ```ts
 * const id = await startRun(db, 'optimize', 'cron');
 * ```
 */
export async function startRun(
  db: SqlExecutor,
  kind: 'optimize' | 'warm',
  trigger: string,
): Promise<string> {
  const [row] = await db.query<{ id: string }>(
    `insert into public.optimization_runs (kind, trigger) values ($1, $2) returning id`,
    [kind, trigger.slice(0, 100) || 'manual'],
  );
  return row.id;
}

/** Finishes a run row. */
export async function finishRun(
  db: SqlExecutor,
  id: string,
  result: {
    status: 'succeeded' | 'failed' | 'partial' | 'skipped';
    applied: unknown[];
    estimatedGainPercent: number | null;
    details: Record<string, unknown>;
  },
): Promise<void> {
  await db.query(
    `update public.optimization_runs
        set finished_at = greatest(now(), started_at), status = $2, applied = $3::text::jsonb,
            estimated_gain_percent = $4, details = $5::text::jsonb
      where id = $1`,
    [
      id,
      result.status,
      JSON.stringify(result.applied),
      result.estimatedGainPercent,
      JSON.stringify(result.details),
    ],
  );
}

/** Sets the measured gain of an earlier run (observed by the next one). */
export async function setMeasuredGain(db: SqlExecutor, id: string, percent: number): Promise<void> {
  await db.query(
    `update public.optimization_runs set measured_gain_percent = $2 where id = $1`,
    [id, percent],
  );
}

/**
 * The latest runs, newest first.
 *
 * @example
 * ```ts
 * const runs = await listRuns(db, { limit: 10, kind: 'optimize' });
 * ```
 */
export async function listRuns(
  db: SqlExecutor,
  options: { limit?: number; kind?: 'optimize' | 'warm' } = {},
): Promise<RunRecord[]> {
  const rows = await db.query(
    `select * from public.optimization_runs
      where ($2::text is null or kind = $2)
      order by started_at desc, id limit $1`,
    [options.limit ?? 20, options.kind ?? null],
  );
  return rows.map(runOf);
}

/**
 * Writes the shared buckets into `optimization_metrics` (scope 'global'), one row per metric and
 * bucket. Each store bucket holds the complete totals of every isolate, so a row is replaced,
 * not added to: aggregating the same bucket twice (every run reads the last hour) changes
 * nothing. Counters become rows with `count` = round(value) and `sum` = value. One statement.
 *
 * @example
 * ```ts
 * const rows = await aggregateMetrics(db, await readSharedBuckets(store));
 * ```
 */
export async function aggregateMetrics(
  db: SqlExecutor,
  buckets: SharedBucket[],
  bucketMs = 60_000,
  scope = 'global',
): Promise<number> {
  const rows: Record<string, unknown>[] = [];
  for (const bucket of buckets) {
    const start = new Date(bucket.start).toISOString();
    for (const [name, value] of Object.entries(bucket.snapshot.counters)) {
      rows.push({
        metric: `counter:${name}`.slice(0, 200),
        bucket_start: start,
        count: Math.round(value),
        sum: value,
        min: null,
        max: null,
        histogram: null,
      });
    }
    for (const [name, h] of Object.entries(bucket.snapshot.histograms)) {
      rows.push({
        metric: `histogram:${name}`.slice(0, 200),
        bucket_start: start,
        count: h.count,
        sum: h.sum,
        min: h.min,
        max: h.max,
        histogram: `{${h.buckets.join(',')}}`,
      });
    }
  }
  if (rows.length === 0) return 0;
  await db.query(
    `insert into public.optimization_metrics as m
       (metric, scope, bucket_start, bucket_width_ms, count, sum, min, max, histogram)
     select r.metric, $3, r.bucket_start, $2, r.count, r.sum, r.min, r.max,
            coalesce(r.histogram::bigint[], array_fill(0::bigint, array[18]))
       from jsonb_to_recordset($1::text::jsonb) as r(
         metric text, bucket_start timestamptz, count bigint, sum double precision,
         min double precision, max double precision, histogram text)
     on conflict (metric, scope, bucket_start) do update set
       count = excluded.count, sum = excluded.sum, min = excluded.min, max = excluded.max,
       histogram = excluded.histogram, updated_at = now()`,
    [JSON.stringify(rows), bucketMs, scope],
  );
  return rows.length;
}

/**
 * The aggregated buckets of `[fromMs, beforeMs)` back from `optimization_metrics`, as
 * {@link SharedBucket}s (the observation's older part: the store serves the recent minutes).
 *
 * @example
 * ```ts
 * const older = await bucketsFromPostgres(db, Date.now() - 7_200_000, Date.now() - 1_860_000);
 * ```
 */
export async function bucketsFromPostgres(
  db: SqlExecutor,
  fromMs: number,
  beforeMs: number,
  scope = 'global',
  /** Only these metric rows (`counter:<name>`, `histogram:<name>`); all when absent. */
  metrics?: readonly string[],
): Promise<SharedBucket[]> {
  if (beforeMs <= fromMs) return [];
  const rows = await db.query<{
    metric: string;
    start_ms: unknown;
    count: unknown;
    sum: unknown;
    min: unknown;
    max: unknown;
    histogram: unknown;
  }>(
    `select metric, (extract(epoch from bucket_start) * 1000)::bigint as start_ms, count, sum,
            min, max, histogram::text as histogram
       from public.optimization_metrics
      where scope = $3 and bucket_start >= $1::text::timestamptz
        and bucket_start < $2::text::timestamptz
        and ($4::text = '' or metric = any(string_to_array($4::text, ',')))`,
    [
      new Date(fromMs).toISOString(),
      new Date(beforeMs).toISOString(),
      scope,
      (metrics ?? []).join(','),
    ],
  );
  const byStart = new Map<number, SharedBucket>();
  for (const row of rows) {
    const start = Number(row.start_ms);
    let bucket = byStart.get(start);
    if (!bucket) {
      byStart.set(
        start,
        bucket = {
          start,
          writers: 0,
          snapshot: { since: start, counters: {}, gauges: {}, histograms: {} },
        },
      );
    }
    if (row.metric.startsWith('counter:')) {
      bucket.snapshot.counters[row.metric.slice(8)] = Number(row.sum);
    } else if (row.metric.startsWith('histogram:')) {
      const counts = String(row.histogram ?? '').replace(/[{}]/g, '').split(',').map(Number);
      const buckets = counts.length === LATENCY_BUCKETS_MS.length + 1
        ? counts
        : new Array(LATENCY_BUCKETS_MS.length + 1).fill(0);
      const count = Number(row.count);
      const sum = Number(row.sum);
      const h: HistogramSnapshot = {
        count,
        sum,
        min: row.min === null ? 0 : Number(row.min),
        max: row.max === null ? 0 : Number(row.max),
        mean: count ? sum / count : 0,
        p50: 0,
        p95: 0,
        p99: 0,
        buckets,
      };
      bucket.snapshot.histograms[row.metric.slice(10)] = h;
    }
  }
  return [...byStart.values()].sort((a, b) => a.start - b.start);
}

/**
 * Totals per metric from `optimization_metrics` since `fromMs` (the durable side of status).
 *
 * @example
 * ```ts
 * const totals = await metricTotals(db, Date.now() - 3_600_000);
 * ```
 */
export async function metricTotals(
  db: SqlExecutor,
  fromMs: number,
  scope = 'global',
): Promise<Record<string, { count: number; sum: number }>> {
  const rows = await db.query<{ metric: string; count: unknown; sum: unknown }>(
    `select metric, sum(count) as count, sum(sum) as sum from public.optimization_metrics
      where bucket_start >= $1::text::timestamptz and scope = $2
      group by metric order by metric`,
    [new Date(fromMs).toISOString(), scope],
  );
  return Object.fromEntries(
    rows.map((r) => [r.metric, { count: Number(r.count), sum: Number(r.sum) }]),
  );
}

/** Deletes metric rows and finished runs older than `retention`, and resolved alerts too. */
export async function prune(db: SqlExecutor, retention: string): Promise<number> {
  const [row] = await db.query<{ deleted: unknown }>(
    `select public.prune_optimization_metrics($1::text::interval) as deleted`,
    [retention],
  );
  await db.query(
    `delete from public.optimization_alerts
      where resolved_at is not null and resolved_at < now() - $1::text::interval`,
    [retention],
  );
  return Number(row.deleted);
}

/** An alert as the API returns it. */
export interface AlertRecord {
  id: string;
  metric: string;
  severity: 'warning' | 'critical';
  window: string;
  previousValue: number;
  currentValue: number;
  threshold: number;
  message: string;
  raisedAt: string;
  lastSeenAt: string;
  resolvedAt: string | null;
  webhookStatus: string | null;
}

function alertOf(row: Record<string, unknown>): AlertRecord {
  return {
    id: String(row.id),
    metric: String(row.metric),
    severity: row.severity as AlertRecord['severity'],
    window: String(row.window_name),
    previousValue: Number(row.previous_value),
    currentValue: Number(row.current_value),
    threshold: Number(row.threshold),
    message: String(row.message),
    raisedAt: iso(row.raised_at)!,
    lastSeenAt: iso(row.last_seen_at)!,
    resolvedAt: iso(row.resolved_at),
    webhookStatus: row.webhook_status === null ? null : String(row.webhook_status),
  };
}

/** A degradation to record. */
export interface DegradationInput {
  metric: string;
  severity: 'warning' | 'critical';
  previousValue: number;
  currentValue: number;
  threshold: number;
  message: string;
}

/**
 * Records the degradations seen now: new ones are inserted (returned with `isNew`), active ones
 * refreshed, active ones no longer seen resolved.
 */
export async function recordAlerts(
  db: SqlExecutor,
  seen: DegradationInput[],
  runId: string | null,
): Promise<(AlertRecord & { isNew: boolean })[]> {
  const out: (AlertRecord & { isNew: boolean })[] = [];
  for (const d of seen) {
    const updated = await db.query(
      `update public.optimization_alerts
          set last_seen_at = now(), current_value = $2, previous_value = $3, threshold = $4,
              severity = $5, message = $6
        where metric = $1 and resolved_at is null returning *`,
      [d.metric, d.currentValue, d.previousValue, d.threshold, d.severity, d.message],
    );
    if (updated.length) {
      out.push({ ...alertOf(updated[0]), isNew: false });
      continue;
    }
    const [row] = await db.query(
      `insert into public.optimization_alerts
         (metric, severity, previous_value, current_value, threshold, message, run_id)
       values ($1, $2, $3, $4, $5, $6, $7) returning *`,
      [d.metric, d.severity, d.previousValue, d.currentValue, d.threshold, d.message, runId],
    );
    out.push({ ...alertOf(row), isNew: true });
  }
  await db.query(
    `update public.optimization_alerts set resolved_at = greatest(now(), raised_at)
      where resolved_at is null
        and metric not in (select jsonb_array_elements_text($1::text::jsonb))`,
    [JSON.stringify(seen.map((d) => d.metric))],
  );
  return out;
}

/** Stores how a webhook delivery went. */
export async function setWebhookStatus(db: SqlExecutor, id: string, status: string): Promise<void> {
  await db.query(`update public.optimization_alerts set webhook_status = $2 where id = $1`, [
    id,
    status.slice(0, 200),
  ]);
}

/** Active alerts, newest first. */
export async function activeAlerts(db: SqlExecutor): Promise<AlertRecord[]> {
  const rows = await db.query(
    `select * from public.optimization_alerts where resolved_at is null
      order by raised_at desc limit 100`,
  );
  return rows.map(alertOf);
}
