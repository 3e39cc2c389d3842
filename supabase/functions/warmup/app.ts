/**
 * `warmup`: the warming run (service only: a service_role JWT or `x-cron-secret`).
 *
 * `POST /warmup` pings every other function concurrently (`POST <functions url>/<name>/__warmup`,
 * answered before any database work), records per function latency and whether its instance
 * was cold, pre-warms the applied pre-warm list through the registered loaders, and stores the
 * next interval (shorter after cold starts, longer while warm, 1..15 min). One entry per
 * function in `functions`.
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | `FUNCTIONS_URL` | `${SUPABASE_URL}/functions/v1`, else the request's origin + `/functions/v1` | where the functions are served |
 * | `WARMUP_FUNCTIONS` | the project's functions | comma-separated names to ping |
 * | `SUPABASE_ANON_KEY` | unset | sent as `Authorization`/`apikey`, so the gateway admits pings to `verify_jwt` functions |
 *
 * @module
 */
import { z } from 'zod';
import { createFunctionApp } from '@shared/http/app.ts';
import type { BaseVariables } from '@shared/http/app.ts';
import { authenticate, type AuthVariables } from '@shared/http/auth.ts';
import { type EnvReader, processEnv } from '@shared/runtime/env.ts';
import {
  type BackendOptimizationManager,
  backendOptimizationManager,
} from '@shared/optimizer/manager/mod.ts';
import { type Database, getDatabase } from '@shared/db/mod.ts';
import { registerApiLoaders } from '../_shared/loaders.ts';
import { optionalJsonBody } from '../_shared/optional_json.ts';

type Env = { Variables: BaseVariables & AuthVariables };

/** The project's functions (the warming run pings all but itself). */
export const PROJECT_FUNCTIONS = ['health', 'optimizer', 'robots', 'strategies'];

const body = z.object({
  trigger: z.string().min(1).max(100).optional(),
  functions: z.array(z.string().regex(/^[a-z][a-z0-9_-]*$/)).min(1).max(50).optional(),
}).passthrough();

/** What the warmup app uses; tests pass their own. */
export interface WarmupAppDeps {
  manager: BackendOptimizationManager;
  /** @default the process environment */
  env?: EnvReader;
  /** Longest wait for one ping, ms. @default 3000 */
  timeoutMs?: number;
  /** The database the loaders read (pre-warming). @default getDatabase */
  db?: () => Promise<Database>;
}

/** The functions to ping: `WARMUP_FUNCTIONS`, else {@link PROJECT_FUNCTIONS}; never itself. */
export function functionsToWarm(env: EnvReader = processEnv): string[] {
  const listed = env('WARMUP_FUNCTIONS');
  const names = listed ? listed.split(',').map((n) => n.trim()).filter(Boolean) : PROJECT_FUNCTIONS;
  return [...new Set(names)].filter((n) => n !== 'warmup').sort();
}

/** Where the functions are served. */
export function functionsUrl(requestUrl: string, env: EnvReader = processEnv): string {
  const explicit = env('FUNCTIONS_URL');
  if (explicit) return explicit.replace(/\/+$/, '');
  const project = env('SUPABASE_URL');
  if (project) return `${project.replace(/\/+$/, '')}/functions/v1`;
  return `${new URL(requestUrl).origin}/functions/v1`;
}

/**
 * Builds the warmup app.
 *
 * @example
 * ```ts
 * const app = createWarmupApp({ manager });
 * await app.request('/warmup', { method: 'POST', headers: { 'x-cron-secret': secret } });
 * ```
 */
export function createWarmupApp(deps: WarmupAppDeps) {
  const env = deps.env ?? processEnv;
  // The applied pre-warm list is loaded through this isolate's loaders: register them once.
  registerApiLoaders(deps.manager.optimizer, deps.db ?? getDatabase);
  const app = createFunctionApp<Env>('warmup');
  app.use('*', async (c, next) => {
    c.header('cache-control', 'no-store');
    await next();
  });
  app.use('*', authenticate({ serviceOnly: true, env: deps.env }) as never);
  app.post('/', async (c) => {
    const input = await optionalJsonBody(c, body);
    const anonKey = env('SUPABASE_ANON_KEY');
    const auth = c.get('auth');
    const report = await deps.manager.warm({
      functions: input.functions?.filter((n) => n !== 'warmup') ?? functionsToWarm(env),
      baseUrl: functionsUrl(c.req.url, env),
      trigger: input.trigger ?? (auth.role === 'cron' ? 'cron' : auth.role),
      timeoutMs: deps.timeoutMs,
      headers: anonKey ? { authorization: `Bearer ${anonKey}`, apikey: anonKey } : undefined,
    });
    return c.json(report);
  });
  return app;
}

/** The deployed app: the isolate's manager. */
export const app = createWarmupApp({ manager: backendOptimizationManager });
