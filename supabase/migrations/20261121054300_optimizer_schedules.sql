-- 20261121054300_optimizer_schedules.sql: Supabase Cron jobs for the warming function (every 5
-- minutes) and the optimizer run (every 15 minutes), as Supabase's "Scheduling Edge Functions"
-- guide shows: pg_cron runs net.http_post (pg_net), the project URL and the secret come from
-- Vault (vault.decrypted_secrets names 'project_url' and 'cron_secret'). The secret travels in
-- the x-cron-secret header, which the functions' service routes accept.
--
-- Where pg_cron, pg_net or Vault is missing (vanilla PostgreSQL, PGlite), this migration skips
-- the scheduling with a NOTICE and succeeds. Nothing is faked. An operator calls
-- public.schedule_optimizer_jobs() once the extensions and secrets exist; it is idempotent
-- (cron.schedule with a job name replaces that job).

-- Returns one line per job ('scheduled ...' or 'skipped: ...').
create or replace function public.schedule_optimizer_jobs(
  warming_schedule text default '*/5 * * * *',
  optimizer_schedule text default '*/15 * * * *',
  timeout_ms integer default 5000
) returns setof text
language plpgsql
set search_path = ''
as $$
declare
  missing text[] := array[]::text[];
  job record;
begin
  if not exists (select 1 from pg_extension where extname = 'pg_cron') then
    missing := missing || 'pg_cron'::text;
  end if;
  if not exists (select 1 from pg_extension where extname = 'pg_net') then
    missing := missing || 'pg_net'::text;
  end if;
  if to_regclass('vault.decrypted_secrets') is null then
    missing := missing || 'vault (supabase_vault)'::text;
  end if;
  if cardinality(missing) > 0 then
    raise notice 'optimizer cron jobs not scheduled: % not installed; call public.schedule_optimizer_jobs() once they are',
      array_to_string(missing, ', ');
    return next 'skipped: missing ' || array_to_string(missing, ', ');
    return;
  end if;

  for job in
    select * from (values
      ('quantforge-warming', warming_schedule, '/functions/v1/warming'),
      ('quantforge-optimizer-run', optimizer_schedule, '/functions/v1/optimizer/run')
    ) as j(name, schedule, path)
  loop
    -- Dynamic SQL: the cron and net schemas do not exist where the extensions are absent.
    execute 'select cron.schedule($1, $2, $3)'
    using job.name, job.schedule, format(
      $cmd$
      select net.http_post(
        url := (select decrypted_secret from vault.decrypted_secrets where name = 'project_url') || %L,
        headers := jsonb_build_object(
          'Content-Type', 'application/json',
          'x-cron-secret', (select decrypted_secret from vault.decrypted_secrets where name = 'cron_secret')
        ),
        body := jsonb_build_object('trigger', 'cron', 'job', %L, 'scheduled_at', now()),
        timeout_milliseconds := %s
      ) as request_id;
      $cmd$,
      job.path, job.name, timeout_ms
    );
    return next format('scheduled %s (%s) -> %s', job.name, job.schedule, job.path);
  end loop;

  if not exists (select 1 from vault.decrypted_secrets where name = 'project_url')
     or not exists (select 1 from vault.decrypted_secrets where name = 'cron_secret') then
    raise notice 'optimizer cron jobs scheduled, but Vault lacks project_url or cron_secret: create them with vault.create_secret(...)';
  end if;
end
$$;

-- Removes both jobs where pg_cron exists; returns the names removed.
create or replace function public.unschedule_optimizer_jobs() returns setof text
language plpgsql
set search_path = ''
as $$
declare
  job_name text;
  removed boolean;
begin
  if not exists (select 1 from pg_extension where extname = 'pg_cron') then
    raise notice 'pg_cron is not installed: no optimizer cron jobs to remove';
    return;
  end if;
  foreach job_name in array array['quantforge-warming', 'quantforge-optimizer-run'] loop
    execute 'select exists (select 1 from cron.job where jobname = $1)' into removed using job_name;
    if removed then
      execute 'select cron.unschedule($1)' using job_name;
      return next job_name;
    end if;
  end loop;
end
$$;

revoke execute on function public.schedule_optimizer_jobs(text, text, integer)
  from public, anon, authenticated;
revoke execute on function public.unschedule_optimizer_jobs() from public, anon, authenticated;

-- On Supabase both extensions are available but not enabled by default: enable them when both
-- are available, then schedule. Elsewhere skip with a NOTICE.
do $$
begin
  if exists (select 1 from pg_available_extensions where name = 'pg_cron')
     and exists (select 1 from pg_available_extensions where name = 'pg_net') then
    create extension if not exists pg_cron with schema pg_catalog;
    create extension if not exists pg_net with schema extensions;
    perform public.schedule_optimizer_jobs();
  else
    raise notice 'optimizer cron jobs skipped: pg_cron and pg_net are not both available here (pg_cron: %, pg_net: %)',
      exists (select 1 from pg_available_extensions where name = 'pg_cron'),
      exists (select 1 from pg_available_extensions where name = 'pg_net');
  end if;
end
$$;
