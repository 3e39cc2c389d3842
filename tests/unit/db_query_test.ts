/** Pure parts of the data layer: cursors, limits, field whitelist, filters, claims, env choice. */
import assert from 'node:assert/strict';
import {
  claimsStatement,
  databaseFromEnv,
  DbValidationError,
  decodeCursor,
  encodeCursor,
  parseLimit,
  ROBOT_FIELDS,
  robotWhere,
  selectFields,
} from '../../shared/db/mod.ts';
import { toApiError } from '../../shared/http/errors.ts';

const isValidation = (field: string) => (error: unknown) =>
  error instanceof DbValidationError && error.field === field &&
  toApiError(error).status === 400;

Deno.test('cursor: round-trips microsecond timestamps and ids as opaque base64url', () => {
  const position = { createdAt: '2026-03-04T05:06:07.123456Z', id: crypto.randomUUID() };
  const cursor = encodeCursor(position);
  assert.match(cursor, /^[A-Za-z0-9_-]+$/);
  assert.deepEqual(decodeCursor(cursor), position);
});

Deno.test('cursor: anything else is a typed validation error', () => {
  for (const bad of ['', 'x', btoa('[1,2]'), encodeCursor({ createdAt: 'yesterday', id: 'x' })]) {
    assert.throws(() => decodeCursor(bad), isValidation('cursor'), bad);
  }
});

Deno.test('limit: default 20, bounded 1..100, says what it received', () => {
  assert.equal(parseLimit(undefined), 20);
  assert.equal(parseLimit('50'), 50);
  assert.equal(parseLimit(100), 100);
  for (const bad of [0, 101, 2.5, 'ten', -1]) {
    assert.throws(() => parseLimit(bad), isValidation('limit'));
  }
  assert.throws(() => parseLimit(101), /received 101/);
});

Deno.test('fields: whitelist only, comma lists accepted, unknown ones named', () => {
  assert.deepEqual(selectFields(ROBOT_FIELDS, 'id, name,id'), ['id', 'name']);
  assert.deepEqual(selectFields(ROBOT_FIELDS, undefined), Object.keys(ROBOT_FIELDS));
  assert.deepEqual(selectFields(ROBOT_FIELDS, ''), Object.keys(ROBOT_FIELDS));
  // An empty name inside a list is a mistake, not "every field" (fuzz finding).
  assert.throws(() => selectFields(ROBOT_FIELDS, 'id,,name'), isValidation('fields'));
  assert.throws(
    () => selectFields(ROBOT_FIELDS, ['id', 'user_id; drop table robots', 'secret']),
    (error: unknown) => isValidation('fields')(error) && /'secret'/.test((error as Error).message),
  );
});

Deno.test('filters: validated, is_public inlined for the partial index, others parameterised', () => {
  const owner = crypto.randomUUID();
  const where = robotWhere({ ownerId: owner, isPublic: true, strategyType: 'grid' });
  assert.equal(
    where.toSql(),
    'where t.user_id = $1::uuid and t.is_public and t.strategy_type = $2',
  );
  assert.deepEqual(where.params, [owner, 'grid']);
  assert.throws(() => robotWhere({ ownerId: 'bob' }), isValidation('filters.ownerId'));
  assert.throws(() => robotWhere({ strategyType: 'x' }), isValidation('filters.strategyType'));
  assert.throws(() => robotWhere({ createdAfter: 'soon' }), isValidation('filters.createdAfter'));
  // deno-lint-ignore no-explicit-any
  assert.throws(() => robotWhere({ color: 'red' } as any), isValidation('filters'));
});

Deno.test('claims: role and sub set locally like PostgREST; bad claims rejected', () => {
  const sub = crypto.randomUUID();
  const statement = claimsStatement({ sub, email: 'a@b.c' });
  assert.match(statement.text, /set_config\('role', \$1, true\)/);
  assert.match(statement.text, /set_config\('request\.jwt\.claims', \$2, true\)/);
  assert.deepEqual(statement.params[0], 'authenticated');
  assert.deepEqual(JSON.parse(statement.params[1]), { sub, email: 'a@b.c', role: 'authenticated' });
  assert.equal(statement.params[2], sub);
  assert.equal(claimsStatement({ role: 'anon' }).params[0], 'anon');
  assert.throws(() => claimsStatement({ sub, role: 'service_role' }), isValidation('claims.role'));
  assert.throws(() => claimsStatement({ sub: 'admin' }), isValidation('claims.sub'));
  assert.throws(() => claimsStatement({}), isValidation('claims.sub'));
});

Deno.test('databaseFromEnv: without a database URL it says what to set (no embedded fallback in deployed code)', async () => {
  await assert.rejects(() => databaseFromEnv(() => undefined), /SUPABASE_DB_URL is not set/);
});

Deno.test('databaseFromEnv: SUPABASE_DB_URL, then DATABASE_URL, selects postgres.js (lazy)', async () => {
  const env: Record<string, string> = { DATABASE_URL: 'postgres://u:p@127.0.0.1:1/db' };
  const db = await databaseFromEnv((name) => env[name]);
  try {
    assert.equal(db.backend, 'postgres');
  } finally {
    await db.close();
  }
});
