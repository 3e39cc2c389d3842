/**
 * Constant-time comparison of secrets (API keys, the cron secret, the bridge token).
 *
 * @module
 */

/**
 * Compares two byte strings in time that does not depend on where they differ (only on the
 * length of the presented value, which is public: key formats have fixed lengths).
 *
 * @example
 * ```ts
 * const encode = (s: string) => new TextEncoder().encode(s);
 * timingSafeEqual(encode('a'), encode('a')); // true
 * ```
 */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ (b[i % (b.length || 1)] ?? 0);
  return diff === 0;
}

/**
 * {@link timingSafeEqual} of two strings, code unit by code unit, without encoding them first
 * (an API key is compared on every request: encoding it cost 5% of a cached hit).
 *
 * @example
 * ```ts
 * timingSafeEqualText('sb_publishable_x', 'sb_publishable_x'); // true
 * ```
 */
export function timingSafeEqualText(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  const n = b.length || 1;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ (b.charCodeAt(i % n) || 0);
  return diff === 0;
}
