/**
 * The README is the user's manual and docs/configuration.md the one home of the full variable
 * tables: every configuration variable the code reads is documented in one of them, and the
 * README links the full tables.
 */
import assert from 'node:assert/strict';
import { optimizationEnvBindings } from '../../shared/optimizer/config.ts';

const readmeOnly = await Deno.readTextFile(new URL('../../README.md', import.meta.url));
const configuration = await Deno.readTextFile(
  new URL('../../docs/configuration.md', import.meta.url),
);
const readme = `${readmeOnly}\n${configuration}`;

Deno.test('README links the full configuration tables and stays a manual (under 20 KB)', () => {
  assert.ok(readmeOnly.includes('](docs/configuration.md'), 'README does not link the tables');
  assert.ok(new TextEncoder().encode(readmeOnly).length < 20_000, 'README is 20 KB or more');
});

Deno.test('README documents every optimizer variable with its option', () => {
  const missing = optimizationEnvBindings.filter((b) => !readme.includes(`\`${b.env}\``));
  assert.deepEqual(missing.map((b) => b.env), []);
  const options = optimizationEnvBindings.map((b) => b.path.split('.').at(-1)!);
  assert.deepEqual(options.filter((o) => !readme.includes(`\`${o}\``)), []);
});

Deno.test('README documents the backend, auth and server variables', () => {
  for (
    const name of [
      'UPSTASH_REDIS_REST_URL',
      'UPSTASH_REDIS_REST_TOKEN',
      'UPSTASH_TIMEOUT_MS',
      'MEMORY_STORE_MAX_ENTRIES',
      'SUPABASE_DB_URL',
      'DATABASE_URL',
      'SUPABASE_JWT_SECRET',
      'SUPABASE_URL',
      'CRON_SECRET',
      'PORT',
    ]
  ) {
    assert.ok(
      readme.includes(`\`${name}\``),
      `${name} is not in README.md or docs/configuration.md`,
    );
  }
});
