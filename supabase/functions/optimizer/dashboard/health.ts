/**
 * Health for the dashboard: a bounded round trip to each backend of this isolate (the key-value
 * store, the database) and each function's state at the last warm-up run (warm or cold, its
 * latency), read from `optimization_runs`.
 *
 * @module
 */
import type { BackendOptimizationManager } from '@shared/optimizer/manager/mod.ts';
import type { Database } from '@shared/db/types.ts';

/** One backend's check. */
export interface BackendCheck {
  name: 'store' | 'database';
  /** `memory`, `upstash`, `pglite`, `postgres`, or null when it could not be created. */
  backend: string | null;
  ok: boolean;
  latencyMs: number;
  error?: string;
}

/** One function's state at the last warm-up. */
export interface FunctionState {
  function: string;
  ok: boolean;
  coldStart: boolean | null;
  latencyMs: number | null;
  status: number | null;
}

/** What `GET /optimizer/health` answers. */
export interface DashboardHealth {
  checkedAt: string;
  backends: BackendCheck[];
  /** The last warm-up run's pings; empty before the first. */
  functions: FunctionState[];
  lastWarmup: { runId: string; at: string; status: string } | null;
}

const r2 = (n: number) => Math.round(n * 100) / 100;
const message = (e: unknown) => (e instanceof Error ? e.message : String(e)).slice(0, 200);

async function bounded<T>(task: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      task,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${what} timed out after ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Checks the store and the database (each within `timeoutMs`) and reads the last warm-up.
 *
 * @example
 * ```ts
 * const health = await dashboardHealth(backendOptimizationManager, getDatabase);
 * health.backends.every((b) => b.ok);
 * ```
 */
export async function dashboardHealth(
  manager: BackendOptimizationManager,
  database: () => Promise<Database>,
  timeoutMs = 1500,
): Promise<DashboardHealth> {
  const store = manager.optimizer.store;
  const storeCheck = (async (): Promise<BackendCheck> => {
    const t0 = performance.now();
    try {
      await bounded(store.ping(), timeoutMs, 'store ping');
      return {
        name: 'store',
        backend: store.backend,
        ok: true,
        latencyMs: r2(performance.now() - t0),
      };
    } catch (error) {
      return {
        name: 'store',
        backend: store.backend,
        ok: false,
        latencyMs: r2(performance.now() - t0),
        error: message(error),
      };
    }
  })();
  let db: Database | undefined;
  const dbCheck = (async (): Promise<BackendCheck> => {
    const t0 = performance.now();
    try {
      db = await bounded(database(), timeoutMs, 'database connection');
      const ping = await db.ping(timeoutMs);
      return {
        name: 'database',
        backend: db.backend,
        ok: ping.ok,
        latencyMs: r2(ping.latencyMs),
        ...(ping.reason ? { error: ping.reason.slice(0, 200) } : {}),
      };
    } catch (error) {
      return {
        name: 'database',
        backend: db?.backend ?? null,
        ok: false,
        latencyMs: r2(performance.now() - t0),
        error: message(error),
      };
    }
  })();
  const backends = await Promise.all([storeCheck, dbCheck]);
  let functions: FunctionState[] = [];
  let lastWarmup: DashboardHealth['lastWarmup'] = null;
  if (backends[1].ok) {
    const [run] = await manager.runs(1, 'warm').catch(() => []);
    if (run) {
      lastWarmup = { runId: run.id, at: run.startedAt, status: run.status };
      const pings = Array.isArray(run.details.functions) ? run.details.functions : [];
      functions = pings.map((p: Record<string, unknown>) => ({
        function: String(p.function),
        ok: p.ok === true,
        coldStart: typeof p.coldStart === 'boolean' ? p.coldStart : null,
        latencyMs: typeof p.latencyMs === 'number' ? p.latencyMs : null,
        status: typeof p.status === 'number' ? p.status : null,
      }));
    }
  }
  return { checkedAt: new Date().toISOString(), backends, functions, lastWarmup };
}
