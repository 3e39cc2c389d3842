/**
 * Auth configuration outside the code: config.toml turns verify_jwt off, and the docs name
 * every auth variable.
 * Fixtures: `auth_support.ts`. No network.
 */
import assert from 'node:assert/strict';

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
