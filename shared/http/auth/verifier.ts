/**
 * Token verification with the per-isolate cache: one signature check per token until it
 * expires, keys imported once, the JWKS refreshed as {@link JwksKeySet} says.
 *
 * @module
 */
import type { AuthConfig } from './keys.ts';
import { type VerifiedToken, VerifiedTokenCache } from './cache.ts';
import { hmacKey, JwksKeySet } from './jwks.ts';
import { checkClaims, decodeJwt, JwtError, verifySignature } from './jwt.ts';

/** Options of {@link TokenVerifier}. */
export interface TokenVerifierOptions {
  /** Verified tokens kept per configuration. @default 1000 */
  cacheMaxEntries?: number;
  /** Clock (milliseconds). @default Date.now */
  now?: () => number;
  /** Fetch for the remote JWKS. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Least time between two JWKS fetches. @default 30000 */
  jwksCooldownMs?: number;
  /** Age after which the JWKS is fetched again. @default 600000 */
  jwksMaxAgeMs?: number;
}

interface ConfigState {
  cache: VerifiedTokenCache;
  keySet: JwksKeySet | null;
  warnedNoJwks: boolean;
}

/**
 * Verifies Supabase access tokens (asymmetric from the JWKS, or legacy HS256) and remembers
 * the verified ones.
 *
 * @example
 * ```ts
 * const verifier = new TokenVerifier();
 * const { claims } = await verifier.verify(token, readAuthConfig(processEnv));
 * ```
 */
export class TokenVerifier {
  #states = new WeakMap<AuthConfig, ConfigState>();
  #options: TokenVerifierOptions;
  #now: () => number;
  /** Signature checks made (cache misses). */
  verifications = 0;

  constructor(options: TokenVerifierOptions = {}) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  #state(config: AuthConfig): ConfigState {
    let state = this.#states.get(config);
    if (!state) {
      const source = config.jwks
        ? { jwks: config.jwks }
        : config.jwksUrl
        ? { url: config.jwksUrl }
        : null;
      state = {
        cache: new VerifiedTokenCache({
          maxEntries: this.#options.cacheMaxEntries,
          now: this.#now,
        }),
        keySet: source
          ? new JwksKeySet({
            ...source,
            fetch: this.#options.fetch,
            now: this.#now,
            cooldownMs: this.#options.jwksCooldownMs,
            maxAgeMs: this.#options.jwksMaxAgeMs,
          })
          : null,
        warnedNoJwks: false,
      };
      this.#states.set(config, state);
    }
    return state;
  }

  /** The key set used for `config` (for tests: fetch counts). */
  keySet(config: AuthConfig): JwksKeySet | null {
    return this.#state(config).keySet;
  }

  async #stillValid(entry: VerifiedToken, config: AuthConfig, state: ConfigState) {
    if (entry.kid === null) {
      return config.jwtSecret !== null && (await hmacKey(config.jwtSecret)) === entry.key;
    }
    if (!state.keySet) return false;
    await state.keySet.ensureFresh();
    return await state.keySet.holds(entry.kid, entry.key);
  }

  /**
   * The token's verified claims. Throws {@link JwtError} with a reason safe to show.
   *
   * @example
   * ```ts
   * try { await verifier.verify(token, config); } catch (e) { (e as JwtError).reason; }
   * ```
   */
  async verify(token: string, config: AuthConfig): Promise<VerifiedToken> {
    const state = this.#state(config);
    const cached = state.cache.get(token);
    if (cached) {
      // The signing key still listed: known without waiting unless the JWKS is due a refresh.
      const known = cached.kid === null
        ? undefined
        : state.keySet?.holdsNow(cached.kid, cached.key);
      if (
        known === true || (known === undefined && await this.#stillValid(cached, config, state))
      ) {
        return cached;
      }
      state.cache.delete(token);
    }
    const decoded = decodeJwt(token);
    const { alg, kid } = decoded.header;
    let key: CryptoKey;
    let keyId: string | null = null;
    if (alg === 'HS256' && state.keySet?.has(kid, 'HS256')) {
      // The legacy secret listed in the inline JWKS under its kid.
      key = await state.keySet.getKey(kid, alg);
      keyId = kid!;
    } else if (alg === 'HS256') {
      if (config.jwtSecret === null) throw new JwtError('algorithm');
      key = await hmacKey(config.jwtSecret);
    } else if (alg === 'ES256' || alg === 'RS256') {
      if (!state.keySet) {
        if (!state.warnedNoJwks) {
          state.warnedNoJwks = true;
          console.warn(
            'auth: an asymmetric token arrived but no JWKS is configured (SUPABASE_JWKS, SUPABASE_JWKS_URL or SUPABASE_URL)',
          );
        }
        throw new JwtError('unknownKey');
      }
      key = await state.keySet.getKey(kid, alg);
      keyId = kid!;
    } else {
      throw new JwtError('algorithm');
    }
    await verifySignature(decoded, alg, key);
    this.verifications++;
    const asymmetric = alg !== 'HS256';
    checkClaims(decoded.payload, {
      nowSeconds: this.#now() / 1000,
      // Supabase Auth's tokens name the project's auth URL; legacy HS256 keys (anon,
      // service_role) carry iss 'supabase' and no aud, so the checks apply to asymmetric ones.
      issuer: asymmetric ? config.issuer : null,
      requireAudience: asymmetric,
    });
    const entry: VerifiedToken = {
      claims: Object.freeze(decoded.payload),
      expiresAtMs: (decoded.payload.exp as number) * 1000,
      key,
      kid: keyId,
    };
    state.cache.set(token, entry);
    return entry;
  }
}
