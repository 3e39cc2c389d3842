-- 20261121054200_optimization_metrics.sql: durable optimizer metrics and the log of optimizer and
-- warming runs.
--
-- optimization_metrics holds one row per (metric, scope, bucket_start): the counters the
-- isolates' in-memory Metrics (shared/optimizer/metrics.ts) flush, merged across isolates.
-- histogram[i] counts observations <= LATENCY_BUCKETS_MS[i] (17 bounds, in ms), histogram[18]
-- the rest: fixed buckets add up exactly across isolates and give percentiles by interpolation.
-- Both tables are service-only: RLS is on, with policies for service_role alone.

create table public.optimization_metrics (
  id bigint generated always as identity primary key,
  bucket_start timestamptz not null,
  bucket_width_ms integer not null default 60000,
  metric text not null,
  scope text not null default 'global',
  count bigint not null default 0,
  sum double precision not null default 0,
  min double precision,
  max double precision,
  histogram bigint[] not null default array_fill(0::bigint, array[18]),
  updated_at timestamptz not null default now(),
  constraint optimization_metrics_metric_length check (char_length(metric) between 1 and 200),
  constraint optimization_metrics_scope_length check (char_length(scope) between 1 and 200),
  constraint optimization_metrics_count_nonnegative check (count >= 0),
  constraint optimization_metrics_bucket_width_positive check (bucket_width_ms > 0),
  -- One count per LATENCY_BUCKETS_MS bound plus the overflow bucket.
  constraint optimization_metrics_histogram_length check (cardinality(histogram) = 18),
  -- Upsert target of record_optimization_metric; also serves (metric, scope) over a time range.
  constraint optimization_metrics_metric_scope_bucket_key unique (metric, scope, bucket_start)
);

comment on table public.optimization_metrics is
  'Time-bucketed optimizer metrics (count, sum, min, max, latency histogram) per metric and scope.';

-- "This metric over the last hour", across every scope:
-- where metric = $1 and bucket_start >= now() - interval '1 hour' order by bucket_start desc.
create index optimization_metrics_metric_bucket_idx
  on public.optimization_metrics (metric, bucket_start desc);
-- Retention (prune_optimization_metrics) and "everything in the last N minutes": rows arrive in
-- time order, so a tiny BRIN index is enough.
create index optimization_metrics_bucket_brin_idx
  on public.optimization_metrics using brin (bucket_start);

create table public.optimization_runs (
  id uuid primary key default gen_random_uuid(),
  kind text not null,
  started_at timestamptz not null default now(),
  finished_at timestamptz,
  status text not null default 'running',
  trigger text not null default 'manual',
  applied jsonb not null default '[]'::jsonb,
  estimated_gain_percent double precision,
  measured_gain_percent double precision,
  details jsonb not null default '{}'::jsonb,
  constraint optimization_runs_kind_known check (kind in ('optimize', 'warm')),
  constraint optimization_runs_status_known check (
    status in ('running', 'succeeded', 'failed', 'partial', 'skipped')
  ),
  constraint optimization_runs_trigger_length check (char_length(trigger) between 1 and 100),
  constraint optimization_runs_finished_after_start check (
    finished_at is null or finished_at >= started_at
  )
);

comment on table public.optimization_runs is
  'Every optimizer and warming run: when, what triggered it, applied changes, estimated and measured gain.';

-- "Latest runs of a kind" (status endpoint, optimizer comparing with its previous run).
create index optimization_runs_kind_started_idx
  on public.optimization_runs (kind, started_at desc);
-- Retention and "all runs in a time range".
create index optimization_runs_started_idx on public.optimization_runs (started_at desc);

alter table public.optimization_metrics enable row level security;
alter table public.optimization_runs enable row level security;

create policy optimization_metrics_select_service on public.optimization_metrics
  for select to service_role using (true);
create policy optimization_metrics_insert_service on public.optimization_metrics
  for insert to service_role with check (true);
create policy optimization_metrics_update_service on public.optimization_metrics
  for update to service_role using (true) with check (true);
create policy optimization_metrics_delete_service on public.optimization_metrics
  for delete to service_role using (true);

create policy optimization_runs_select_service on public.optimization_runs
  for select to service_role using (true);
create policy optimization_runs_insert_service on public.optimization_runs
  for insert to service_role with check (true);
create policy optimization_runs_update_service on public.optimization_runs
  for update to service_role using (true) with check (true);
create policy optimization_runs_delete_service on public.optimization_runs
  for delete to service_role using (true);

revoke all on public.optimization_metrics, public.optimization_runs from anon, authenticated;
grant all on public.optimization_metrics, public.optimization_runs to service_role;

-- Element-wise sum of two histograms (missing elements count as 0).
create or replace function public.add_histograms(a bigint[], b bigint[]) returns bigint[]
language sql immutable
set search_path = ''
as $$
  select coalesce(array_agg(coalesce(a[i], 0) + coalesce(b[i], 0) order by i), '{}'::bigint[])
  from generate_series(1, greatest(cardinality(a), cardinality(b))) as i
$$;

-- Merge one isolate's bucket into the shared row: counts, sums and histograms add; min/max fold.
-- One statement per flush, safe under concurrency (insert ... on conflict do update).
create or replace function public.record_optimization_metric(
  p_metric text,
  p_scope text,
  p_bucket_start timestamptz,
  p_count bigint,
  p_sum double precision,
  p_min double precision,
  p_max double precision,
  p_histogram bigint[] default null,
  p_bucket_width_ms integer default 60000
) returns void
language sql
set search_path = ''
as $$
  insert into public.optimization_metrics as m
    (metric, scope, bucket_start, bucket_width_ms, count, sum, min, max, histogram)
  values (
    p_metric, p_scope, p_bucket_start, p_bucket_width_ms, p_count, p_sum, p_min, p_max,
    coalesce(p_histogram, array_fill(0::bigint, array[18]))
  )
  on conflict (metric, scope, bucket_start) do update set
    count = m.count + excluded.count,
    sum = m.sum + excluded.sum,
    min = least(m.min, excluded.min),
    max = greatest(m.max, excluded.max),
    histogram = public.add_histograms(m.histogram, excluded.histogram),
    updated_at = now()
$$;

-- Retention: delete metric buckets (and finished runs) older than the given age; returns the
-- number of metric rows deleted. Schedule it (pg_cron) or call it from the optimizer run.
create or replace function public.prune_optimization_metrics(
  older_than interval default interval '7 days'
) returns bigint
language plpgsql
set search_path = ''
as $$
declare
  deleted bigint;
begin
  if older_than is null or older_than < interval '0' then
    raise exception 'older_than must be a non-negative interval: received %', older_than;
  end if;
  delete from public.optimization_metrics where bucket_start < now() - older_than;
  get diagnostics deleted = row_count;
  delete from public.optimization_runs
  where finished_at is not null and started_at < now() - older_than;
  return deleted;
end
$$;

revoke execute on function public.add_histograms(bigint[], bigint[]) from public, anon, authenticated;
revoke execute on function public.record_optimization_metric(
  text, text, timestamptz, bigint, double precision, double precision, double precision, bigint[],
  integer
) from public, anon, authenticated;
revoke execute on function public.prune_optimization_metrics(interval)
  from public, anon, authenticated;
grant execute on function public.add_histograms(bigint[], bigint[]) to service_role;
grant execute on function public.record_optimization_metric(
  text, text, timestamptz, bigint, double precision, double precision, double precision, bigint[],
  integer
) to service_role;
grant execute on function public.prune_optimization_metrics(interval) to service_role;
