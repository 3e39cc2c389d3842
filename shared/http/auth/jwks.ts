/**
 * Signing keys: a JWKS (inline or fetched) with each key imported once per isolate, refreshed
 * when it is old or a token names a key it does not hold (at most once per cooldown), and the
 * legacy HS256 secret.
 *
 * @module
 */
import type { Jwk } from './keys.ts';
import { ALGORITHM_PARAMS, type JwtAlgorithm, JwtError } from './jwt.ts';

/** Options of {@link JwksKeySet}. */
export interface JwksKeySetOptions {
  /** Inline key set (never refreshed). */
  jwks?: { keys: Jwk[] };
  /** Remote key set (`<project>/auth/v1/.well-known/jwks.json`). */
  url?: string;
  /** Fetch implementation. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Clock. @default Date.now */
  now?: () => number;
  /** Least time between two fetches, whatever the tokens ask. @default 30000 */
  cooldownMs?: number;
  /** Age after which the set is fetched again before use. @default 600000 */
  maxAgeMs?: number;
  /** Bound of one fetch. @default 3000 */
  timeoutMs?: number;
}

interface ImportedKey {
  /** The JWK's public fields as JSON: an unchanged key keeps its imported CryptoKey. */
  fingerprint: string;
  alg: JwtAlgorithm;
  key: Promise<CryptoKey>;
  /** The key once imported. */
  resolved?: CryptoKey;
}

function publicPart(
  jwk: Jwk,
  symmetric: boolean,
): { alg: JwtAlgorithm; jwk: JsonWebKey } | null {
  if (jwk.use !== undefined && jwk.use !== 'sig') return null;
  // The legacy HS256 secret as an `oct` key: only from an inline set (the platform's
  // SUPABASE_JWKS), never from a fetched one, which is public.
  if (symmetric && jwk.kty === 'oct' && jwk.alg === 'HS256' && typeof jwk.k === 'string') {
    return { alg: 'HS256', jwk: { kty: 'oct', k: jwk.k } };
  }
  if (jwk.kty === 'EC' && jwk.crv === 'P-256' && (jwk.alg ?? 'ES256') === 'ES256') {
    return {
      alg: 'ES256',
      jwk: { kty: 'EC', crv: 'P-256', x: jwk.x as string, y: jwk.y as string },
    };
  }
  if (jwk.kty === 'RSA' && (jwk.alg ?? 'RS256') === 'RS256') {
    return { alg: 'RS256', jwk: { kty: 'RSA', n: jwk.n as string, e: jwk.e as string } };
  }
  return null;
}

/**
 * The project's signing keys by `kid`.
 *
 * @example
 * ```ts
 * const keys = new JwksKeySet({ url: 'https://ref.supabase.co/auth/v1/.well-known/jwks.json' });
 * const key = await keys.getKey('kid-1', 'ES256');
 * ```
 */
export class JwksKeySet {
  #keys = new Map<string, ImportedKey>();
  #url: string | undefined;
  #fetch: typeof fetch;
  #now: () => number;
  #cooldownMs: number;
  #maxAgeMs: number;
  #timeoutMs: number;
  #loadedAt = -Infinity;
  #attemptedAt = -Infinity;
  #loading: Promise<void> | undefined;
  /** Fetches made (for tests and metrics). */
  fetches = 0;

  constructor(options: JwksKeySetOptions) {
    this.#url = options.url;
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#now = options.now ?? Date.now;
    this.#cooldownMs = options.cooldownMs ?? 30_000;
    this.#maxAgeMs = options.maxAgeMs ?? 600_000;
    this.#timeoutMs = options.timeoutMs ?? 3_000;
    if (options.jwks) this.#replace(options.jwks.keys, true);
  }

