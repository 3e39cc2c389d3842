/** shared/runtime/env.ts: the one environment reader every layer defaults to. */
import assert from 'node:assert/strict';
import { processEnv } from '../../shared/runtime/env.ts';
import { processEnv as storeProcessEnv } from '../../shared/store/mod.ts';

Deno.test('processEnv: reads a set variable, undefined for an unset one', () => {
  const name = `QF_ENV_TEST_${crypto.randomUUID().slice(0, 8)}`;
  assert.equal(processEnv(name), undefined);
  Deno.env.set(name, 'on');
  try {
    assert.equal(processEnv(name), 'on');
  } finally {
    Deno.env.delete(name);
  }
  // The store's old export is the same reader, kept for compatibility.
  assert.equal(storeProcessEnv, processEnv);
});
