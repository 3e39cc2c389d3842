/**
 * `CompanionRateWindow` (shared/optimizer/cache/companion.ts): rate decisions counted in a cache
 * read are handed to the next admission of their resource, once, within the window; otherwise
 * the shared window is asked as before.
 */
import assert from 'node:assert/strict';
import {
  type CompanionRateDecision,
  CompanionRateWindow,
} from '../../shared/optimizer/cache/companion.ts';

const T0 = 1_000_000;

/** A companion window at `clock.now` (1 s) over a shared window that records who asked it. */
function windowAt(clock: { now: number }) {
  const asked: string[] = [];
  const inner = {
    limit(identifier: string): CompanionRateDecision {
      asked.push(identifier);
      return { success: true, remaining: 7, retryAfterMs: 0 };
    },
  };
  return { asked, inner, window: new CompanionRateWindow(inner, 1000, () => clock.now) };
}

Deno.test('companion window: a kept decision is used once, then the shared window is asked', () => {
  const { asked, window } = windowAt({ now: T0 });
  window.keep('robots_db', { success: true, remaining: 41, at: T0 });
  assert.deepEqual(window.limit('robots_db', 100), {
    success: true,
    remaining: 41,
    retryAfterMs: 0,
  });
  assert.deepEqual(asked, []);
  assert.equal(window.waiting('robots_db'), 0);
  assert.deepEqual(window.limit('robots_db', 100), {
    success: true,
    remaining: 7,
    retryAfterMs: 0,
  });
  assert.deepEqual(asked, ['robots_db']);
  // Another resource's kept decision is not used for this one.
  window.keep('other', { success: true, remaining: 1, at: T0 });
  window.limit('robots_db', 100);
  assert.deepEqual(asked, ['robots_db', 'robots_db']);
  assert.equal(window.waiting('other'), 1);
});

Deno.test('companion window: a decision older than the window is dropped', () => {
  const clock = { now: T0 };
  const { asked, window } = windowAt(clock);
  window.keep('robots_db', { success: true, remaining: 41, at: T0 });
  clock.now += 1000;
  assert.equal((window.limit('robots_db', 100) as CompanionRateDecision).remaining, 7);
  assert.deepEqual(asked, ['robots_db']);
  assert.equal(window.waiting('robots_db'), 0);
});

Deno.test('companion window: a refusal counted in the read refuses with a retry delay', () => {
  const { asked, window } = windowAt({ now: T0 });
  window.keep('robots_db', { success: false, remaining: 0, at: T0 });
  assert.deepEqual(window.limit('robots_db', 4), {
    success: false,
    remaining: 0,
    retryAfterMs: 250,
  });
  assert.deepEqual(asked, []);
});

Deno.test('companion window: a window length that is not a number >= 1 is refused', () => {
  const { inner } = windowAt({ now: T0 });
  assert.throws(
    () => new CompanionRateWindow(inner, 0),
    /'windowMs' must be a finite number >= 1: received 0/,
  );
});
