/**
 * The warming run: ping every function concurrently (each answers its warm-up ping before any
 * database work, see shared/http/warmup_ping.ts), pre-warm the popular cache entries, and
 * recommend the next interval from the cold starts it saw.
 *
 * @module
 */
import { fetchWithTimeout, TimeoutError } from './alerts.ts';
import { clamp } from './settings.ts';

/** One function's answer to the warm-up ping. */
export interface WarmupEntry {
  function: string;
  ok: boolean;
  /** HTTP status, or null when no answer came. */
  status: number | null;
  latencyMs: number;
  /** Whether the instance that answered was cold (null without an answer). */
  coldStart: boolean | null;
  instanceId: string | null;
  error?: string;
}

/**
 * Pings `<baseUrl>/<name>/__warmup` for every function at once, each bounded by `timeoutMs`.
 *
 * @example
 * ```ts
 * const entries = await pingFunctions(['health', 'robots'], 'http://127.0.0.1:54321/functions/v1');
 * ```
 */
export function pingFunctions(
  functions: string[],
  baseUrl: string,
  options: { timeoutMs?: number; fetch?: typeof fetch; headers?: Record<string, string> } = {},
): Promise<WarmupEntry[]> {
  const timeoutMs = options.timeoutMs ?? 3000;
  const fetchFn = options.fetch ?? fetch;
  const base = baseUrl.replace(/\/+$/, '');
  return Promise.all(functions.map(async (name): Promise<WarmupEntry> => {
    const started = performance.now();
    const latency = () => Math.round((performance.now() - started) * 100) / 100;
    try {
      const res = await fetchWithTimeout(fetchFn, `${base}/${name}/__warmup`, {
        method: 'POST',
        headers: { 'x-warmup': '1', ...options.headers },
      }, timeoutMs);
      const text = await res.text();
      const latencyMs = latency();
      let body: { coldStart?: unknown; instanceId?: unknown } = {};
      try {
        body = JSON.parse(text);
      } catch {
        // Not the ping's answer (a gateway page): reported below.
      }
      const answered = res.ok && typeof body.coldStart === 'boolean';
      return {
        function: name,
        ok: answered,
        status: res.status,
        latencyMs,
        coldStart: answered ? body.coldStart as boolean : null,
        instanceId: typeof body.instanceId === 'string' ? body.instanceId : null,
        ...(answered ? {} : { error: `unexpected answer ${res.status}` }),
      };
    } catch (error) {
      return {
        function: name,
        ok: false,
        status: null,
        latencyMs: latency(),
        coldStart: null,
        instanceId: null,
        error: error instanceof TimeoutError
          ? `no answer within ${timeoutMs} ms`
          : (error instanceof Error ? error.message : String(error)).slice(0, 200),
      };
    }
  }));
}

/** The next warming interval and why. */
export interface IntervalDecision {
  previousMs: number;
  nextMs: number;
  coldStarts: number;
  pinged: number;
  coldStartRate: number;
  reason: string;
}

/**
 * Shorter after cold starts (halved, and shorter still when most were cold), longer while
 * every instance stays warm (x1.5), within `[minMs, maxMs]` (1..15 min by default).
 *
 * @example
 * ```ts
 * nextWarmingInterval(300_000, 2, 4).nextMs; // 150_000
 * nextWarmingInterval(300_000, 0, 4).nextMs; // 450_000
 * ```
 */
export function nextWarmingInterval(
  currentMs: number,
  coldStarts: number,
  pinged: number,
  bounds: [number, number] = [60_000, 900_000],
): IntervalDecision {
  const rate = pinged > 0 ? coldStarts / pinged : 0;
  let nextMs = currentMs;
  let reason = 'no function answered: interval kept';
  if (pinged > 0 && coldStarts > 0) {
    // Halve after any cold start; a majority cold halves again.
    nextMs = currentMs * (rate > 0.5 ? 0.25 : 0.5);
    reason = `${coldStarts} of ${pinged} instances were cold: warm more often`;
  } else if (pinged > 0) {
    nextMs = currentMs * 1.5;
    reason = `all ${pinged} instances were warm: warm less often`;
  }
  nextMs = Math.round(clamp(nextMs, bounds));
  return {
    previousMs: currentMs,
    nextMs,
    coldStarts,
    pinged,
    coldStartRate: Math.round(rate * 10_000) / 10_000,
    reason,
  };
}
