/**
 * `optimizer`: the optimization manager over HTTP, for operators and cron (service only: a
 * service_role JWT or `x-cron-secret`; anon 401, users 403).
 *
 * | route | what |
 * |---|---|
 * | `POST /optimizer/run` | `performPredictiveOptimization`: observe, decide, apply, record; also aggregates metrics into Postgres, prunes, drains pending invalidations |
 * | `POST /optimizer/system` | `optimizeSystem({ priority, maxDurationMs, targetGainPercent })` |
 * | `GET /optimizer/status` | `getOptimizationStatus()` |
 * | `GET /optimizer/recommendations` | the rules' recommendations, nothing applied |
 * | `GET /optimizer/metrics?window=1m\|15m\|1h` | per-area figures of one window, store and Postgres |
 * | `GET /optimizer/runs?limit=&kind=` | recent runs |
 * | `GET /optimizer/series?range=1h\|24h` | time series for the dashboard's charts |
 * | `GET /optimizer/health` | store and database round trips, functions at the last warm-up |
 * | `POST /optimizer/recommendations/:id/apply` | applies one recommendation, recorded as a run |
 * | `GET /optimizer/dashboard` | the operator dashboard (public page; its data needs a key), see docs/dashboard.md |
 *
 * @module
 */
import { z } from 'zod';
import type { Context } from 'hono';
import { createFunctionApp } from '@shared/http/app.ts';
import type { AuthVariables } from '@shared/http/auth.ts';
import { ApiError } from '@shared/http/errors.ts';
import type { BaseVariables } from '@shared/http/app.ts';
import { getDatabase } from '@shared/db/mod.ts';
import type { Database } from '@shared/db/types.ts';
import type { EnvReader } from '@shared/store/mod.ts';
import {
  type BackendOptimizationManager,
  backendOptimizationManager,
  RecommendationError,
  SERIES_RANGES,
  type SeriesRange,
  type WindowName,
  WINDOWS,
} from '@shared/optimizer/manager/mod.ts';
import {
  DASHBOARD_ASSETS,
  dashboardHeaders,
  dashboardHealth,
  operatorAuthenticate,
} from './dashboard/mod.ts';
import { optionalJsonBody } from '../_shared/optional_json.ts';

type Env = { Variables: BaseVariables & AuthVariables };

/** What the optimizer app uses; tests pass their own. */
export interface OptimizerAppDeps {
  manager: BackendOptimizationManager;
  database: () => Promise<Database>;
  /** Reads CRON_SECRET and the JWT settings. @default the process environment */
  env?: EnvReader;
}

const MAX_BODY_BYTES = 16_384;

const runBody = z.object({ trigger: z.string().min(1).max(100).optional() }).passthrough();
const systemBody = z.object({
  priority: z.enum(['performance', 'cost', 'reliability']).default('performance'),
  maxDurationMs: z.number().int().min(1).max(60_000).default(10_000),
  targetGainPercent: z.number().min(0).max(100).default(10),
  trigger: z.string().min(1).max(100).optional(),
}).strict();

/** Reads an optional JSON body of at most {@link MAX_BODY_BYTES} (see `optionalJsonBody`). */
function jsonBody<T>(c: Context, schema: z.ZodType<T>): Promise<T> {
  return optionalJsonBody(c, schema, MAX_BODY_BYTES);
}

/** A query parameter that must name one of `choices`' keys (`fallback` when absent), else 400. */
function choiceOf<K extends string>(
  c: Context,
  name: string,
  choices: Record<K, unknown>,
  fallback: K,
): K {
  const value = c.req.query(name) ?? fallback;
  if (!(value in choices)) {
    throw new ApiError(
      400,
      `invalid_${name}`,
      `'${name}' must be one of ${Object.keys(choices).join(', ')}: received ${
        JSON.stringify(value.slice(0, 20))
      }`,
    );
  }
  return value as K;
}

function triggerOf(c: Context<Env>, requested?: string): string {
  const auth = c.get('auth');
  return requested ?? (auth.role === 'cron' ? 'cron' : auth.role);
}