  #replace(keys: Jwk[], symmetric = false): void {
    const next = new Map<string, ImportedKey>();
    for (const jwk of keys) {
      if (typeof jwk.kid !== 'string') continue;
      const part = publicPart(jwk, symmetric);
      if (!part) continue;
      const fingerprint = JSON.stringify(part);
      const previous = this.#keys.get(jwk.kid);
      if (previous?.fingerprint === fingerprint) {
        next.set(jwk.kid, previous);
        continue;
      }
      const key = crypto.subtle.importKey(
        'jwk',
        part.jwk,
        ALGORITHM_PARAMS[part.alg].import,
        false,
        ['verify'],
      );
      const entry: ImportedKey = { fingerprint, alg: part.alg, key };
      // A bad key fails the tokens naming it, not the process; a good one is also kept as it
      // resolved, for the synchronous check of a cached token (`holdsNow`).
      key.then((resolved) => entry.resolved = resolved, () => {});
      next.set(jwk.kid, entry);
    }
    this.#keys = next;
  }

  async #load(): Promise<void> {
    if (!this.#url) return;
    this.#loading ??= (async () => {
      this.#attemptedAt = this.#now();
      this.fetches++;
      try {
        const response = await this.#fetch(this.#url!, {
          headers: { accept: 'application/json' },
          signal: AbortSignal.timeout(this.#timeoutMs),
        });
        if (!response.ok) {
          await response.body?.cancel();
          throw new Error(`JWKS answered ${response.status}`);
        }
        const body = await response.json();
        if (!Array.isArray(body?.keys)) throw new Error('JWKS has no keys array');
        this.#replace(body.keys);
        this.#loadedAt = this.#now();
      } catch (error) {
        // Keep the keys held: an unreachable JWKS must not sign everyone out.
        console.warn(
          `auth: JWKS refresh failed: ${error instanceof Error ? error.message : error}`,
        );
      } finally {
        this.#loading = undefined;
      }
    })();
    await this.#loading;
  }

  /** Fetches the set again when it is older than `maxAgeMs` (and the cooldown allows). */
  async ensureFresh(): Promise<void> {
    if (!this.#url) return;
    const now = this.#now();
    if (now - this.#loadedAt < this.#maxAgeMs || now - this.#attemptedAt < this.#cooldownMs) {
      return;
    }
    await this.#load();
  }

  /**
   * The imported key for `kid`, fetching the set again (at most once per cooldown) when it does
   * not hold it. Throws {@link JwtError} `unknownKey` or `algorithm`.
   */
  async getKey(kid: string | undefined, alg: string): Promise<CryptoKey> {
    if (kid === undefined) throw new JwtError('unknownKey');
    await this.ensureFresh();
    let entry = this.#keys.get(kid);
    if (!entry && this.#url && this.#now() - this.#attemptedAt >= this.#cooldownMs) {
      await this.#load();
      entry = this.#keys.get(kid);
    }
    if (!entry) throw new JwtError('unknownKey');
    if (entry.alg !== alg) throw new JwtError('algorithm');
    try {
      return await entry.key;
    } catch {
      throw new JwtError('unknownKey');
    }
  }

  /** Whether the set holds a key for `kid` with algorithm `alg` (no fetch). */
  has(kid: string | undefined, alg: JwtAlgorithm): boolean {
    return kid !== undefined && this.#keys.get(kid)?.alg === alg;
  }

  /** Whether `key` is still the set's key for `kid` (false once the key was dropped). */
  /**
   * {@link holds} without waiting, when it can tell: `undefined` when the set is due for a
   * refresh (`ensureFresh` would fetch) or the key is still being imported.
   */
  holdsNow(kid: string, key: CryptoKey): boolean | undefined {
    if (this.#url && this.#now() - this.#loadedAt >= this.#maxAgeMs) return undefined;
    const entry = this.#keys.get(kid);
    if (!entry) return false;
    return entry.resolved === undefined ? undefined : entry.resolved === key;
  }

  async holds(kid: string, key: CryptoKey): Promise<boolean> {
    const entry = this.#keys.get(kid);
    if (!entry) return false;
    try {
      return (await entry.key) === key;
    } catch {
      return false;
    }
  }
}

const hmacKeys = new Map<string, Promise<CryptoKey>>();

/**
 * The legacy HS256 secret as a key, imported once per secret.
 *
 * @example
 * ```ts
 * const key = await hmacKey(secret);
 * ```
 */
export function hmacKey(secret: string): Promise<CryptoKey> {
  let key = hmacKeys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey(
      'raw',
      new TextEncoder().encode(secret),
      ALGORITHM_PARAMS.HS256.import,
      false,
      ['verify'],
    );
    if (hmacKeys.size >= 16) hmacKeys.clear();
    hmacKeys.set(secret, key);
  }
  return key;
}
