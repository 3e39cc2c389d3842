/** shared/db/listing.ts: the reads and the update robots and strategies share. */
import assert from 'node:assert/strict';
import {
  type Database,
  DbValidationError,
  ROBOT_FIELDS,
  robotUpdateSchema,
  type SqlExecutor,
  STRATEGY_FIELDS,
  strategyUpdateSchema,
  userCaller,
} from '../../shared/db/mod.ts';
import {
  ListingRepository,
  type ListingTable,
  updateAssignments,
} from '../../shared/db/listing.ts';
import { listingFields } from '../../shared/db/listing_row.ts';

/** A database that records each statement and answers no rows. */
function recording(into: { text: string; params?: unknown[] }[]): Database {
  const tx: SqlExecutor = {
    query: (text: string, params?: unknown[]) => {
      into.push({ text, params });
      return Promise.resolve([] as never);
    },
  };
  return {
    ...tx,
    backend: 'postgres',
    asUser: (_claims, fn) => fn(tx),
    transaction: (fn) => fn(tx),
  } as Database;
}

Deno.test('listingFields: the columns in order, timestamps as UTC ISO text', () => {
  const fields = listingFields(['id', 'name', 'created_at', 'updated_at']);
  assert.deepEqual(Object.keys(fields), ['id', 'name', 'created_at', 'updated_at']);
  assert.equal(fields.id, 't.id');
  assert.match(fields.created_at, /^to_char\(t\.created_at at time zone 'UTC'/);
  assert.match(fields.updated_at, /^to_char\(t\.updated_at at time zone 'UTC'/);
  // A full row's keys keep the API's order (robots: strategy_id right after user_id).
  assert.deepEqual(Object.keys(ROBOT_FIELDS).slice(0, 4), ['id', 'user_id', 'strategy_id', 'name']);
  assert.deepEqual(Object.keys(STRATEGY_FIELDS).slice(5, 7), ['parameters', 'is_public']);
});

Deno.test('updateAssignments: one set per given field, JSON as jsonb, id first and canonical', () => {
  const id = crypto.randomUUID().toUpperCase();
  const spec = { schema: robotUpdateSchema, what: 'robot', jsonColumn: 'strategy_params' };
  const { sets, params } = updateAssignments(spec, id, {
    is_public: true,
    strategy_params: { a: 1 },
    name: 'Falcon',
  });
  assert.deepEqual(sets, [
    'name = $2',
    'strategy_params = $3::text::jsonb',
    'is_public = $4',
  ]);
  assert.deepEqual(params, [id.toLowerCase(), 'Falcon', '{"a":1}', true]);
});

Deno.test('updateAssignments: an empty patch names what it may set; a bad id or field is a 400', () => {
  const spec = { schema: strategyUpdateSchema, what: 'strategy', jsonColumn: 'parameters' };
  const id = crypto.randomUUID();
  assert.throws(
    () => updateAssignments(spec, id, {}),
    (e) =>
      e instanceof DbValidationError && e.field === 'strategy' &&
      e.message.includes('needs at least one of name, description, strategy_type, parameters'),
  );
  assert.throws(
    () => updateAssignments(spec, 'nope', { name: 'x' }),
    (e) => e instanceof DbValidationError && e.field === 'id',
  );
  assert.throws(
    () => updateAssignments(spec, id, { strategy_type: 'lottery' }),
    (e) => e instanceof DbValidationError && e.field === 'strategy.strategy_type',
  );
});

Deno.test('ListingRepository: a user search passes the table filters in its order to the function', async () => {
  const statements: { text: string; params?: unknown[] }[] = [];
  const table: ListingTable = {
    table: 'public.robots',
    fields: ROBOT_FIELDS,
    filters: ['ownerId', 'isPublic', 'strategyType', 'strategyId', 'createdAfter', 'createdBefore'],
    searchFunction: 'public.search_robots',
  };
  const repo = new ListingRepository(recording(statements), table);
  const owner = crypto.randomUUID();
  const caller = userCaller({ sub: owner, role: 'authenticated' });
  await repo.search(caller, {
    query: ' grid ',
    limit: 5,
    filters: { ownerId: owner, createdAfter: '2026-01-01T00:00:00Z' },
  });
  const [statement] = statements;
  assert.match(
    statement.text,
    /from public\.search_robots\(\$1, \$2, \$3::uuid, \$4::boolean, \$5::text, \$6::uuid, \$7::text::timestamptz, \$8::text::timestamptz, \$9::boolean\) s/,
  );
  assert.deepEqual(statement.params, [
    'grid',
    5,
    owner,
    null,
    null,
    null,
    '2026-01-01T00:00:00.000Z',
    null,
    false,
  ]);
  await assert.rejects(
    () => repo.search(caller, { query: 'grid', filters: { isPublic: 'yes' as never } }),
    (e) => e instanceof DbValidationError && e.field === 'filters.isPublic',
  );
});
