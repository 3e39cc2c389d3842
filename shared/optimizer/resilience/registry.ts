/**
 * Get-or-create by resource key: the one registry behind the breakers, bulkheads, retry budgets
 * and throttle limits an isolate keeps per resource.
 *
 * @module
 */

/**
 * One value per key, created by `create` on first use.
 *
 * @example
 * ```ts
 * const breakers = new KeyedRegistry((key) => new CircuitBreaker(key, config, deps));
 * breakers.get('robots-db') === breakers.get('robots-db'); // true
 * ```
 */
export class KeyedRegistry<T> {
  readonly #values = new Map<string, T>();
  readonly #create: (key: string) => T;
  readonly #maxKeys: number;

  /**
   * @param create builds the value of a key not seen yet.
   * @param maxKeys when this many keys are held, the next new key starts afresh (all forgotten):
   *   a bound for keys that come from input. @default Infinity
   */
  constructor(create: (key: string) => T, maxKeys = Infinity) {
    this.#create = create;
    this.#maxKeys = maxKeys;
  }

  /** The value of `key`, created on first use. */
  get(key: string): T {
    let value = this.#values.get(key);
    if (value === undefined) {
      if (this.#values.size >= this.#maxKeys) this.#values.clear();
      value = this.#create(key);
      this.#values.set(key, value);
    }
    return value;
  }

  /** Every key and its value, in creation order. */
  entries(): IterableIterator<[string, T]> {
    return this.#values.entries();
  }
}
