/** shared/optimizer/resilience/registry.ts: get-or-create by resource key. */
import assert from 'node:assert/strict';
import { KeyedRegistry } from '../../shared/optimizer/resilience/registry.ts';

Deno.test('KeyedRegistry: one value per key, created once, forgotten at the key bound', () => {
  const created: string[] = [];
  const registry = new KeyedRegistry((key) => {
    created.push(key);
    return { key };
  }, 2);
  const a = registry.get('a');
  assert.equal(registry.get('a'), a);
  registry.get('b');
  assert.deepEqual([...registry.entries()].map(([key]) => key), ['a', 'b']);
  registry.get('c'); // the bound: everything before is forgotten
  assert.deepEqual([...registry.entries()].map(([key]) => key), ['c']);
  assert.notEqual(registry.get('a'), a);
  assert.deepEqual(created, ['a', 'b', 'c', 'a']);
});
