-- bootstrap.sql: the pieces of a Supabase database that vanilla PostgreSQL 15 and PGlite lack.
--
-- For LOCAL PostgreSQL and PGlite only, never a migration: a Supabase project already has all of
-- this (and more). Applied before the migrations by scripts/services/postgres.ts
-- (applyMigrations) and by shared/db/pglite.ts (createEmbeddedDatabase). Idempotent: safe to run
-- any number of times.
--
-- What it creates, with Supabase's own definitions:
--   roles   anon, authenticated (nologin, noinherit), service_role (bypassrls),
--           authenticator (may switch to the three, as PostgREST does)
--   schemas auth (auth.uid(), auth.role(), auth.jwt(), auth.email()), extensions
--   grants  usage on public/extensions, default privileges on public objects

do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticator') then
    create role authenticator noinherit nologin;
  end if;
end
$$;

grant anon, authenticated, service_role to authenticator;
-- The connecting role switches to these roles inside transactions (set local role), as the
-- postgres role does on Supabase.
do $$
begin
  execute format('grant anon, authenticated, service_role to %I', current_user);
exception when others then
  raise notice 'bootstrap: could not grant API roles to %: %', current_user, sqlerrm;
end
$$;

create schema if not exists auth;
create schema if not exists extensions;

grant usage on schema public to anon, authenticated, service_role;
grant usage on schema extensions to anon, authenticated, service_role;
grant usage on schema auth to anon, authenticated, service_role;

alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to anon, authenticated, service_role;

-- Supabase's definitions (supabase/postgres, auth schema): the claims come from the settings
-- PostgREST sets per request; request.jwt.claim.* is the legacy form, still honoured first.
create or replace function auth.uid() returns uuid
language sql stable
as $$
  select
  coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;

create or replace function auth.role() returns text
language sql stable
as $$
  select
  coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;

create or replace function auth.email() returns text
language sql stable
as $$
  select
  coalesce(
    nullif(current_setting('request.jwt.claim.email', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
  )::text
$$;

create or replace function auth.jwt() returns jsonb
language sql stable
as $$
  select
    coalesce(
        nullif(current_setting('request.jwt.claim', true), ''),
        nullif(current_setting('request.jwt.claims', true), '')
    )::jsonb
$$;

grant execute on function auth.uid(), auth.role(), auth.email(), auth.jwt()
  to anon, authenticated, service_role;
