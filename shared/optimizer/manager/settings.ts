/**
 * Applied settings: what the manager changed, kept in the shared store as one JSON document so
 * that every isolate uses it within `refreshMs` (each isolate re-reads it at most that often, in
 * the background, when it next asks). Values are clamped to the manager's bounds on write.
 *
 * The cache, the throttle and the pools consult an {@link AppliedSettingsReader} (synchronous,
 * no I/O on the hot path): `ttlFor(cacheKey)`, `throttleLimitFor(resource)`,
 * `poolSizeFor(resource)`.
 *
 * @module
 */
import type { KeyValueStore } from '../../store/types.ts';
import { runInBackground } from '../../runtime/background.ts';

/** Store key of the document. */
export const SETTINGS_KEY = 'qf:manager:settings';

/** The applied settings document. */
export interface AppliedSettings {
  /** Increases with every write. */
  version: number;
  /** ISO time of the last write. */
  updatedAt: string | null;
  /** Base TTL (ms) per key-prefix class (see {@link keyPrefixClass}). */
  ttlByPrefix: Record<string, number>;
  /** Cache keys the warming run pre-warms. */
  prewarmKeys: string[];
  /** Rate limit per throttle resource (requests per window). */
  throttleLimits: Record<string, number>;
  /** Concurrent slots per pool resource. */
  poolSizes: Record<string, number>;
  /** Recommended interval of the warming run, ms. */
  warmingIntervalMs: number | null;
}

/** Settings before the manager changed anything. */
export function emptySettings(): AppliedSettings {
  return {
    version: 0,
    updatedAt: null,
    ttlByPrefix: {},
    prewarmKeys: [],
    throttleLimits: {},
    poolSizes: {},
    warmingIntervalMs: null,
  };
}

function normalize(value: unknown): AppliedSettings {
  const base = emptySettings();
  if (typeof value !== 'object' || value === null) return base;
  const v = value as Partial<AppliedSettings>;
  const numbers = (r: unknown) =>
    Object.fromEntries(
      Object.entries(typeof r === 'object' && r !== null ? r : {}).filter(([, n]) =>
        typeof n === 'number' && Number.isFinite(n) && n > 0
      ),
    ) as Record<string, number>;
  return {
    version: typeof v.version === 'number' ? v.version : 0,
    updatedAt: typeof v.updatedAt === 'string' ? v.updatedAt : null,
    ttlByPrefix: numbers(v.ttlByPrefix),
    prewarmKeys: Array.isArray(v.prewarmKeys)
      ? v.prewarmKeys.filter((k): k is string => typeof k === 'string')
      : [],
    throttleLimits: numbers(v.throttleLimits),
    poolSizes: numbers(v.poolSizes),
    warmingIntervalMs: typeof v.warmingIntervalMs === 'number' ? v.warmingIntervalMs : null,
  };
}

/**
 * The class of a cache key that TTL overrides and per-prefix metrics use: the scope's kind
 * (`pub`, `u=*` for any user, `r=<role>`) and the next two parts, so `u=42:robots:get:...` and
 * `u=7:robots:get:...` share `u=*:robots:get`. Bounded cardinality, no user id.
 *
 * @example
 * ```ts
 * keyPrefixClass('pub:robots:list:%5B%5D'); // 'pub:robots:list'
 * ```
 */
export function keyPrefixClass(key: string): string {
  const parts = key.split(':', 3);
  if (parts[0].startsWith('u=')) parts[0] = 'u=*';
  return parts.join(':').slice(0, 120);
}

/**
 * Reads and writes the settings document.
 *
 * @example
 * ```ts
 * const settings = new SettingsStore(store);
 * await settings.update((s) => ({ ...s, ttlByPrefix: { 'pub:robots:list': 600_000 } }));
 * ```
 */
export class SettingsStore {
  #store: KeyValueStore;
  #key: string;

  constructor(store: KeyValueStore, key: string = SETTINGS_KEY) {
    this.#store = store;
    this.#key = key;
  }

  /** The current document (empty settings when none). */
  async read(): Promise<AppliedSettings> {
    return normalize(await this.#store.get(this.#key));
  }

  /** Writes `next` as the new version. */
  async write(next: AppliedSettings): Promise<AppliedSettings> {
    const written = {
      ...normalize(next),
      version: next.version + 1,
      updatedAt: new Date().toISOString(),
    };
    await this.#store.set(this.#key, written);
    return written;
  }

  /** Removes every override (tests, operators). */
  async clear(): Promise<void> {
    await this.#store.del(this.#key);
  }
}

/**
 * The settings as one isolate sees them: a snapshot refreshed in the background at most every
 * `refreshMs`; reading is synchronous and touches no network.
 *
 * @example
 * ```ts
 * const reader = new AppliedSettingsReader(store, { refreshMs: 5000 });
 * const ttl = reader.ttlFor('pub:robots:list:x'); // undefined until an override exists
 * ```
 */
export class AppliedSettingsReader {
  #settings: SettingsStore;
  #refreshMs: number;
  #now: () => number;
  #current: AppliedSettings = emptySettings();
  #loadedAt = -Infinity;
  #loading: Promise<void> | undefined;

  constructor(
    store: KeyValueStore,
    options: { refreshMs?: number; now?: () => number; key?: string } = {},
  ) {
    this.#settings = new SettingsStore(store, options.key);
    this.#refreshMs = options.refreshMs ?? 5000;
    this.#now = options.now ?? Date.now;
  }

  /** The snapshot in use; starts a background refresh when it is older than `refreshMs`. */
  get current(): AppliedSettings {
    if (this.#now() - this.#loadedAt >= this.#refreshMs && !this.#loading) {
      this.#loading = runInBackground(() => this.refresh(), 'settings refresh', () => {});
    }
    return this.#current;
  }

  /** Re-reads the document now (a failing store keeps the previous snapshot). */
  async refresh(): Promise<void> {
    try {
      this.#current = await this.#settings.read();
    } finally {
      this.#loadedAt = this.#now();
      this.#loading = undefined;
    }
  }

  /** Applies a document this isolate just wrote, without waiting for the next read. */
  adopt(settings: AppliedSettings): void {
    this.#current = settings;
    this.#loadedAt = this.#now();
  }

  /** The TTL override of a cache key's prefix class, if any. */
  ttlFor(cacheKey: string): number | undefined {
    return this.current.ttlByPrefix[keyPrefixClass(cacheKey)];
  }

  /** The throttle limit override of a resource, if any. */
  throttleLimitFor(resourceKey: string): number | undefined {
    return this.current.throttleLimits[resourceKey];
  }

  /** The pool size override of a resource, if any. */
  poolSizeFor(resourceKey: string): number | undefined {
    return this.current.poolSizes[resourceKey];
  }

  /** Waits for a refresh in flight (shutdown, tests). */
  async settle(): Promise<void> {
    await this.#loading;
  }
}

/** Clamps `value` into `[min, max]`. */
export function clamp(value: number, [min, max]: [number, number]): number {
  return Math.min(max, Math.max(min, value));
}
