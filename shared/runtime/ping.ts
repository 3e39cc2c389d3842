/**
 * Timing a ping: how long a probe took, whether it answered, and why not. The database drivers'
 * `ping` and the health check's checks all measure this way.
 *
 * @module
 */

/** What a timed probe found. */
export interface TimedProbe {
  ok: boolean;
  /** From the call to the answer (or the failure), ms. */
  latencyMs: number;
  /** The failure's message, when it failed. */
  error?: string;
}

/** Options of {@link timeProbe}. */
export interface TimeProbeOptions {
  /** Give up after this long (the probe keeps running, its answer is ignored). @default none */
  timeoutMs?: number;
  /** The failure's message on timeout. @default `no answer within ${ms}ms` */
  timeoutMessage?: (timeoutMs: number) => string;
}

/**
 * Runs `probe`, timing it; never throws.
 *
 * @example
 * ```ts
 * const { ok, latencyMs } = await timeProbe(() => db.query('select 1'), { timeoutMs: 1500 });
 * ```
 */
export async function timeProbe(
  probe: () => Promise<unknown>,
  options: TimeProbeOptions = {},
): Promise<TimedProbe> {
  const { timeoutMs, timeoutMessage = (ms) => `no answer within ${ms}ms` } = options;
  const started = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    if (timeoutMs === undefined) {
      await probe();
    } else {
      await Promise.race([
        probe(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(timeoutMessage(timeoutMs))), timeoutMs);
        }),
      ]);
    }
    return { ok: true, latencyMs: performance.now() - started };
  } catch (error) {
    return {
      ok: false,
      latencyMs: performance.now() - started,
      error: error instanceof Error ? error.message : String(error),
    };
  } finally {
    clearTimeout(timer);
  }
}
