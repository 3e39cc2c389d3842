/**
 * A database of its own, in the test runner's PostgreSQL cluster, with the bootstrap SQL and
 * every migration applied: for tests whose optimizer runs must not touch rows other test files
 * rely on (a run drains the shared cache-invalidation outbox and aggregates metrics).
 *
 * @module
 */
import postgres from 'postgres';
import { applyMigrations } from '../../scripts/services/postgres.ts';
import { databaseUrl } from './services.ts';

/**
 * Creates `qf_<prefix>_<random>`, applies the migrations, runs `fn` with its URL, and drops it
 * (also on failure).
 *
 * @example
 * ```ts
 * await withIsolatedDatabase('dashboard', async (url) => {
 *   const db = createPostgresDatabase(url);
 * });
 * ```
 */
export async function withIsolatedDatabase<T>(
  prefix: string,
  fn: (url: string) => Promise<T>,
): Promise<T> {
  if (!/^[a-z][a-z0-9_]{0,30}$/.test(prefix)) {
    throw new TypeError(`'prefix' must match /^[a-z][a-z0-9_]{0,30}$/: received ${prefix}`);
  }
  const serverUrl = databaseUrl();
  const name = `qf_${prefix}_${crypto.randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database ${name}`);
    try {
      await applyMigrations(url.toString());
      return await fn(url.toString());
    } finally {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
    }
  } finally {
    await admin.end({ timeout: 5 });
  }
}
