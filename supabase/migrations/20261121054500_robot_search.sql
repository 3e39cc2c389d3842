-- 20261121054500_robot_search.sql: ranked trigram search over robots that can use the GIN
-- trigram indexes under Row Level Security.
--
-- Why a function: RLS policies are security-barrier quals, and PostgreSQL only evaluates a
-- user's qual before them (as an index condition) when its operator is LEAKPROOF. ilike (~~*)
-- and pg_trgm's % are not, so `select ... from robots where name ilike '%x%'` run as
-- `authenticated` filters every visible row instead of using robots_name_trgm_idx (measured
-- on 1M robots: ~700 ms versus a few ms). Only superusers can mark functions LEAKPROOF, which a
-- Supabase project cannot do.
--
-- search_robots runs as its owner (security definer, so RLS does not hide the index path) and
-- applies the same visibility rule as robots_select_{anon,authenticated} itself:
-- is_public or user_id = auth.uid(). It returns only ids and scores; callers join
-- public.robots under their own RLS, so a row the caller may not see is filtered twice.

create or replace function public.search_robots(
  search_query text,
  max_results integer default 20,
  owner_id uuid default null,
  only_public boolean default null,
  filter_strategy_type text default null,
  filter_strategy_id uuid default null,
  created_after timestamptz default null,
  created_before timestamptz default null,
  fuzzy boolean default false
) returns table (id uuid, score double precision)
language sql
stable
security definer
set search_path = ''
as $$
  with params as (
    select
      search_query as q,
      '%' || replace(replace(replace(search_query, '\', '\\'), '%', '\%'), '_', '\_') || '%'
        as pattern
  )
  select r.id,
    greatest(
      extensions.word_similarity(p.q, r.name),
      0.5 * extensions.word_similarity(p.q, r.description)
    )::double precision as score
  from public.robots r, params p
  where (r.name ilike p.pattern or r.description ilike p.pattern
         -- Typo-tolerant name match (pg_trgm.similarity_threshold, 0.3): many more candidates
         -- to recheck, so only on request.
         or (fuzzy and r.name operator(extensions.%) p.q))
    -- The visibility rule of the robots select policies (anon: auth.uid() is null).
    and (r.is_public or r.user_id = (select auth.uid()))
    and (owner_id is null or r.user_id = owner_id)
    and (only_public is null or r.is_public = only_public)
    and (filter_strategy_type is null or r.strategy_type = filter_strategy_type)
    and (filter_strategy_id is null or r.strategy_id = filter_strategy_id)
    and (created_after is null or r.created_at >= created_after)
    and (created_before is null or r.created_at < created_before)
  order by score desc, r.created_at desc, r.id desc
  limit least(greatest(coalesce(max_results, 20), 1), 100)
$$;

comment on function public.search_robots(text, integer, uuid, boolean, text, uuid, timestamptz, timestamptz, boolean) is
  'Ranked trigram search on robots visible to the caller (public or own); ids and scores only.';

revoke execute on function public.search_robots(text, integer, uuid, boolean, text, uuid, timestamptz, timestamptz, boolean)
  from public;
grant execute on function public.search_robots(text, integer, uuid, boolean, text, uuid, timestamptz, timestamptz, boolean)
  to anon, authenticated, service_role;
