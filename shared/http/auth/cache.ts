/**
 * Verified tokens, remembered per isolate until they expire: a signature is checked once per
 * token, not once per request. Bounded (least recently used goes first).
 *
 * @module
 */

/** One verified token. */
export interface VerifiedToken {
  claims: Readonly<Record<string, unknown>>;
  /** `exp` in milliseconds since the epoch. */
  expiresAtMs: number;
  /** The key that verified it, checked again on every hit: a key dropped from the JWKS voids it. */
  key: CryptoKey;
  /** The key's id in the JWKS (`null` for the legacy HS256 secret). */
  kid: string | null;
}

/** Options of {@link VerifiedTokenCache}. */
export interface VerifiedTokenCacheOptions {
  /** Most tokens kept. @default 1000 */
  maxEntries?: number;
  /** Clock. @default Date.now */
  now?: () => number;
}

/**
 * An LRU map from token to its verified claims, each entry expiring at the token's `exp`.
 * Keyed by the token itself: it is in memory anyway while the request runs, and hashing every
 * request's token would cost what the cache saves.
 *
 * @example
 * ```ts
 * const cache = new VerifiedTokenCache({ maxEntries: 500 });
 * cache.get(token) ?? cache.set(token, await verify(token));
 * ```
 */
export class VerifiedTokenCache {
  #entries = new Map<string, VerifiedToken>();
  #maxEntries: number;
  #now: () => number;

  constructor(options: VerifiedTokenCacheOptions = {}) {
    const max = options.maxEntries ?? 1000;
    if (!Number.isInteger(max) || max < 0) {
      throw new RangeError(`'maxEntries' must be an integer >= 0: received ${max}`);
    }
    this.#maxEntries = max;
    this.#now = options.now ?? Date.now;
  }

  /** The entry for `token` if it has not expired (and marks it recently used). */
  get(token: string): VerifiedToken | undefined {
    const entry = this.#entries.get(token);
    if (!entry) return undefined;
    this.#entries.delete(token);
    if (entry.expiresAtMs <= this.#now()) return undefined;
    this.#entries.set(token, entry);
    return entry;
  }

  /** Remembers a verified token, evicting the least recently used beyond the bound. */
  set(token: string, entry: VerifiedToken): void {
    if (this.#maxEntries === 0) return;
    this.#entries.delete(token);
    this.#entries.set(token, entry);
    while (this.#entries.size > this.#maxEntries) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
  }

  /** Forgets one token. */
  delete(token: string): void {
    this.#entries.delete(token);
  }

  /** Forgets everything. */
  clear(): void {
    this.#entries.clear();
  }

  /** Entries held (expired ones included until touched). */
  get size(): number {
    return this.#entries.size;
  }
}
