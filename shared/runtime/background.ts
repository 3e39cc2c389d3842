/**
 * Background work that must outlive the response (revalidation, pre-warming, metric flushes).
 * On Supabase an isolate may stop once the response is sent unless the promise is handed to
 * `EdgeRuntime.waitUntil`; elsewhere the promise simply runs. Failures are reported through
 * `onError` (default `console.warn`) and never reach the caller.
 *
 * @module
 */

interface EdgeRuntimeLike {
  waitUntil(promise: Promise<unknown>): void;
}

const pending = new Set<Promise<unknown>>();

/**
 * Runs `task` without blocking the caller, kept alive by `EdgeRuntime.waitUntil` where it exists.
 *
 * @example
 * ```ts
 * runInBackground(() => flushMetrics(), 'metrics flush');
 * ```
 */
export function runInBackground(
  task: () => Promise<unknown>,
  label = 'background task',
  onError: (error: unknown) => void = (error) =>
    console.warn(`[quantforge] ${label} failed:`, error instanceof Error ? error.message : error),
): Promise<void> {
  const promise = (async () => {
    try {
      await task();
    } catch (error) {
      onError(error);
    }
  })();
  pending.add(promise);
  promise.finally(() => pending.delete(promise));
  const runtime = (globalThis as { EdgeRuntime?: EdgeRuntimeLike }).EdgeRuntime;
  if (runtime && typeof runtime.waitUntil === 'function') runtime.waitUntil(promise);
  return promise;
}

/** Resolves when every background task started so far has settled (tests, graceful shutdown). */
export async function settleBackground(): Promise<void> {
  while (pending.size > 0) await Promise.allSettled([...pending]);
}
