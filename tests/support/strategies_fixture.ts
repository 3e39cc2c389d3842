/**
 * Shared fixture of the `strategies` function integration tests: the real PostgreSQL 15
 * (migrations and RLS applied by the test runner) and the real Redis behind the Upstash REST
 * bridge. Two apps, each with its own optimizer over the same store and key prefix, stand for two
 * isolates: what one caches, the other reads from Redis. Every step uses fresh user ids.
 */
import assert from 'node:assert/strict';
import type { Database } from '../../shared/db/mod.ts';
import { createPostgresDatabase } from '../../shared/db/postgres.ts';
import { signLocalJwt } from '../../shared/http/auth.ts';
import {
  AdvancedBackendOptimizer,
  Metrics,
  parseOptimizationConfig,
} from '../../shared/optimizer/mod.ts';
import { settleBackground } from '../../shared/runtime/background.ts';
import { UpstashStore } from '../../shared/store/upstash.ts';
import * as robotsApp from '../../supabase/functions/robots/app.ts';
import { createStrategiesApp } from '../../supabase/functions/strategies/app.ts';
import { databaseUrl, upstashBridge } from './services.ts';

export type App = { request: (path: string, init?: RequestInit) => Response | Promise<Response> };

export interface User {
  id: string;
  token: string;
}

export async function newUser(): Promise<User> {
  const id = crypto.randomUUID();
  return { id, token: await signLocalJwt({ role: 'authenticated', sub: id }) };
}

export async function call(
  app: App,
  method: string,
  path: string,
  options: {
    user?: User;
    token?: string;
    body?: unknown;
    rawBody?: string;
    headers?: Record<string, string>;
  } = {},
): Promise<Response> {
  const headers: Record<string, string> = { ...options.headers };
  const token = options.token ?? options.user?.token;
  if (token) headers.authorization = `Bearer ${token}`;
  let body: string | undefined = options.rawBody;
  if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined) headers['content-type'] ??= 'application/json';
  // Background work (the cache's write-back to Redis) settles before the next request, so what
  // one isolate cached is in Redis for the other: cache statuses are deterministic.
  const response = await app.request(path, { method, headers, body });
  await settleBackground();
  return response;
}

export async function json<T = Record<string, unknown>>(response: Response): Promise<T> {
  return await response.json() as T;
}

export async function expectError(response: Response, status: number, code: string): Promise<void> {
  const body = await json<{ error: { code: string; message: string } }>(response);
  assert.equal(response.status, status, JSON.stringify(body));
  assert.equal(body.error.code, code, body.error.message);
  assert.ok(body.error.message.length > 0);
}

export async function createStrategy(
  app: App,
  user: User,
  input: Record<string, unknown> = {},
): Promise<Record<string, unknown> & { id: string }> {
  const response = await call(app, 'POST', '/strategies', {
    user,
    body: { name: 'Breakout basics', strategy_type: 'breakout', ...input },
  });
  const body = await json<Record<string, unknown> & { id: string }>(response);
  assert.equal(response.status, 201, JSON.stringify(body));
  return body;
}

export const xCacheStatus = (response: Response) => response.headers.get('x-cache')?.split(';')[0];

export interface TwoIsolates {
  db: Database;
  optimizerA: AdvancedBackendOptimizer;
  optimizerB: AdvancedBackendOptimizer;
  /** The strategies app of isolate A. */
  appA: App;
  /** The strategies app of isolate B. */
  appB: App;
  /** The robots app of isolate A (same optimizer as `appA`). */
  robots: App;
}

/** Runs `body` against two isolates' apps, then settles background work and closes everything. */
export async function withTwoIsolates(
  body: (isolates: TwoIsolates) => Promise<void>,
): Promise<void> {
  const db = createPostgresDatabase(databaseUrl());
  const { url, token } = upstashBridge();
  const store = new UpstashStore({ url, token, timeoutMs: 2_000 });
  const keyPrefix = `qf:test:${crypto.randomUUID()}:`;
  const optimizer = () =>
    new AdvancedBackendOptimizer({
      store,
      metrics: new Metrics(),
      metricsFlushIntervalMs: 0,
      config: parseOptimizationConfig({
        predictiveCacheTTL: 60_000,
        cache: { keyPrefix, storeTimeoutMs: 2_000, popularityFlushMs: 0, memoryStalenessMs: 0 },
      }),
    });
  const optimizerA = optimizer();
  const optimizerB = optimizer();
  try {
    const deps = { db: () => Promise.resolve(db) };
    const appA = createStrategiesApp({ ...deps, optimizer: optimizerA });
    const appB = createStrategiesApp({ ...deps, optimizer: optimizerB });
    const robots = robotsApp.createRobotsApp({ ...deps, optimizer: optimizerA });
    await body({ db, optimizerA, optimizerB, appA, appB, robots });
  } finally {
    await settleBackground();
    await optimizerA.close();
    await optimizerB.close();
    await db.close();
  }
}
