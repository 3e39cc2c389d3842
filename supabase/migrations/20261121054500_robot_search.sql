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
  -- Dynamic SQL with only the conditions in use: every call is planned with its own values
  -- (a generic plan of "$x is null or ..." / "fuzzy and ..." conditions cannot use the
  -- trigram bitmap indexes).
  statement := 'select r.id, greatest(extensions.word_similarity($1, r.name),'
    || ' 0.5 * extensions.word_similarity($1, r.description))::double precision as score'
    || ' from public.robots r'
    || ' where (r.name ilike $2 or r.description ilike $2'
    -- Typo-tolerant name match (pg_trgm.similarity_threshold, 0.3): many more candidates to
    -- recheck, so only on request.
    || case when fuzzy then ' or r.name operator(extensions.%) $1' else '' end
    || ')'
    -- The visibility rule of the robots select policies (anon: auth.uid() is null).
    || ' and (r.is_public or r.user_id = (select auth.uid()))';
  if owner_id is not null then statement := statement || ' and r.user_id = $3'; end if;
  if only_public is not null then
    statement := statement || case when only_public then ' and r.is_public' else ' and not r.is_public' end;
  end if;
  if filter_strategy_type is not null then statement := statement || ' and r.strategy_type = $4'; end if;
  if filter_strategy_id is not null then statement := statement || ' and r.strategy_id = $5'; end if;
  if created_after is not null then statement := statement || ' and r.created_at >= $6'; end if;
  if created_before is not null then statement := statement || ' and r.created_at < $7'; end if;
  statement := statement || ' order by score desc, r.created_at desc, r.id desc limit $8';
  return query execute statement
    using search_query, pattern, owner_id, filter_strategy_type, filter_strategy_id,
      created_after, created_before, least(greatest(coalesce(max_results, 20), 1), 100);
end
$$;

comment on function public.search_robots(text, integer, uuid, boolean, text, uuid, timestamptz, timestamptz, boolean) is
  'Ranked trigram search on robots visible to the caller (public or own); ids and scores only.';

revoke execute on function public.search_robots(text, integer, uuid, boolean, text, uuid, timestamptz, timestamptz, boolean)
  from public;
grant execute on function public.search_robots(text, integer, uuid, boolean, text, uuid, timestamptz, timestamptz, boolean)
  to anon, authenticated, service_role;
