-- 20261121054000_extensions.sql: extensions the domain needs.
--
-- pg_trgm backs the trigram (gin_trgm_ops) indexes that make name/description search fast.
-- On Supabase, extensions live in the `extensions` schema (it exists there, and it is on the
-- default search_path); locally the bootstrap SQL creates it, and this file creates it too so
-- the migration stands alone. Every use of pg_trgm in this project is schema-qualified
-- (extensions.gin_trgm_ops, extensions.similarity), so the search_path does not matter.

create schema if not exists extensions;

do $$
declare
  installed_schema text;
begin
  select n.nspname into installed_schema
  from pg_extension e join pg_namespace n on n.oid = e.extnamespace
  where e.extname = 'pg_trgm';

  if installed_schema is null then
    create extension pg_trgm with schema extensions;
  elsif installed_schema <> 'extensions' then
    -- pg_trgm is relocatable: move it where the rest of the project expects it.
    raise notice 'pg_trgm is installed in schema %, moving it to schema extensions', installed_schema;
    alter extension pg_trgm set schema extensions;
  end if;
end
$$;
