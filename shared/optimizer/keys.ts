/**
 * Cache keys that carry the caller's scope, so one user's data is never served to another.
 *
 * A scoped key is `<scope>:<part>:<part>...` where the scope is `u=<userId>`, `r=<role>` or
 * `pub`, and every part is percent-encoded (`:` and `%` included): a user id or a filter value
 * cannot forge another scope's key. Tags built with {@link scopedTag} follow the same rule.
 *
 * Every part is canonical first ({@link canonicalValue}): uuids lowercased, object keys sorted
 * recursively, `undefined` fields dropped. Postgres matches `A0EE...` and `a0ee...` as one row,
 * so their keys and tags must be one too, or an invalidation of one spelling leaves the other.
 *
 * @module
 */

/** Whose data a key holds: one user, everyone with a role, or everyone. */
export type CacheScope = { userId: string } | { role: string } | 'public';

/**
 * A key part: strings, numbers and booleans; objects and arrays (query objects, filters) are
 * encoded as canonical JSON.
 */
export type KeyPart = string | number | boolean | Record<string, unknown> | readonly unknown[];

/** A uuid as Postgres prints it (8-4-4-4-12 hex digits), in any letter case. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The canonical spelling of a string part: uuids lowercased (Postgres matches them in any case,
 * so `A0EE...` and `a0ee...` are one resource and must be one key); other strings as given.
 *
 * @example
 * ```ts
 * canonicalString('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'); // 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'
 * canonicalString('Trend'); // 'Trend'
 * ```
 */
export function canonicalString(value: string): string {
  return value.length === 36 && UUID.test(value) ? value.toLowerCase() : value;
}

/**
 * A value's canonical form, for keys: object keys sorted (recursively, arrays keep their order),
 * `undefined` fields dropped, uuid strings lowercased, `-0` as `0`, dates as ISO strings. Two
 * spellings of one query give equal JSON.
 *
 * @example
 * ```ts
 * JSON.stringify(canonicalValue({ b: 1, a: { d: undefined, c: 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11' } }));
 * // '{"a":{"c":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},"b":1}'
 * ```
 */
export function canonicalValue(value: unknown, depth = 0): unknown {
  if (depth > 64) {
    throw new RangeError(`key parts nest at most 64 levels: received a part nested deeper`);
  }
  if (typeof value === 'string') return canonicalString(value);
  if (typeof value === 'number') return Object.is(value, -0) ? 0 : value;
  if (typeof value === 'bigint') return value.toString();
  if (value === null || typeof value !== 'object') return value ?? null;
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map((item) => canonicalValue(item ?? null, depth + 1));
  const out: Record<string, unknown> = {};
  const record = value as Record<string, unknown>;
  for (const name of Object.keys(record).sort()) {
    const field = record[name];
    if (field === undefined || typeof field === 'function' || typeof field === 'symbol') continue;
    out[canonicalString(name)] = canonicalValue(field, depth + 1);
  }
  return out;
}

function encodePart(part: KeyPart): string {
  if (typeof part === 'object' && part !== null) {
    return encodeURIComponent(JSON.stringify(canonicalValue(part)));
  }
  return encodeURIComponent(typeof part === 'string' ? canonicalString(part) : String(part));
}

/** The scope's prefix (`u=<id>`, `r=<role>`, `pub`); throws on an empty id or role. */
export function scopePrefix(scope: CacheScope): string {
  if (scope === 'public') return 'pub';
  if ('userId' in scope) {
    if (!scope.userId) {
      throw new TypeError(
        `'userId' must be a non-empty string: received ${JSON.stringify(scope.userId)}`,
      );
    }
    return `u=${encodeURIComponent(canonicalString(scope.userId))}`;
  }
  if (!scope.role) {
    throw new TypeError(
      `'role' must be a non-empty string: received ${JSON.stringify(scope.role)}`,
    );
  }
  return `r=${encodeURIComponent(scope.role)}`;
}

/**
 * A cache key for `parts` inside `scope`.
 *
 * @example
 * ```ts
 * scopedKey({ userId: 'u1' }, 'robots', 'list', { page: 2 }); // 'u=u1:robots:list:%5B...'
 * scopedKey('public', 'strategies', 'list'); // 'pub:strategies:list'
 * ```
 */
export function scopedKey(scope: CacheScope, ...parts: KeyPart[]): string {
  if (parts.length === 0) throw new TypeError(`'parts' must name at least one part: received none`);
  let key = scopePrefix(scope);
  for (const part of parts) key += ':' + encodePart(part);
  return key;
}

/**
 * A key for one user's data.
 *
 * @example
 * ```ts
 * userKey('7f3c', 'robots', 'list'); // 'u=7f3c:robots:list'
 * ```
 */
export function userKey(userId: string, ...parts: KeyPart[]): string {
  return scopedKey({ userId }, ...parts);
}

/**
 * A key for data every caller with `role` may see.
 *
 * @example
 * ```ts
 * roleKey('authenticated', 'strategies', 'public'); // 'r=authenticated:strategies:public'
 * ```
 */
export function roleKey(role: string, ...parts: KeyPart[]): string {
  return scopedKey({ role }, ...parts);
}

/**
 * A tag inside a scope, for `invalidateTag` (e.g. every list page of one user's robots, or one
 * robot). Parts are canonicalized as in {@link scopedKey}: any spelling of one resource is one tag.
 *
 * @example
 * ```ts
 * scopedTag({ userId: '7f3c' }, 'robots'); // 'u=7f3c:robots'
 * scopedTag('public', 'robot', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'); // 'pub:robot:a0eebc99-...'
 * ```
 */
export function scopedTag(scope: CacheScope, name: KeyPart, ...parts: KeyPart[]): string {
  let tag = `${scopePrefix(scope)}:${encodePart(name)}`;
  for (const part of parts) tag += ':' + encodePart(part);
  return tag;
}

/**
 * The scope prefix of a key built here (`u=...`, `r=...`, `pub`), or `''` for other keys.
 *
 * @example
 * ```ts
 * scopeOfKey('u=7f3c:robots:list'); // 'u=7f3c'
 * scopeOfKey('robots_list'); // ''
 * ```
 */
export function scopeOfKey(key: string): string {
  const colon = key.indexOf(':');
  if (colon < 0) return '';
  const head = key.slice(0, colon);
  return head === 'pub' || head.startsWith('u=') || head.startsWith('r=') ? head : '';
}
