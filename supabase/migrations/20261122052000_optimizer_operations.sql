-- 20261122052000_optimizer_operations.sql: proactive alerts of the optimization manager
-- (shared/optimizer/manager). An alert is raised when a metric degrades against the previous
-- window beyond its threshold (p95 latency, error rate, hit rate, cold-start rate), stays
-- active while the degradation holds, and is resolved by the first run that no longer sees it.
-- Service-only like optimization_runs: RLS on, policies for service_role alone. Plain SQL that
-- runs unchanged on Supabase, vanilla PostgreSQL 15 and PGlite.

create table public.optimization_alerts (
  id uuid primary key default gen_random_uuid(),
  metric text not null,
  severity text not null default 'warning',
  window_name text not null default '15m',
  previous_value double precision not null,
  current_value double precision not null,
  threshold double precision not null,
  message text not null,
  raised_at timestamptz not null default now(),
  last_seen_at timestamptz not null default now(),
  resolved_at timestamptz,
  run_id uuid references public.optimization_runs (id) on delete set null,
  -- Outcome of the ALERT_WEBHOOK_URL delivery: null when no webhook is configured.
  webhook_status text,
  constraint optimization_alerts_metric_length check (char_length(metric) between 1 and 200),
  constraint optimization_alerts_severity_known check (severity in ('warning', 'critical')),
  constraint optimization_alerts_message_length check (char_length(message) between 1 and 2000),
  constraint optimization_alerts_resolved_after_raise check (
    resolved_at is null or resolved_at >= raised_at
  )
);

comment on table public.optimization_alerts is
  'Degradations the optimizer run detected (metric vs the previous window); active while resolved_at is null.';

-- At most one active alert per metric: a run that sees it again updates last_seen_at.
create unique index optimization_alerts_active_metric_idx
  on public.optimization_alerts (metric) where resolved_at is null;
-- "Latest alerts" (status endpoint) and retention.
create index optimization_alerts_raised_idx on public.optimization_alerts (raised_at desc);

alter table public.optimization_alerts enable row level security;

create policy optimization_alerts_select_service on public.optimization_alerts
  for select to service_role using (true);
create policy optimization_alerts_insert_service on public.optimization_alerts
  for insert to service_role with check (true);
create policy optimization_alerts_update_service on public.optimization_alerts
  for update to service_role using (true) with check (true);
create policy optimization_alerts_delete_service on public.optimization_alerts
  for delete to service_role using (true);

revoke all on public.optimization_alerts from anon, authenticated;
grant all on public.optimization_alerts to service_role;
