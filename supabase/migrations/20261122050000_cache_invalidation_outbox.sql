-- 20261122050000_cache_invalidation_outbox.sql: a durable record of cache invalidations, written
-- in the same transaction as the change they invalidate (the transactional outbox).
--
-- Why: an invalidation is data. When Redis cannot be reached during a write, the write still
-- commits and answers; the cache tags it must invalidate are kept here until the store has
-- confirmed their invalidation (shared/optimizer/cache/outbox.ts). The writing isolate retries in
-- the background and deletes its row once Redis answers; if that isolate dies first, the next
-- cold start, warming run or optimizer run drains the table (drainInvalidations).
--
-- Access: user requests enqueue through public.enqueue_cache_invalidation (security definer,
-- validated); nobody but the service role reads or deletes rows (RLS on, service-only policies).

create table public.cache_invalidation_outbox (
  id bigint generated always as identity primary key,
  tags text[] not null,
  created_at timestamptz not null default now(),
  constraint cache_invalidation_outbox_tag_count check (cardinality(tags) between 1 and 64)
);

comment on table public.cache_invalidation_outbox is
  'Cache tags to invalidate, written with the change; deleted once Redis confirmed them.';

alter table public.cache_invalidation_outbox enable row level security;

create policy cache_invalidation_outbox_select_service on public.cache_invalidation_outbox
  for select to service_role using (true);
create policy cache_invalidation_outbox_insert_service on public.cache_invalidation_outbox
  for insert to service_role with check (true);
create policy cache_invalidation_outbox_update_service on public.cache_invalidation_outbox
  for update to service_role using (true) with check (true);
create policy cache_invalidation_outbox_delete_service on public.cache_invalidation_outbox
  for delete to service_role using (true);

revoke all on public.cache_invalidation_outbox from public, anon, authenticated;
grant all on public.cache_invalidation_outbox to service_role;

-- Enqueues one invalidation inside the caller's transaction (any role: it runs as the owner, so
-- a user's write can record what it invalidates without reading anyone's rows). Returns the id
-- the writer deletes once Redis confirmed. plpgsql, not sql: bad input answers a clear
-- invalid_parameter_value (class 22, a 400 at the HTTP layer), never a generic error.
create or replace function public.enqueue_cache_invalidation(tags text[]) returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  new_id bigint;
begin
  if tags is null or cardinality(tags) not between 1 and 64 then
    raise exception 'tags must hold 1 to 64 tags: received %', coalesce(cardinality(tags), 0)
      using errcode = '22023';
  end if;
  if array_position(tags, null) is not null then
    raise exception 'tags must not contain null' using errcode = '22023';
  end if;
  if exists (select 1 from unnest(tags) as t(tag) where char_length(t.tag) not between 1 and 512)
  then
    raise exception 'each tag must be 1 to 512 characters' using errcode = '22023';
  end if;
  insert into public.cache_invalidation_outbox (tags) values (tags) returning id into new_id;
  return new_id;
end;
$$;

-- Deletes rows older than max_age (their entries have expired from every tier: nothing is left
-- to invalidate); returns how many.
create or replace function public.prune_cache_invalidation_outbox(max_age interval)
returns bigint
language plpgsql
set search_path = ''
as $$
declare
  removed bigint;
begin
  if max_age is null or max_age < interval '0' then
    raise exception 'max_age must be a non-negative interval: received %', max_age
      using errcode = '22023';
  end if;
  delete from public.cache_invalidation_outbox where created_at < now() - max_age;
  get diagnostics removed = row_count;
  return removed;
end;
$$;

revoke execute on function public.enqueue_cache_invalidation(text[]) from public;
revoke execute on function public.prune_cache_invalidation_outbox(interval)
  from public, anon, authenticated;
grant execute on function public.enqueue_cache_invalidation(text[])
  to authenticated, anon, service_role;
grant execute on function public.prune_cache_invalidation_outbox(interval) to service_role;
