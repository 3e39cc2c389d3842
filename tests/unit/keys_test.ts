import assert from 'node:assert/strict';
import {
  canonicalValue,
  roleKey,
  scopedKey,
  scopedTag,
  scopeOfKey,
  userKey,
} from '../../shared/optimizer/keys.ts';
import { LoaderRegistry } from '../../shared/optimizer/cache/mod.ts';

Deno.test('cache keys: different users never share a key', () => {
  assert.notEqual(userKey('u1', 'robots', 'list'), userKey('u2', 'robots', 'list'));
  assert.notEqual(userKey('u1', 'robots'), roleKey('u1', 'robots'));
  assert.notEqual(userKey('u1', 'robots'), scopedKey('public', 'robots'));
  assert.equal(userKey('7f3c', 'robots', 'list'), 'u=7f3c:robots:list');
});

Deno.test('cache keys: a crafted id or part cannot forge another scope', () => {
  // Without encoding, 'a:robots' + 'list' would equal 'a' + 'robots:list'.
  assert.notEqual(userKey('a:robots', 'list'), userKey('a', 'robots:list'));
  assert.notEqual(userKey('a', 'b:c'), userKey('a', 'b', 'c'));
  assert.equal(scopeOfKey(userKey('x:y', 'p')), 'u=x%3Ay');
});

Deno.test('cache keys: object parts are order-independent; empty scopes are refused', () => {
  assert.equal(
    userKey('u', 'robots', { page: 1, limit: 10 }),
    userKey('u', 'robots', { limit: 10, page: 1 }),
  );
  assert.throws(() => userKey('', 'robots'), /'userId' must be a non-empty string: received ""/);
  assert.throws(() => roleKey('', 'x'), /'role' must be a non-empty string/);
  assert.throws(() => scopedKey('public'), /at least one part/);
});

Deno.test('cache keys: tags and scope extraction', () => {
  assert.equal(scopedTag({ userId: 'u1' }, 'robots'), 'u=u1:robots');
  assert.equal(scopeOfKey('u=u1:robots:list'), 'u=u1');
  assert.equal(scopeOfKey('r=admin:x'), 'r=admin');
  assert.equal(scopeOfKey('pub:x'), 'pub');
  assert.equal(scopeOfKey('robots_list'), '');
  assert.equal(scopeOfKey('robots:list'), '');
});

Deno.test('cache loaders: exact names win, then globs and RegExps in order', async () => {
  const registry = new LoaderRegistry();
  registry.register('robot:*', () => Promise.resolve('glob'));
  registry.register('robot:1', () => Promise.resolve('exact'));
  registry.register(/^strategy:\d+$/, () => Promise.resolve('regexp'));
  assert.equal(await registry.find('robot:1')!('robot:1'), 'exact');
  assert.equal(await registry.find('robot:2')!('robot:2'), 'glob');
  assert.equal(await registry.find('strategy:3')!('strategy:3'), 'regexp');
  assert.equal(registry.find('strategy:x'), undefined);
  assert.equal(registry.find('robot.1'), undefined); // '.' is literal in globs
  // deno-lint-ignore no-explicit-any
  assert.throws(() => registry.register('x', 42 as any), /'loader' must be a function/);
});

const ID = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11';
const MIXED = 'A0eeBC99-9C0B-4ef8-BB6D-6bb9BD380A11';

Deno.test('cache keys: every spelling of one uuid is one key and one tag (finding 1)', () => {
  for (const spelling of [ID.toUpperCase(), MIXED]) {
    assert.equal(scopedKey('public', 'robot', spelling), scopedKey('public', 'robot', ID));
    assert.equal(userKey(spelling, 'robots', 'list'), userKey(ID, 'robots', 'list'));
    assert.equal(scopedKey({ userId: spelling }, 'x'), `u=${ID}:x`);
    assert.equal(scopedTag('public', 'robot', spelling), `pub:robot:${ID}`);
    assert.equal(scopedTag({ userId: spelling }, 'robots'), scopedTag({ userId: ID }, 'robots'));
    // Inside query objects too, at any depth and in arrays.
    assert.equal(
      userKey(ID, 'robots', { filter: { ids: [spelling], owner: spelling } }),
      userKey(ID, 'robots', { filter: { owner: ID, ids: [ID] } }),
    );
  }
  // Strings that are not uuids keep their case: names and search text may be case-sensitive.
  assert.notEqual(scopedKey('public', 'q', 'Trend'), scopedKey('public', 'q', 'trend'));
  assert.notEqual(
    scopedKey('public', 'q', `${ID}x`.toUpperCase()),
    scopedKey('public', 'q', `${ID}x`),
  );
});

Deno.test('cache keys: query objects are canonical at every depth; undefined fields dropped', () => {
  const a = { page: 2, filters: { status: 'active', tags: ['b', 'a'], range: { to: 9, from: 1 } } };
  const b = {
    filters: { range: { from: 1, to: 9 }, tags: ['b', 'a'], extra: undefined, status: 'active' },
    page: 2,
    cursor: undefined,
  };
  assert.equal(scopedKey('public', 'robots', a), scopedKey('public', 'robots', b));
  // Arrays keep their order (it can mean something); values still differ by value.
  assert.notEqual(
    scopedKey('public', 'robots', { tags: ['a', 'b'] }),
    scopedKey('public', 'robots', { tags: ['b', 'a'] }),
  );
  assert.notEqual(scopedKey('public', 'r', { page: 1 }), scopedKey('public', 'r', { page: '1' }));
  assert.equal(scopedKey('public', 'r', { n: -0 }), scopedKey('public', 'r', { n: 0 }));
  assert.equal(scopedKey('public', 'r', []), scopedKey('public', 'r', []));
  assert.deepEqual(
    JSON.stringify(canonicalValue({ z: [undefined, { y: 1, x: undefined }], a: null })),
    '{"a":null,"z":[null,{"y":1}]}',
  );
  assert.equal(
    JSON.stringify(canonicalValue({ at: new Date(Date.UTC(2026, 0, 2)) })),
    '{"at":"2026-01-02T00:00:00.000Z"}',
  );
});

Deno.test('cache keys: a part nested absurdly deep is refused, not a stack overflow', () => {
  let deep: Record<string, unknown> = {};
  for (let i = 0; i < 10_000; i++) deep = { d: deep };
  assert.throws(() => scopedKey('public', 'x', deep), /nest at most 64 levels/);
});
