/**
 * Reads the SQL that defines the schema from the repo's `supabase/` folder: the bootstrap
 * (Supabase roles and `auth` for non-Supabase databases), the migrations in version order, and
 * the seed. Used by the embedded database; needs file-system access (Deno, local only).
 *
 * @module
 */

/** The schema's SQL, in apply order. */
export interface SchemaSql {
  bootstrap: string;
  migrations: { name: string; version: string; sql: string }[];
  seed?: string;
}

/** The repo's `supabase/` folder. */
export const SUPABASE_DIR: URL = new URL('../../supabase/', import.meta.url);

/**
 * Loads bootstrap, migrations (sorted by version) and seed from `dir`.
 *
 * @example
 * ```ts
 * const { migrations } = await loadSchemaSql();
 * console.log(migrations.map((m) => m.name));
 * ```
 */
export async function loadSchemaSql(dir: URL = SUPABASE_DIR): Promise<SchemaSql> {
  const read = (path: string) => Deno.readTextFile(new URL(path, dir));
  const migrations: SchemaSql['migrations'] = [];
  for await (const entry of Deno.readDir(new URL('migrations/', dir))) {
    const match = /^(\d{14})_.+\.sql$/.exec(entry.name);
    if (entry.isFile && match) {
      migrations.push({
        name: entry.name,
        version: match[1],
        sql: await read(`migrations/${entry.name}`),
      });
    }
  }
  migrations.sort((a, b) => a.version.localeCompare(b.version));
  const seed = await read('seed.sql').catch(() => undefined);
  return { bootstrap: await read('bootstrap.sql'), migrations, seed };
}
