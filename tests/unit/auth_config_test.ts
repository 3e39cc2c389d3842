/**
 * Auth configuration outside the code: config.toml turns verify_jwt off, and the docs name
 * every auth variable.
 * Fixtures: `auth_support.ts`. No network.
 */
import assert from 'node:assert/strict';
import { readAuthConfig, resetAuthConfig } from '../../shared/http/auth.ts';
import { processEnv } from '../../shared/runtime/env.ts';

Deno.test('config.toml: verify_jwt is off for every function (they authenticate themselves)', async () => {
  const toml = await Deno.readTextFile(new URL('../../supabase/config.toml', import.meta.url));
  const blocks = toml.split(/^\[functions\./m).slice(1);
  assert.ok(blocks.length >= 2);
  for (const block of blocks) {
    const name = block.slice(0, block.indexOf(']'));
    assert.match(block, /^verify_jwt = false$/m, `${name} must set verify_jwt = false`);
  }
});

Deno.test('README or docs/configuration.md, and docs/auth.md, document every auth variable', async () => {
  const { AUTH_ENV_VARIABLES } = await import('../../shared/http/auth.ts');
  const readme = await Deno.readTextFile(new URL('../../README.md', import.meta.url)) +
    await Deno.readTextFile(new URL('../../docs/configuration.md', import.meta.url));
  const docs = await Deno.readTextFile(new URL('../../docs/auth.md', import.meta.url));
  for (const name of AUTH_ENV_VARIABLES) {
    assert.ok(
      readme.includes(`\`${name}\``),
      `${name} is not in README.md or docs/configuration.md`,
    );
    assert.ok(docs.includes(`\`${name}\``), `${name} is not in docs/auth.md`);
  }
});

Deno.test('auth config: the process environment is read once per isolate until resetAuthConfig', () => {
  const name = 'CRON_SECRET';
  const before = Deno.env.get(name);
  try {
    Deno.env.set(name, 'first-cron-secret-value');
    resetAuthConfig();
    const first = readAuthConfig(processEnv);
    assert.deepEqual(first.cronSecret, new TextEncoder().encode('first-cron-secret-value'));
    Deno.env.set(name, 'second-cron-secret-value');
    assert.equal(readAuthConfig(processEnv), first, 'no re-read on the next request');
    resetAuthConfig();
    assert.deepEqual(
      readAuthConfig(processEnv).cronSecret,
      new TextEncoder().encode('second-cron-secret-value'),
    );
    // A map reader (tests) is still read on every call.
    let value = 'a-value';
    const reader = (n: string) => (n === name ? value : undefined);
    assert.deepEqual(readAuthConfig(reader).cronSecret, new TextEncoder().encode('a-value'));
    value = 'b-value';
    assert.deepEqual(readAuthConfig(reader).cronSecret, new TextEncoder().encode('b-value'));
  } finally {
    if (before === undefined) Deno.env.delete(name);
    else Deno.env.set(name, before);
    resetAuthConfig();
  }
});
