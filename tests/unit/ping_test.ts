/** shared/runtime/ping.ts: the one way a ping is timed. */
import assert from 'node:assert/strict';
import { timeProbe } from '../../shared/runtime/ping.ts';

Deno.test('timeProbe: answers, failures and timeouts, never a throw', async () => {
  const ok = await timeProbe(() => Promise.resolve('pong'));
  assert.equal(ok.ok, true);
  assert.ok(ok.latencyMs >= 0);
  assert.equal('error' in ok, false);
  assert.deepEqual(
    { ...(await timeProbe(() => Promise.reject(new Error('refused')))), latencyMs: 0 },
    { ok: false, latencyMs: 0, error: 'refused' },
  );
  const never = () => new Promise(() => {});
  assert.equal((await timeProbe(never, { timeoutMs: 5 })).error, 'no answer within 5ms');
  assert.equal(
    (await timeProbe(never, { timeoutMs: 5, timeoutMessage: (ms) => `late by ${ms}` })).error,
    'late by 5',
  );
});
