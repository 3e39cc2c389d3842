/** shared/db/filters.ts: the one WHERE builder robots and strategies listings share. */
import assert from 'node:assert/strict';
import { DbValidationError, listingWhere, robotWhere, strategyWhere } from '../../shared/db/mod.ts';

const isPublicRejected = (error: unknown) =>
  error instanceof DbValidationError && error.field === 'filters.isPublic' &&
  /must be a boolean: received "true"/.test(error.message);

Deno.test('listingWhere: isPublic must be a boolean, for robots and strategies alike', () => {
  const notBoolean = { isPublic: 'true' as unknown as boolean };
  assert.throws(() => listingWhere(notBoolean, ['isPublic']), isPublicRejected);
  assert.throws(() => robotWhere(notBoolean), isPublicRejected);
  assert.throws(() => strategyWhere(notBoolean), isPublicRejected);
  assert.equal(robotWhere({ isPublic: true }).toSql(), 'where t.is_public');
  assert.equal(strategyWhere({ isPublic: false }).toSql(), 'where not t.is_public');
});

Deno.test('listingWhere: each repository allows its own filters, same conditions', () => {
  const owner = crypto.randomUUID();
  const filters = { ownerId: owner, isPublic: true, strategyType: 'grid' };
  assert.deepEqual(
    [robotWhere(filters).toSql(), robotWhere(filters).params],
    [strategyWhere(filters).toSql(), strategyWhere(filters).params],
  );
  assert.throws(
    () => strategyWhere({ strategyId: owner } as never),
    (e) => e instanceof DbValidationError && /unknown filter\(s\) strategyId/.test(e.message),
  );
  assert.match(
    robotWhere({ strategyId: owner, createdAfter: '2026-01-01T00:00:00Z' }).toSql(),
    /t\.strategy_id = \$1::uuid and t\.created_at >= \$2/,
  );
});
