/**
 * Cache keys that carry the caller's scope, so one user's data is never served to another.
 *
 * A scoped key is `<scope>:<part>:<part>...` where the scope is `u=<userId>`, `r=<role>` or
 * `pub`, and every part is percent-encoded (`:` and `%` included): a user id or a filter value
 * cannot forge another scope's key. Tags built with {@link scopedTag} follow the same rule.
 *
 * @module
 */

/** Whose data a key holds: one user, everyone with a role, or everyone. */
export type CacheScope = { userId: string } | { role: string } | 'public';

/** A key part: strings, numbers and booleans; objects are encoded as sorted JSON. */
export type KeyPart = string | number | boolean | Record<string, unknown>;

function encodePart(part: KeyPart): string {
  if (typeof part === 'object' && part !== null) {
    const sorted = Object.keys(part).sort().map((k) => [k, part[k]]);
    return encodeURIComponent(JSON.stringify(sorted));
  }
  return encodeURIComponent(String(part));
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
    return `u=${encodeURIComponent(scope.userId)}`;
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
 * A tag inside a scope, for `invalidateTag` (e.g. every list page of one user's robots).
 *
 * @example
 * ```ts
 * scopedTag({ userId: '7f3c' }, 'robots'); // 'u=7f3c:robots'
 * ```
 */
export function scopedTag(scope: CacheScope, name: string): string {
  return `${scopePrefix(scope)}:${encodePart(name)}`;
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
