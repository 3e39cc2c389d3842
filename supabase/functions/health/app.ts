/**
 * `health`: is this function's isolate able to reach its backends?
 *
 * `GET /functions/v1/health` answers 200 `{ status: 'ok', checks, instance }`, or 503 with
 * `status: 'degraded'` and the failing check's error when the cache store or the database does
 * not answer, or when a circuit breaker is open in any isolate (`checks.breakers.open` lists
 * them, read from the shared store); each check is bounded so the whole answer comes within 2 s.
 *
 * @module
 */
import { createFunctionApp } from '@shared/http/app.ts';
import { instanceInfo } from '@shared/runtime/instance.ts';
import { processEnv } from '@shared/runtime/env.ts';
import { timeProbe } from '@shared/runtime/ping.ts';
import { getStore, type KeyValueStore } from '@shared/store/mod.ts';
import { getDatabase } from '@shared/db/isolate.ts';
import {
  DEFAULT_BREAKER_KEY_PREFIX,
  type OpenBreaker,
  readOpenBreakers,
} from '@shared/optimizer/resilience/breaker_state.ts';

/** Something with a backend name and a round trip to measure. */
export interface Pingable {
  readonly backend: string;
  ping(): Promise<unknown>;
}

/** What the health app checks; tests pass their own. */
export interface HealthDependencies {
  cache: () => Pingable | Promise<Pingable>;
  db: () => Pingable | Promise<Pingable>;
  /** The breakers open in any isolate. @default none (no breaker check) */
  breakers?: () => Promise<OpenBreaker[]>;
  /** Longest wait for one check. @default 1500 */
  checkTimeoutMs?: number;
  /** Backend names reported when a dependency cannot even be created. */
  names?: { cache: string; db: string };
}

/** One check's outcome. */
export interface CheckResult {
  backend: string;
  ok: boolean;
  latencyMs: number;
  error?: string;
}

/** The breaker check: `ok` when none is open. */
export interface BreakerCheckResult {
  ok: boolean;
  latencyMs: number;
  /** Open (or half-open, probing) breakers, by resource key. */
  open: OpenBreaker[];
  error?: string;
}

async function runBreakerCheck(
  read: () => Promise<OpenBreaker[]>,
  timeoutMs: number,
): Promise<BreakerCheckResult> {
  let open: OpenBreaker[] = [];
  const result = await runCheck(
    () => ({
      backend: 'breakers',
      ping: async () => {
        open = await read();
      },
    }),
    'breakers',
    timeoutMs,
  );
  return {
    ok: result.ok && open.length === 0,
    latencyMs: result.latencyMs,
    open,
    ...(result.error ? { error: result.error } : {}),
  };
}

async function runCheck(
  create: () => Pingable | Promise<Pingable>,
  fallbackName: string,
  timeoutMs: number,
): Promise<CheckResult> {
  let backend = fallbackName;
  const { ok, latencyMs, error } = await timeProbe(async () => {
    const target = await create();
    backend = target.backend;
    await target.ping();
  }, { timeoutMs });
  return { backend, ok, latencyMs: round(latencyMs), ...(ok ? {} : { error }) };
}

const round = (ms: number) => Math.round(ms * 100) / 100;

function storeName(): string {
  return processEnv('UPSTASH_REDIS_REST_URL') ? 'upstash' : 'memory';
}

function dbName(): string {
  return processEnv('SUPABASE_DB_URL') || processEnv('DATABASE_URL') ? 'postgres' : 'pglite';
}

/**
 * Builds the health app over the given dependencies.
 *
 * @example
 * ```ts
 * const app = createHealthApp({ cache: () => new MemoryStore(), db: () => getDatabase() });
 * const res = await app.request('/health');
 * ```
 */
export function createHealthApp(deps: HealthDependencies) {
  const timeoutMs = deps.checkTimeoutMs ?? 1500;
  const app = createFunctionApp('health');
  app.on(['GET', 'HEAD'], '/', async (c) => {
    const [cache, db, breakers] = await Promise.all([
      runCheck(deps.cache, deps.names?.cache ?? storeName(), timeoutMs),
      runCheck(deps.db, deps.names?.db ?? dbName(), timeoutMs),
      deps.breakers ? runBreakerCheck(deps.breakers, timeoutMs) : undefined,
    ]);
    const ok = cache.ok && db.ok && (breakers?.ok ?? true);
    c.header('cache-control', 'no-store');
    return c.json(
      {
        status: ok ? 'ok' : 'degraded',
        checks: { cache, db, ...(breakers ? { breakers } : {}) },
        instance: instanceInfo(c.get('coldStart')),
      },
      ok ? 200 : 503,
    );
  });
  return app;
}

function breakerKeyPrefix(): string {
  const configured = processEnv('QF_BREAKER_KEY_PREFIX');
  // The options' default without their zod schema (cold start); the optimizer validates the
  // variable when it loads its configuration.
  return configured || DEFAULT_BREAKER_KEY_PREFIX;
}

/** The deployed app: the isolate's store and database, and the breakers shared in the store. */
export const app = createHealthApp({
  cache: (): KeyValueStore => getStore(),
  breakers: () => readOpenBreakers(getStore(), { prefix: breakerKeyPrefix() }),
  db: async (): Promise<Pingable> => {
    const db = await getDatabase();
    return {
      backend: db.backend,
      // Database.ping never throws: turn its verdict into the check's outcome.
      ping: async () => {
        const result = await db.ping(1500);
        if (!result.ok) throw new Error(result.reason ?? 'database ping failed');
      },
    };
  },
});
