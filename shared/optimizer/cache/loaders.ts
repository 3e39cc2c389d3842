/**
 * Loaders: how the cache loads a key nobody asked for yet (pre-warming). Registered by exact
 * name or by pattern (`*` matches any run of characters, or a `RegExp`). Exact names win, then
 * patterns in registration order.
 *
 * @module
 */

/** Loads the value of `key` from the origin. */
export type Loader<T = unknown> = (key: string) => Promise<T>;

/**
 * Registry of loaders.
 *
 * @example
 * ```ts
 * const loaders = new LoaderRegistry();
 * loaders.register('robot:*', (key) => fetchRobot(key.slice(6)));
 * loaders.find('robot:42'); // the loader
 * ```
 */
export class LoaderRegistry {
  #exact = new Map<string, Loader>();
  #patterns: { pattern: RegExp; loader: Loader }[] = [];

  /** Registers a loader for an exact key, a `*` glob, or a `RegExp`. */
  register(nameOrPattern: string | RegExp, loader: Loader): void {
    if (typeof loader !== 'function') {
      throw new TypeError(`'loader' must be a function: received ${typeof loader}`);
    }
    if (nameOrPattern instanceof RegExp) {
      this.#patterns.push({ pattern: nameOrPattern, loader });
    } else if (nameOrPattern.includes('*')) {
      const source = nameOrPattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*');
      this.#patterns.push({ pattern: new RegExp(`^${source}$`), loader });
    } else {
      this.#exact.set(nameOrPattern, loader);
    }
  }

  /** The loader for `key`, or `undefined`. */
  find(key: string): Loader | undefined {
    const exact = this.#exact.get(key);
    if (exact !== undefined) return exact;
    for (const { pattern, loader } of this.#patterns) if (pattern.test(key)) return loader;
    return undefined;
  }
}
