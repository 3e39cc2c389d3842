-- 20261122051000_cron_secret_keys.sql: the cron jobs authenticate with a secret API key
-- (sb_secret_...) read from Vault, the way Supabase's "Scheduling Edge Functions" guide reads its
-- key: vault.decrypted_secrets names 'project_url' and 'secret_key'. The key travels in `apikey`
-- and in `Authorization: Bearer`, as supabase-js sends it; the functions' service routes accept it
-- (auth mode `secret`). Legacy fallback: while Vault has no 'secret_key' but still has the
-- 'cron_secret' of 20261121054300, the jobs send that in `x-cron-secret` instead.
--
-- Also: the warming job now calls /functions/v1/warmup (the function's name), under the job name
-- 'quantforge-warmup'; the job 'quantforge-warming' of the previous migration is removed.
--
-- Same guards as before: where pg_cron, pg_net or Vault is missing (vanilla PostgreSQL, PGlite),
-- scheduling is skipped with a NOTICE and the migration succeeds. Nothing is faked.

-- The SQL a job runs: one net.http_post with the key from Vault, read at run time (rotating the
-- key in Vault needs no rescheduling).
create or replace function public.optimizer_cron_command(
  path text,
  job_name text,
  timeout_ms integer default 5000
) returns text
language sql
immutable
set search_path = ''
as $fn$
  select format(
    $cmd$
    select net.http_post(
      url := (select decrypted_secret from vault.decrypted_secrets where name = 'project_url') || %L,
      headers := jsonb_strip_nulls(jsonb_build_object(
        'Content-Type', 'application/json',
        'apikey', s.secret_key,
        'Authorization', 'Bearer ' || s.secret_key,
        'x-cron-secret', case when s.secret_key is null then s.cron_secret end
      )),
      body := jsonb_build_object('trigger', 'cron', 'job', %L, 'scheduled_at', now()),
      timeout_milliseconds := %s
    ) as request_id
    from (select
      (select decrypted_secret from vault.decrypted_secrets where name = 'secret_key') as secret_key,
      (select decrypted_secret from vault.decrypted_secrets where name = 'cron_secret') as cron_secret
    ) as s;
    $cmd$,
    path, job_name, timeout_ms
  );
$fn$;

-- The jobs: name, path. One place for schedule and unschedule.
create or replace function public.optimizer_cron_jobs(
  warming_schedule text default '*/5 * * * *',
  optimizer_schedule text default '*/15 * * * *'
) returns table (job_name text, schedule text, path text)
language sql
immutable
set search_path = ''
as $fn$
  values
    ('quantforge-warmup', warming_schedule, '/functions/v1/warmup'),
    ('quantforge-optimizer-run', optimizer_schedule, '/functions/v1/optimizer/run');
$fn$;

-- Same signature and answers as in 20261121054300 (one line per job: 'scheduled ...' or
-- 'skipped: ...'), now with the secret key.
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
  stale boolean;
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

  -- The previous migration's warming job called /functions/v1/warming: remove it.
  execute 'select exists (select 1 from cron.job where jobname = $1)' into stale
    using 'quantforge-warming';
  if stale then
    execute 'select cron.unschedule($1)' using 'quantforge-warming';
  end if;

  for job in select * from public.optimizer_cron_jobs(warming_schedule, optimizer_schedule) loop
    -- Dynamic SQL: the cron and net schemas do not exist where the extensions are absent.
    execute 'select cron.schedule($1, $2, $3)'
    using job.job_name, job.schedule,
      public.optimizer_cron_command(job.path, job.job_name, timeout_ms);
    return next format('scheduled %s (%s) -> %s', job.job_name, job.schedule, job.path);
  end loop;

  if not exists (select 1 from vault.decrypted_secrets where name = 'project_url')
     or not exists (select 1 from vault.decrypted_secrets where name = 'secret_key') then
    raise notice 'optimizer cron jobs scheduled, but Vault lacks project_url or secret_key: create them with vault.create_secret(...)';
  end if;
end
$$;

-- Removes the jobs (and the previous migration's warming job) where pg_cron exists.
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
  foreach job_name in array
    array(select j.job_name from public.optimizer_cron_jobs() as j) || 'quantforge-warming'::text
  loop
    execute 'select exists (select 1 from cron.job where jobname = $1)' into removed using job_name;
    if removed then
      execute 'select cron.unschedule($1)' using job_name;
      return next job_name;
    end if;
  end loop;
end
$$;

revoke execute on function public.optimizer_cron_command(text, text, integer)
  from public, anon, authenticated;
revoke execute on function public.optimizer_cron_jobs(text, text) from public, anon, authenticated;
revoke execute on function public.schedule_optimizer_jobs(text, text, integer)
  from public, anon, authenticated;
revoke execute on function public.unschedule_optimizer_jobs() from public, anon, authenticated;

-- Reschedule where the jobs can run (the previous migration enabled the extensions where both
-- are available); elsewhere the function answers 'skipped' with a NOTICE.
do $$
begin
  if exists (select 1 from pg_extension where extname = 'pg_cron')
     and exists (select 1 from pg_extension where extname = 'pg_net') then
    perform public.schedule_optimizer_jobs();
  else
    raise notice 'optimizer cron jobs skipped: pg_cron and pg_net are not both installed here';
  end if;
end
$$;
