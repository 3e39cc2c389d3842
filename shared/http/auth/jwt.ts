/**
 * JWS compact tokens: decoding, signature checks with WebCrypto, claim checks. Errors carry a
 * fixed reason a caller may read: never the token, never how the server is configured.
 *
 * @module
 */

/** Why a token was refused. Each is a fixed sentence fit for a 401 body. */
export const JWT_REASONS = {
  malformed: 'the token is malformed',
  algorithm: 'the signing algorithm is not accepted',
  unknownKey: 'the signing key is not recognized',
  signature: 'the signature does not verify',
  expired: 'the token has expired',
  noExpiry: 'the token has no expiry',
  notYetValid: 'the token is not valid yet',
  issuer: 'the issuer is not accepted',
  audience: 'the audience is not accepted',
} as const;

/** A reason code of {@link JwtError}. */
export type JwtReason = keyof typeof JWT_REASONS;

/** A refused token. `message` is safe to show to the caller. */
export class JwtError extends Error {
  readonly reason: JwtReason;
  constructor(reason: JwtReason) {
    super(JWT_REASONS[reason]);
    this.name = 'JwtError';
    this.reason = reason;
  }
}

/** The signing algorithms accepted: Supabase's asymmetric ones and the legacy HS256. */
export type JwtAlgorithm = 'ES256' | 'RS256' | 'HS256';

/** A token split and decoded, not yet verified. */
export interface DecodedJwt {
  header: { alg: string; kid?: string; typ?: string };
  payload: Record<string, unknown>;
  /** `header.payload`, the bytes the signature covers. */
  signingInput: Uint8Array;
  signature: Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes base64url (no padding) into bytes; throws on any other character.
 *
 * @example
 * ```ts
 * base64UrlDecode('aGk'); // Uint8Array [104, 105]
 * ```
 */
export function base64UrlDecode(text: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) throw new JwtError('malformed');
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * Encodes bytes (or a string's UTF-8) as base64url without padding.
 *
 * @example
 * ```ts
 * base64UrlEncode('hi'); // 'aGk'
 * ```
 */
export function base64UrlEncode(data: Uint8Array | string): string {
  const bytes = typeof data === 'string' ? encoder.encode(data) : data;
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function parseJson(bytes: Uint8Array): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch {
    throw new JwtError('malformed');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new JwtError('malformed');
  return value as Record<string, unknown>;
}

/**
 * Splits and decodes a compact JWS. Throws {@link JwtError} `malformed` for anything else.
 *
 * @example
 * ```ts
 * const { header, payload } = decodeJwt(token);
 * ```
 */
export function decodeJwt(token: string): DecodedJwt {
  if (token.length > 16_384) throw new JwtError('malformed');
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[0] || !parts[1]) throw new JwtError('malformed');
  const header = parseJson(base64UrlDecode(parts[0]));
  if (typeof header.alg !== 'string') throw new JwtError('malformed');
  if (header.kid !== undefined && typeof header.kid !== 'string') throw new JwtError('malformed');
  return {
    header: header as DecodedJwt['header'],
    payload: parseJson(base64UrlDecode(parts[1])),
    signingInput: encoder.encode(`${parts[0]}.${parts[1]}`),
    signature: base64UrlDecode(parts[2]),
  };
}

/** WebCrypto parameters of each algorithm (import and verify). */
export const ALGORITHM_PARAMS: Record<
  JwtAlgorithm,
  {
    import: RsaHashedImportParams | EcKeyImportParams | HmacImportParams;
    verify: AlgorithmIdentifier | EcdsaParams;
  }
> = {
  ES256: {
    import: { name: 'ECDSA', namedCurve: 'P-256' },
    verify: { name: 'ECDSA', hash: 'SHA-256' },
  },
  RS256: {
    import: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    verify: { name: 'RSASSA-PKCS1-v1_5' },
  },
  HS256: { import: { name: 'HMAC', hash: 'SHA-256' }, verify: { name: 'HMAC' } },
};

/**
 * Checks the signature of a decoded token with an imported key.
 *
 * @example
 * ```ts
 * await verifySignature(decodeJwt(token), 'ES256', publicKey); // throws JwtError('signature')
 * ```
 */
export async function verifySignature(
  decoded: DecodedJwt,
  alg: JwtAlgorithm,
  key: CryptoKey,
): Promise<void> {
  let ok = false;
  try {
    ok = await crypto.subtle.verify(
      ALGORITHM_PARAMS[alg].verify,
      key,
      decoded.signature as BufferSource,
      decoded.signingInput as BufferSource,
    );
  } catch {
    ok = false;
  }
  if (!ok) throw new JwtError('signature');
}

/** What {@link checkClaims} enforces. */
export interface ClaimRules {
  /** Seconds since the epoch. */
  nowSeconds: number;
  /** Required `iss`, or `null` for none. */
  issuer: string | null;
  /** Whether `aud` must be present. When present it must include `authenticated`. */
  requireAudience: boolean;
}

/**
 * Checks `exp` (required), `nbf`, `iss` and `aud`.
 *
 * @example
 * ```ts
 * checkClaims(payload, { nowSeconds: Date.now() / 1000, issuer: null, requireAudience: false });
 * ```
 */
export function checkClaims(payload: Record<string, unknown>, rules: ClaimRules): void {
  const { exp, nbf, iss, aud } = payload;
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw new JwtError('noExpiry');
  if (exp <= rules.nowSeconds) throw new JwtError('expired');
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf > rules.nowSeconds)) {
    throw new JwtError('notYetValid');
  }
  if (rules.issuer !== null && iss !== rules.issuer) throw new JwtError('issuer');
  if (aud === undefined) {
    if (rules.requireAudience) throw new JwtError('audience');
  } else {
    const audiences = Array.isArray(aud) ? aud : [aud];
    if (!audiences.includes('authenticated')) throw new JwtError('audience');
  }
}