/**
 * Builds the optimizer app over a manager.
 *
 * @example
 * ```ts
 * const app = createOptimizerApp({ manager, database: getDatabase });
 * await app.request('/optimizer/status', { headers: { 'x-cron-secret': secret } });
 * ```
 */
export function createOptimizerApp(deps: OptimizerAppDeps) {
  const app = createFunctionApp<Env>('optimizer');
  const { manager } = deps;
  app.use('*', async (c, next) => {
    c.header('cache-control', 'no-store');
    await next();
  });
  // The dashboard page and its assets are public (they hold no data); every other route is
  // service-only, also through the dashboard's `x-operator-key` (dashboard/auth.ts).
  for (const [path, asset] of Object.entries(DASHBOARD_ASSETS)) {
    app.get(path, (c) => c.body(asset.body, 200, dashboardHeaders(path, asset)));
  }
  app.get('/dashboard/', (c) => c.redirect('../dashboard', 301));
  app.use('*', operatorAuthenticate({ env: deps.env }) as never);

  app.post('/run', async (c) => {
    const body = await jsonBody(c, runBody);
    const db = await deps.database();
    const result = await manager.performPredictiveOptimization(db, {
      trigger: triggerOf(c, body.trigger),
    });
    return c.json(result, result.success ? 200 : 503);
  });

  app.post('/system', async (c) => {
    const body = await jsonBody(c, systemBody);
    const db = await deps.database();
    const result = await manager.optimizeSystem({
      priority: body.priority,
      maxDurationMs: body.maxDurationMs,
      targetGainPercent: body.targetGainPercent,
      trigger: triggerOf(c, body.trigger ?? `system:${body.priority}`),
    }, db);
    return c.json(result, result.success ? 200 : 503);
  });

  app.get('/status', async (c) => c.json(await manager.getOptimizationStatus()));

  app.get('/recommendations', async (c) => {
    const db = await deps.database().catch(() => undefined);
    const recommendations = await manager.recommendations(db);
    return c.json({ generatedAt: new Date().toISOString(), recommendations });
  });

  app.get('/metrics', async (c) => {
    const window = choiceOf<WindowName>(c, 'window', WINDOWS, '1h');
    return c.json(await manager.metricsWindow(window));
  });

  app.get('/series', async (c) => {
    const range = choiceOf<SeriesRange>(c, 'range', SERIES_RANGES, '1h');
    return c.json(await manager.metricsSeries(range));
  });

  app.get('/health', async (c) => {
    const health = await dashboardHealth(manager, deps.database);
    return c.json(health, health.backends.every((b) => b.ok) ? 200 : 503);
  });

  app.post('/recommendations/:id/apply', async (c) => {
    const id = c.req.param('id');
    if (id.length === 0 || id.length > 200) {
      throw new ApiError(400, 'invalid_id', "'id' must be 1 to 200 characters");
    }
    const body = await jsonBody(c, runBody);
    const db = await deps.database();
    try {
      const result = await manager.applyRecommendation(id, db, {
        trigger: triggerOf(c, body.trigger ?? `apply:${id}`.slice(0, 100)),
      });
      return c.json(result, result.success ? 200 : 503);
    } catch (error) {
      if (error instanceof RecommendationError) {
        throw new ApiError(
          error.code === 'not_found' ? 404 : 409,
          error.code === 'not_found' ? 'recommendation_not_found' : 'recommendation_advice_only',
          error.message,
        );
      }
      throw error;
    }
  });

  app.get('/runs', async (c) => {
    const rawLimit = c.req.query('limit') ?? '20';
    const limit = Number(rawLimit);
    if (!/^\d{1,3}$/.test(rawLimit) || limit < 1 || limit > 100) {
      throw new ApiError(400, 'invalid_limit', `'limit' must be an integer from 1 to 100`);
    }
    const kind = c.req.query('kind');
    if (kind !== undefined && kind !== 'optimize' && kind !== 'warm') {
      throw new ApiError(400, 'invalid_kind', `'kind' must be 'optimize' or 'warm'`);
    }
    return c.json({ runs: await manager.runs(limit, kind) });
  });

  return app;
}

/** The deployed app: the isolate's manager and database. */
export const app = createOptimizerApp({
  manager: backendOptimizationManager,
  database: getDatabase,
});
