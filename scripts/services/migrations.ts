/**
 * The project's migrations applied to a database the way Supabase does: the bootstrap SQL
 * (Supabase roles and the `auth` schema), then the real Supabase CLI
 * (`supabase migration up --remote=<url>`), then a check that every migration file's version is
 * recorded in `supabase_migrations.schema_migrations` and the tables exist.
 *
 * @module
 */
import postgres from 'postgres';
import { run } from './process.ts';

const REPO_ROOT = new URL('../../', import.meta.url).pathname.replace(/\/$/, '');
const BOOTSTRAP_SQL = `${REPO_ROOT}/supabase/bootstrap.sql`;
const MIGRATIONS_DIR = `${REPO_ROOT}/supabase/migrations`;
const SUPABASE_CLI = `${REPO_ROOT}/node_modules/.bin/supabase`;
/** Tables every migrated database has. */
const EXPECTED_TABLES = ['strategies', 'robots', 'optimization_metrics', 'optimization_runs'];

/** Migration files in apply order: `<version>_<name>.sql`. */
export async function migrationFiles(
  dir = MIGRATIONS_DIR,
): Promise<{ version: string; file: string }[]> {
  const files: { version: string; file: string }[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const match = /^(\d{14})_.+\.sql$/.exec(entry.name);
    if (entry.isFile && match) files.push({ version: match[1], file: entry.name });
  }
  return files.sort((a, b) => a.version.localeCompare(b.version));
}

/** Options of {@link applyMigrations}. */
export interface ApplyMigrationsOptions {
  /**
   * Also apply `supabase/seed.sql` after the migrations.
   * @default false
   */
  seed?: boolean;
}

/**
 * Applies the bootstrap SQL, then every migration through the real Supabase CLI
 * (`supabase migration up --remote=<url> --include-all --yes`), then verifies that every
 * migration version is recorded and the tables exist. Throws with the CLI's output otherwise.
 *
 * @example
 * ```ts
 * await applyMigrations('postgres://postgres:postgres@127.0.0.1:5432/postgres');
 * ```
 */
export async function applyMigrations(
  url: string,
  options: ApplyMigrationsOptions = {},
): Promise<string[]> {
  const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    await sql.unsafe(await Deno.readTextFile(BOOTSTRAP_SQL));
  } finally {
    await sql.end({ timeout: 5 });
  }

  const cli = await run(SUPABASE_CLI, [
    'migration',
    'up',
    `--remote=${withSslDisabled(url)}`,
    '--include-all',
    '--workdir',
    REPO_ROOT,
    '--yes',
  ], {
    cwd: REPO_ROOT,
    env: { SUPABASE_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1', SUPABASE_YES: '1' },
  });
  const cliOutput = `${cli.stdout}${cli.stderr}`;
  if (cli.code !== 0) {
    throw new Error(`supabase migration up failed (${cli.code}):\n${cliOutput}`);
  }

  const expected = (await migrationFiles()).map((m) => m.version);
  const check = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    const applied = await check.unsafe<{ version: string }[]>(
      'select version from supabase_migrations.schema_migrations',
    ).catch((error) => {
      throw new Error(
        `supabase migration up exited 0 but recorded no migrations (${error.message}):\n${cliOutput}`,
      );
    });
    const appliedSet = new Set(applied.map((row) => row.version));
    const missing = expected.filter((version) => !appliedSet.has(version));
    if (missing.length > 0) {
      throw new Error(
        `supabase migration up exited 0 but did not apply ${missing.join(', ')}:\n${cliOutput}`,
      );
    }
    const tables = await check.unsafe<{ relname: string }[]>(
      `select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = 'public' and c.relkind = 'r' and c.relname = any($1)`,
      [EXPECTED_TABLES],
    );
    const present = new Set(tables.map((row) => row.relname));
    const absent = EXPECTED_TABLES.filter((table) => !present.has(table));
    if (absent.length > 0) throw new Error(`tables missing after migrations: ${absent.join(', ')}`);
    if (options.seed) {
      await check.unsafe(await Deno.readTextFile(`${REPO_ROOT}/supabase/seed.sql`));
    }
  } finally {
    await check.end({ timeout: 5 });
  }
  return expected;
}

/** The CLI tries TLS first against remote URLs; a local cluster has none. */
function withSslDisabled(url: string): string {
  const parsed = new URL(url);
  if (!parsed.searchParams.has('sslmode')) parsed.searchParams.set('sslmode', 'disable');
  return parsed.toString();
}
