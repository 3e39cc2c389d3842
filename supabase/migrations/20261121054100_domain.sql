-- 20261121054100_domain.sql: the QuantForge domain, strategies and trading robots (Expert
-- Advisors), with Row Level Security and the indexes the data layer's queries need.
--
-- Ownership: user_id is the Supabase auth user (auth.uid()). It is not a foreign key to
-- auth.users so that the same schema runs on vanilla PostgreSQL and PGlite, and so that demo and
-- benchmark data can be generated without auth rows.
--
-- RLS, one policy per operation and role:
--   anon           reads public rows
--   authenticated  reads public rows and its own; inserts, updates, deletes only its own
--   service_role   bypasses RLS (Supabase's role has bypassrls), used for service and cron work

-- Keeps updated_at honest on every update, whatever the client sends.
create or replace function public.set_updated_at() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- strategies: reusable trading strategy definitions; robots are built from them.
create table public.strategies (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid(),
  name text not null,
  description text not null default '',
  strategy_type text not null,
  parameters jsonb not null default '{}'::jsonb,
  is_public boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint strategies_name_length check (char_length(btrim(name)) between 1 and 120),
  constraint strategies_description_length check (char_length(description) <= 2000),
  constraint strategies_strategy_type_known check (strategy_type in (
    'trend_following', 'mean_reversion', 'breakout', 'scalping', 'grid', 'martingale',
    'arbitrage', 'momentum', 'hedging', 'custom'
  )),
  constraint strategies_parameters_object check (jsonb_typeof(parameters) = 'object')
);

comment on table public.strategies is 'Trading strategy definitions; robots reference them.';

create trigger strategies_set_updated_at
  before update on public.strategies
  for each row execute function public.set_updated_at();

-- Owner listing with keyset pagination (where user_id = $1 order by created_at desc, id desc),
-- and the RLS policy column user_id.
create index strategies_user_created_idx on public.strategies (user_id, created_at desc, id desc);
-- Public listing (where is_public order by created_at desc, id desc); partial, so it only holds
-- the public minority.
create index strategies_public_created_idx on public.strategies (created_at desc, id desc)
  where is_public;
-- strategy_type filter with the same keyset order.
create index strategies_type_created_idx
  on public.strategies (strategy_type, created_at desc, id desc);

alter table public.strategies enable row level security;

create policy strategies_select_anon on public.strategies
  for select to anon
  using (is_public);
create policy strategies_select_authenticated on public.strategies
  for select to authenticated
  using (is_public or user_id = (select auth.uid()));
create policy strategies_insert_authenticated on public.strategies
  for insert to authenticated
  with check (user_id = (select auth.uid()));
create policy strategies_update_authenticated on public.strategies
  for update to authenticated
  using (user_id = (select auth.uid()))
  with check (user_id = (select auth.uid()));
create policy strategies_delete_authenticated on public.strategies
  for delete to authenticated
  using (user_id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------------
-- robots: trading robots (Expert Advisors) generated and managed by users.
create table public.robots (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid(),
  strategy_id uuid references public.strategies (id) on delete set null,
  name text not null,
  description text not null default '',
  strategy_type text not null,
  strategy_params jsonb not null default '{}'::jsonb,
  is_public boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint robots_name_length check (char_length(btrim(name)) between 1 and 120),
  constraint robots_description_length check (char_length(description) <= 2000),
  constraint robots_strategy_type_known check (strategy_type in (
    'trend_following', 'mean_reversion', 'breakout', 'scalping', 'grid', 'martingale',
    'arbitrage', 'momentum', 'hedging', 'custom'
  )),
  constraint robots_strategy_params_object check (jsonb_typeof(strategy_params) = 'object')
);

comment on table public.robots is 'Trading robots (Expert Advisors) owned by users.';

create trigger robots_set_updated_at
  before update on public.robots
  for each row execute function public.set_updated_at();

-- "My robots": where user_id = $1 order by created_at desc, id desc, keyset-paginated
-- ((created_at, id) < ($2, $3)). Also serves the RLS predicate user_id = auth.uid().
create index robots_user_created_idx on public.robots (user_id, created_at desc, id desc);
-- Public listing: where is_public order by created_at desc, id desc. Partial: only public rows.
create index robots_public_created_idx on public.robots (created_at desc, id desc)
  where is_public;
-- Listing without an owner/public filter (service work, and a user's "public or mine" view, which
-- walks this index in order and stops after limit rows).
create index robots_created_idx on public.robots (created_at desc, id desc);
-- strategy_type filter with the same keyset order.
create index robots_type_created_idx on public.robots (strategy_type, created_at desc, id desc);
-- Foreign key: "robots of a strategy", and on delete set null without a sequential scan.
create index robots_strategy_id_idx on public.robots (strategy_id) where strategy_id is not null;
-- Trigram search (ilike '%term%', similarity %) on name and description.
create index robots_name_trgm_idx on public.robots using gin (name extensions.gin_trgm_ops);
create index robots_description_trgm_idx
  on public.robots using gin (description extensions.gin_trgm_ops);

alter table public.robots enable row level security;

create policy robots_select_anon on public.robots
  for select to anon
  using (is_public);
create policy robots_select_authenticated on public.robots
  for select to authenticated
  using (is_public or user_id = (select auth.uid()));
create policy robots_insert_authenticated on public.robots
  for insert to authenticated
  with check (user_id = (select auth.uid()));
create policy robots_update_authenticated on public.robots
  for update to authenticated
  using (user_id = (select auth.uid()))
  with check (user_id = (select auth.uid()));
create policy robots_delete_authenticated on public.robots
  for delete to authenticated
  using (user_id = (select auth.uid()));

-- Explicit grants: Supabase's default privileges grant these already; vanilla PostgreSQL needs
-- them, and RLS decides rows in both.
grant select on public.strategies, public.robots to anon;
grant select, insert, update, delete on public.strategies, public.robots to authenticated;
grant all on public.strategies, public.robots to service_role;
