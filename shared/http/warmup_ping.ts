/**
 * The warm-up ping every function answers before any database work, and the edge metrics of
 * every request.
 *
 * `GET|POST /<fn>/__warmup` (or any path with `x-warmup: 1`) answers
 * `{ function, instanceId, coldStart, startedAt, uptimeMs }` at once: `coldStart` is true when
 * this isolate had not served the function yet (the warming run's evidence of a cold instance).
 *
 * Every other request is counted for the manager: `edge.requests`, `edge.cold_starts` (the
 * function's first request in this isolate, when no warm-up ping absorbed it),
 * `edge.request.ms`, `edge.request.cold.ms`, `edge.errors` (5xx); the isolate's metrics are
 * flushed to the shared store in the background at most every {@link FLUSH_INTERVAL_MS}.
 *
 * @module
 */
import type { MiddlewareHandler } from 'hono';
import { createMiddleware } from 'hono/factory';
import { instanceInfo } from '../runtime/instance.ts';
import { runInBackground } from '../runtime/background.ts';
import { metrics } from '../optimizer/metrics.ts';
import { getStore } from '../store/mod.ts';

/** How often a function's requests flush the isolate's metrics, ms. */
export const FLUSH_INTERVAL_MS = 10_000;

/** Functions that have served a request (or a ping) in this isolate. */
const served = new Set<string>();
let nextFlushAt = Date.now() + FLUSH_INTERVAL_MS;

/** What a warm-up ping answers. */
export interface WarmupPingAnswer {
  function: string;
  instanceId: string;
  coldStart: boolean;
  startedAt: string;
  uptimeMs: number;
}

function maybeFlush(): void {
  const now = Date.now();
  if (now < nextFlushAt || !metrics.hasPending) return;
  nextFlushAt = now + FLUSH_INTERVAL_MS;
  runInBackground(() => metrics.flushTo(getStore()), 'metrics flush');
}

/**
 * The middleware of function `name` (installed by `createFunctionApp`).
 *
 * @example
 * ```ts
 * app.use('*', warmupPing('robots'));
 * // GET /robots/__warmup -> { function: 'robots', instanceId, coldStart: true, ... }
 * ```
 */
export function warmupPing(name: string): MiddlewareHandler {
  const path = `/${name}/__warmup`;
  return createMiddleware(async function warmupPing(c, next) {
    const cold = !served.has(name);
    served.add(name);
    if (c.req.path === path || c.req.header('x-warmup') === '1') {
      if (c.req.method !== 'GET' && c.req.method !== 'POST' && c.req.method !== 'HEAD') {
        return await next();
      }
      metrics.increment('edge.warmup_pings');
      if (cold) metrics.increment('edge.warmup_pings.cold');
      const info = instanceInfo(cold);
      c.header('cache-control', 'no-store');
      return c.json(
        {
          function: name,
          instanceId: info.id,
          coldStart: cold,
          startedAt: info.startedAt,
          uptimeMs: info.uptimeMs,
        } satisfies WarmupPingAnswer,
      );
    }
    const started = performance.now();
    try {
      await next();
    } finally {
      const ms = performance.now() - started;
      metrics.increment('edge.requests');
      metrics.observe('edge.request.ms', ms);
      if (cold) {
        metrics.increment('edge.cold_starts');
        metrics.increment(`edge.cold_starts:${name}`);
        metrics.observe('edge.request.cold.ms', ms);
      }
      if (c.res.status >= 500) metrics.increment('edge.errors');
      maybeFlush();
    }
  });
}

/** Forgets which functions were served (tests simulating a process restart). */
export function resetWarmState(): void {
  served.clear();
}
