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
--   tables  auth.users, auth.sessions, auth.refresh_tokens: the columns the dev server's local
--           auth (scripts/local_auth.ts) and supabase/seed.sql use, with Supabase Auth's names
--           and types (a subset; Supabase Auth owns these tables on a real project)
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

-- The auth tables, a subset of Supabase Auth's (same names and types), for the dev server's
-- local email/password auth and the demo users of seed.sql. Not granted to the API roles: as on
-- Supabase, only the auth server reads them.
create table if not exists auth.users (
  instance_id uuid,
  id uuid primary key,
  aud varchar(255),
  role varchar(255),
  email varchar(255),
  encrypted_password varchar(255),
  email_confirmed_at timestamptz,
  last_sign_in_at timestamptz,
  raw_app_meta_data jsonb,
  raw_user_meta_data jsonb,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  is_anonymous boolean not null default false,
  deleted_at timestamptz,
  -- Supabase Auth reads these as strings: a seeded user needs '' rather than null there.
  confirmation_token varchar(255) default '',
  recovery_token varchar(255) default '',
  email_change_token_new varchar(255) default '',
  email_change varchar(255) default ''
);
create unique index if not exists users_email_key on auth.users (email);

create table if not exists auth.sessions (
  id uuid primary key,
  user_id uuid not null references auth.users (id) on delete cascade,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  refreshed_at timestamp,
  aal text,
  not_after timestamptz,
  user_agent text
);
create index if not exists sessions_user_id_idx on auth.sessions (user_id);

create table if not exists auth.refresh_tokens (
  instance_id uuid,
  id bigserial primary key,
  token varchar(255) unique,
  user_id varchar(255),
  revoked boolean not null default false,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  parent varchar(255),
  session_id uuid references auth.sessions (id) on delete cascade
);
