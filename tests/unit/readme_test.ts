/** The README is the user's manual: every configuration variable the code reads is in it. */
import assert from 'node:assert/strict';
import { optimizationEnvBindings } from '../../shared/optimizer/config.ts';

const readme = await Deno.readTextFile(new URL('../../README.md', import.meta.url));

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
    assert.ok(readme.includes(`\`${name}\``), `${name} is not in the README`);
  }
});
