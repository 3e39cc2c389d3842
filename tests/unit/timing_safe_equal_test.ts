/** shared/runtime/timing_safe_equal.ts: the one constant-time secret comparison. */
import assert from 'node:assert/strict';
import { timingSafeEqual } from '../../shared/runtime/timing_safe_equal.ts';

const bytes = (text: string) => new TextEncoder().encode(text);

Deno.test('timingSafeEqual: equal only for the same bytes and length', () => {
  assert.equal(timingSafeEqual(bytes('secret'), bytes('secret')), true);
  assert.equal(timingSafeEqual(bytes('secret'), bytes('secreT')), false);
  assert.equal(timingSafeEqual(bytes('secret'), bytes('secret!')), false);
  assert.equal(timingSafeEqual(bytes('secret!'), bytes('secret')), false);
  assert.equal(timingSafeEqual(bytes(''), bytes('')), true);
  assert.equal(timingSafeEqual(bytes('a'), bytes('')), false);
});
