/**
 * Proactive alerting: a degradation of the current 15-minute window against the previous one
 * beyond a threshold (p95 latency, error rate, hit rate, cold-start rate) is an alert. The run
 * records it in `optimization_alerts` and, when `ALERT_WEBHOOK_URL` is set, POSTs it as JSON
 * with a bounded timeout (a slow or failing webhook never fails the run).
 *
 * @module
 */
import type { Observation } from './observe.ts';
import type { AlertThresholds, ManagerThresholds } from './options.ts';
import type { DegradationInput } from './records.ts';

const r4 = (n: number) => Math.round(n * 10_000) / 10_000;

/**
 * The degradations between the previous and the current 15-minute window. Both windows need
 * `minRequests` operations (or edge requests, for the edge figures) to be compared.
 *
 * @example
 * ```ts
 * const degradations = detectDegradations(observation, DEFAULT_ALERTS, DEFAULT_THRESHOLDS);
 * ```
 */
export function detectDegradations(
  obs: Observation,
  alerts: AlertThresholds,
  thresholds: ManagerThresholds,
): DegradationInput[] {
  const now = obs.windows['15m'];
  const before = obs.previous15m;
  const out: DegradationInput[] = [];
  const enough = (a: number, b: number) =>
    a >= thresholds.minRequests && b >= thresholds.minRequests;
  const p95 = (metric: string, cur: number, prev: number, nCur: number, nPrev: number) => {
    if (!enough(nCur, nPrev) || prev <= 0) return;
    const rise = cur - prev;
    if (rise > alerts.p95IncreaseMinMs && rise / prev > alerts.p95IncreaseRatio) {
      out.push({
        metric,
        severity: rise / prev > 2 * alerts.p95IncreaseRatio ? 'critical' : 'warning',
        previousValue: prev,
        currentValue: cur,
        threshold: alerts.p95IncreaseRatio,
        message: `${metric} rose from ${prev} ms to ${cur} ms (+${
          Math.round((rise / prev) * 100)
        }%, threshold +${
          Math.round(alerts.p95IncreaseRatio * 100)
        }% and +${alerts.p95IncreaseMinMs} ms)`,
      });
    }
  };
  p95(
    'optimizer.operation.p95_ms',
    now.operationP95Ms,
    before.operationP95Ms,
    now.operations,
    before.operations,
  );
  p95(
    'edge.request.p95_ms',
    now.edgeP95Ms,
    before.edgeP95Ms,
    now.edgeRequests,
    before.edgeRequests,
  );
  const rate = (
    metric: string,
    cur: number,
    prev: number,
    threshold: number,
    nCur: number,
    nPrev: number,
    falling = false,
  ) => {
    if (!enough(nCur, nPrev)) return;
    const delta = falling ? prev - cur : cur - prev;
    if (delta <= threshold) return;
    out.push({
      metric,
      severity: delta > 2 * threshold ? 'critical' : 'warning',
      previousValue: r4(prev),
      currentValue: r4(cur),
      threshold,
      message: `${metric} ${falling ? 'fell' : 'rose'} from ${r4(prev)} to ${r4(cur)} (threshold ${
        falling ? '-' : '+'
      }${threshold})`,
    });
  };
  rate(
    'optimizer.error_rate',
    now.dbErrorRate,
    before.dbErrorRate,
    alerts.errorRateIncrease,
    now.operations,
    before.operations,
  );
  rate(
    'edge.error_rate',
    now.edgeErrorRate,
    before.edgeErrorRate,
    alerts.errorRateIncrease,
    now.edgeRequests,
    before.edgeRequests,
  );
  rate(
    'cache.hit_rate',
    now.hitRate,
    before.hitRate,
    alerts.hitRateDrop,
    now.cacheRequests,
    before.cacheRequests,
    true,
  );
  rate(
    'edge.cold_start_rate',
    now.coldStartRate,
    before.coldStartRate,
    alerts.coldStartRateIncrease,
    now.edgeRequests,
    before.edgeRequests,
  );
  return out;
}

/**
 * POSTs an alert to the webhook; resolves with a short outcome ('200', 'timeout', 'error: ...').
 *
 * @example
 * ```ts
 * await deliverWebhook('https://hooks.example/alerts', { metric: 'cache.hit_rate' }, 2000);
 * ```
 */
export async function deliverWebhook(
  url: string,
  payload: unknown,
  timeoutMs: number,
  fetchFn: typeof fetch = fetch,
): Promise<string> {
  try {
    const res = await fetchWithTimeout(fetchFn, url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(payload),
    }, timeoutMs);
    await res.body?.cancel();
    return String(res.status);
  } catch (error) {
    if (error instanceof TimeoutError) return 'timeout';
    return `error: ${error instanceof Error ? error.message : String(error)}`.slice(0, 200);
  }
}

/** Thrown by {@link fetchWithTimeout} when the bound passed. */
export class TimeoutError extends Error {
  override name = 'TimeoutError';
}

/**
 * `fetch` bounded by `timeoutMs` (the request is aborted; the timer is always cleared).
 *
 * @example
 * ```ts
 * const res = await fetchWithTimeout(fetch, 'http://127.0.0.1:54321/functions/v1/health', {}, 1500);
 * ```
 */
export async function fetchWithTimeout(
  fetchFn: typeof fetch,
  url: string,
  init: RequestInit,
  timeoutMs: number,
): Promise<Response> {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new TimeoutError(`no answer within ${timeoutMs} ms`)),
    timeoutMs,
  );
  try {
    return await fetchFn(url, { ...init, signal: controller.signal });
  } catch (error) {
    if (controller.signal.aborted) throw new TimeoutError(`no answer within ${timeoutMs} ms`);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
