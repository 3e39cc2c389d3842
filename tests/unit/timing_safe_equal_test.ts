/** shared/runtime/timing_safe_equal.ts: the constant-time secret comparisons (bytes, text). */
import assert from 'node:assert/strict';
import { timingSafeEqual, timingSafeEqualText } from '../../shared/runtime/timing_safe_equal.ts';

const bytes = (text: string) => new TextEncoder().encode(text);

Deno.test('timingSafeEqual: equal only for the same bytes and length', () => {
  assert.equal(timingSafeEqual(bytes('secret'), bytes('secret')), true);
  assert.equal(timingSafeEqual(bytes('secret'), bytes('secreT')), false);
  assert.equal(timingSafeEqual(bytes('secret'), bytes('secret!')), false);
  assert.equal(timingSafeEqual(bytes('secret!'), bytes('secret')), false);
  assert.equal(timingSafeEqual(bytes(''), bytes('')), true);
  assert.equal(timingSafeEqual(bytes('a'), bytes('')), false);
});

Deno.test('timingSafeEqualText: equal only for the same text and length', () => {
  assert.equal(timingSafeEqualText('sb_publishable_abc', 'sb_publishable_abc'), true);
  assert.equal(timingSafeEqualText('sb_publishable_abd', 'sb_publishable_abc'), false);
  assert.equal(timingSafeEqualText('sb_publishable_ab', 'sb_publishable_abc'), false);
  assert.equal(timingSafeEqualText('sb_publishable_abcd', 'sb_publishable_abc'), false);
  assert.equal(timingSafeEqualText('', 'x'), false);
  assert.equal(timingSafeEqualText('x', ''), false);
  assert.equal(timingSafeEqualText('', ''), true);
  assert.equal(timingSafeEqualText('é', 'e'), false);
  // A prefix repeated does not match (the index wraps over the shorter key).
  assert.equal(timingSafeEqualText('abab', 'ab'), false);
});
