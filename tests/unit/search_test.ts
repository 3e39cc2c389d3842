/** shared/db/search.ts: the search text robots and strategies accept. */
import assert from 'node:assert/strict';
import { DbValidationError } from '../../shared/db/mod.ts';
import { searchText } from '../../shared/db/search.ts';

Deno.test('searchText: trimmed, 2 to 100 characters, else a validation error on query', () => {
  assert.equal(searchText('  grid bot '), 'grid bot');
  for (const bad of [' a ', 'x'.repeat(101), 42, undefined]) {
    assert.throws(
      () => searchText(bad),
      (e) => e instanceof DbValidationError && e.field === 'query',
      String(bad),
    );
  }
});
