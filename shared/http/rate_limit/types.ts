/**
 * What every caller rate limiter answers: the caller's tier, the decision and why it was not a
 * plain answer of the shared window.
 *
 * @module
 */

/** Which limit applies to a caller. */
export type CallerTier = 'anon' | 'user' | 'service';

/** Why a decision was not a plain answer of the window. */
export type RateLimitReason =
  /** Redis did not answer within `timeoutMs`: let through. */
  | 'timeout'
  /** Redis failed: let through. */
  | 'error'
  /** The isolate's memory window decided because Redis failed a moment ago. */
  | 'fallback'
  /** `@upstash/ratelimit`'s ephemeral cache denied without asking Redis. */
  | 'cacheBlock'
  /** `@upstash/ratelimit`'s deny list. */
  | 'denyList';

/** One decision. */
export interface RateLimitDecision {
  /** Whether the request may pass. */
  success: boolean;
  /** Requests allowed per window. */
  limit: number;
  /** Requests left in the window after this one. */
  remaining: number;
  /** When the window has room again, Unix ms. */
  reset: number;
  /** Set when the decision is not a plain answer of the shared window. */
  reason?: RateLimitReason;
}

/** Decides whether `identifier` may make one more request under `limit` per window. */
export interface CallerRateLimiter {
  /** `memory` or `upstash`. */
  readonly backend: string;
  limit(identifier: string, tier: CallerTier, limit: number): Promise<RateLimitDecision>;
}
