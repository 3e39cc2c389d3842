/**
 * Fills `public.robots` with generated demo robots through the SQL generator
 * `public.generate_demo_robots(n, users)` (one set-based insert), then ANALYZEs the table so
 * planner estimates are right, and prints how long each step took.
 *
 * ```sh
 * # into an existing database (migrations applied):
 * deno run -A scripts/generate-robots.ts --url "$DATABASE_URL" --count 1000000 --users 1000
 * # into a throwaway PostgreSQL 15 started for the purpose (kept running until Ctrl-C):
 * deno run -A scripts/generate-robots.ts --start --count 200000
 * ```
 *
 * @module
 */
import postgres from 'postgres';
import { applyMigrations, startPostgres } from './services/postgres.ts';

function flag(name: string): string | undefined {
  const index = Deno.args.indexOf(`--${name}`);
  return index === -1 ? undefined : Deno.args[index + 1];
}

function intFlag(name: string, fallback: number): number {
  const raw = flag(name);
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    console.error(`--${name} must be an integer >= 1: received ${raw}`);
    Deno.exit(2);
  }
  return value;
}

/**
 * Generates `count` robots for `users` demo users and analyzes the table.
 *
 * @example
 * ```ts
 * const timings = await generateRobots('postgres://postgres:postgres@127.0.0.1:5432/postgres', 200_000, 1000);
 * ```
 */
export async function generateRobots(
  url: string,
  count: number,
  users: number,
): Promise<{ inserted: number; generateMs: number; analyzeMs: number; totalSize: string }> {
  const sql = postgres(url, { max: 1, onnotice: () => {}, prepare: false });
  try {
    let started = performance.now();
    const [{ inserted }] = await sql<{ inserted: string }[]>`
      select public.generate_demo_robots(${count}::int, ${users}::int) as inserted`;
    const generateMs = performance.now() - started;
    started = performance.now();
    await sql`analyze public.robots`;
    const analyzeMs = performance.now() - started;
    const [{ size }] = await sql<{ size: string }[]>`
      select pg_size_pretty(pg_total_relation_size('public.robots')) as size`;
    return { inserted: Number(inserted), generateMs, analyzeMs, totalSize: size };
  } finally {
    await sql.end({ timeout: 5 });
  }
}

if (import.meta.main) {
  const count = intFlag('count', 1_000_000);
  const users = intFlag('users', 1000);
  const start = Deno.args.includes('--start');
  const pg = start ? await startPostgres() : undefined;
  try {
    const url = pg?.url ?? flag('url') ?? Deno.env.get('DATABASE_URL');
    if (!url) {
      console.error(
        'pass --url <postgres url> (or DATABASE_URL), or --start for a throwaway cluster',
      );
      Deno.exit(2);
    }
    if (pg) await applyMigrations(pg.url);
    const result = await generateRobots(url, count, users);
    console.log(
      `generated ${result.inserted} robots for ${users} users in ${
        (result.generateMs / 1000).toFixed(1)
      } s (analyze ${result.analyzeMs.toFixed(0)} ms); robots table + indexes: ${result.totalSize}`,
    );
    if (pg) {
      console.log(`database: ${pg.url} (postmaster pid ${pg.pid}); Ctrl-C stops and removes it`);
      await new Promise<void>((resolve) => {
        Deno.addSignalListener('SIGINT', () => resolve());
        Deno.addSignalListener('SIGTERM', () => resolve());
      });
    }
  } finally {
    await pg?.stop();
  }
}
