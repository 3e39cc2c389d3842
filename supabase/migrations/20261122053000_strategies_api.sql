-- 20261122053000_strategies_api.sql: what the strategies function's queries need beyond the
-- domain migration (whose owner, public and type keyset indexes already serve the listings).
--
-- 1. Trigram indexes on strategies.name and strategies.description, for GET /strategies/search.
-- 2. public.search_strategies: the ranked search, able to use those indexes under Row Level
--    Security (see 20261121054500_robot_search.sql for why a plain query under RLS cannot: ilike
--    and pg_trgm's % are not leakproof). Same safety as search_robots: security definer with an
--    empty search_path, the visibility rule of the select policies applied inside, ids and
--    scores only, joined again under the caller's RLS by the repository.
-- 3. private.strategy_dependent_robots: the robots a strategy's deletion changes (the foreign
--    key sets their strategy_id to null, whoever owns them), so the function can drop their
--    cached reads. It reads past RLS, so it lives in a schema PostgREST does not expose and
--    answers only the strategy's owner.

create index if not exists strategies_name_trgm_idx
  on public.strategies using gin (name extensions.gin_trgm_ops);
create index if not exists strategies_description_trgm_idx
  on public.strategies using gin (description extensions.gin_trgm_ops);

create or replace function public.search_strategies(
  search_query text,
  max_results integer default 20,
  owner_id uuid default null,
  only_public boolean default null,
  filter_strategy_type text default null,
  fuzzy boolean default false
) returns table (id uuid, score double precision)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  pattern text := '%' || replace(replace(replace(search_query, '\', '\\'), '%', '\%'), '_', '\_') || '%';
  statement text;
begin
  if search_query is null or char_length(search_query) < 2 then
    raise exception 'search_query must have at least 2 characters: received %', search_query;
  end if;
  -- Only the conditions in use, so each call is planned with its values (see search_robots).
  statement := 'select s.id, greatest(extensions.word_similarity($1, s.name),'
    || ' 0.5 * extensions.word_similarity($1, s.description))::double precision as score'
    || ' from public.strategies s'
    || ' where (s.name ilike $2 or s.description ilike $2'
    || case when fuzzy then ' or s.name operator(extensions.%) $1' else '' end
    || ')'
    -- The visibility rule of strategies_select_{anon,authenticated} (anon: auth.uid() is null).
    || ' and (s.is_public or s.user_id = (select auth.uid()))';
  if owner_id is not null then statement := statement || ' and s.user_id = $3'; end if;
  if only_public is not null then
    statement := statement || case when only_public then ' and s.is_public' else ' and not s.is_public' end;
  end if;
  if filter_strategy_type is not null then statement := statement || ' and s.strategy_type = $4'; end if;
  statement := statement || ' order by score desc, s.created_at desc, s.id desc limit $5';
  return query execute statement
    using search_query, pattern, owner_id, filter_strategy_type,
      least(greatest(coalesce(max_results, 20), 1), 100);
end
$$;

comment on function public.search_strategies(text, integer, uuid, boolean, text, boolean) is
  'Ranked trigram search on strategies visible to the caller (public or own); ids and scores only.';

revoke execute on function public.search_strategies(text, integer, uuid, boolean, text, boolean)
  from public;
grant execute on function public.search_strategies(text, integer, uuid, boolean, text, boolean)
  to anon, authenticated, service_role;

-- Not exposed by PostgREST (config.toml's api.schemas lists public and graphql_public only).
create schema if not exists private;
revoke all on schema private from public;
grant usage on schema private to authenticated, service_role;

create or replace function private.strategy_dependent_robots(
  strategy uuid,
  max_results integer default 1000
) returns table (id uuid, user_id uuid, is_public boolean)
language sql
stable
security definer
set search_path = ''
as $$
  select r.id, r.user_id, r.is_public
  from public.robots r
  where r.strategy_id = strategy
    -- Only the strategy's owner learns who built robots on it.
    and exists (
      select 1 from public.strategies s
      where s.id = strategy and s.user_id = (select auth.uid())
    )
  order by r.id
  limit least(greatest(coalesce(max_results, 1000), 1), 10000)
$$;

comment on function private.strategy_dependent_robots(uuid, integer) is
  'Robots built on a strategy of the caller (their cached reads change when it is deleted).';

revoke execute on function private.strategy_dependent_robots(uuid, integer) from public;
grant execute on function private.strategy_dependent_robots(uuid, integer)
  to authenticated, service_role;
