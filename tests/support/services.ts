/**
 * What the test runner (`scripts/test.ts`) started, read from the environment it passes to
 * `deno test`. A test that needs a service fails with a clear message when it is missing: run
 * it through `npm test`, which starts real servers.
 *
 * | variable | what |
 * |---|---|
 * | `TEST_REDIS_URL` | `redis://127.0.0.1:<port>` of a real redis-server |
 * | `TEST_UPSTASH_URL`, `TEST_UPSTASH_TOKEN` | the Upstash REST bridge in front of it |
 * | `TEST_DATABASE_URL` | a real PostgreSQL 15 with bootstrap SQL and migrations applied |
 *
 * @module
 */

function required(name: string): string {
  const value = Deno.env.get(name);
  if (!value) {
    throw new Error(
      `${name} is not set: run this test through 'npm test', which starts the real servers`,
    );
  }
  return value;
}

/** The real redis-server's URL. */
export const redisUrl = (): string => required('TEST_REDIS_URL');

/** The Upstash REST bridge in front of the real redis-server. */
export const upstashBridge = (): { url: string; token: string } => ({
  url: required('TEST_UPSTASH_URL'),
  token: required('TEST_UPSTASH_TOKEN'),
});

/** The real PostgreSQL 15's connection URL (superuser). */
export const databaseUrl = (): string => required('TEST_DATABASE_URL');
