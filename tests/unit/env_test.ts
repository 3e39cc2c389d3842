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

Deno.test('processEnv: under Deno an unset variable does not touch globalThis.process', () => {
  // Its first access loads Deno's Node `process` layer (about 15 ms of a cold start's CPU).
  const descriptor = Object.getOwnPropertyDescriptor(globalThis, 'process')!;
  let reads = 0;
  Object.defineProperty(globalThis, 'process', {
    configurable: true,
    get() {
      reads++;
      return descriptor.get ? descriptor.get.call(globalThis) : descriptor.value;
    },
  });
  try {
    assert.equal(processEnv(`QF_ENV_UNSET_${crypto.randomUUID().slice(0, 8)}`), undefined);
    assert.equal(reads, 0);
  } finally {
    Object.defineProperty(globalThis, 'process', descriptor);
  }
});
