import assert from 'node:assert/strict';
import { roleKey, scopedKey, scopedTag, scopeOfKey, userKey } from '../../shared/optimizer/keys.ts';
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
