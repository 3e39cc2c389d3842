/**
 * Shared fixture of the `robots` function tests (`robots_function_*_test.ts`): the app through
 * `app.request` on an embedded PGlite database with every migration (RLS included), a
 * memory-store optimizer, JWTs signed with the local secret, and the request helpers.
 */
import assert from 'node:assert/strict';
import type { Database } from '../../shared/db/mod.ts';
import { createEmbeddedDatabase } from '../../scripts/pglite.ts';
import { signLocalJwt } from '../../shared/http/auth.ts';
import { AdvancedBackendOptimizer, Metrics } from '../../shared/optimizer/mod.ts';
import { MemoryStore } from '../../shared/store/memory.ts';
import { createRobotsApp } from '../../supabase/functions/robots/app.ts';

export type App = ReturnType<typeof createRobotsApp>;

export interface User {
  id: string;
  token: string;
}

export async function newUser(): Promise<User> {
  const id = crypto.randomUUID();
  return { id, token: await signLocalJwt({ role: 'authenticated', sub: id }) };
}

export function call(
  app: App,
  method: string,
  path: string,
  options: { user?: User; token?: string; body?: unknown; rawBody?: string } = {},
): Promise<Response> {
  const headers: Record<string, string> = {};
  const token = options.token ?? options.user?.token;
  if (token) headers.authorization = `Bearer ${token}`;
  let body: string | undefined = options.rawBody;
  if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined) headers['content-type'] = 'application/json';
  return Promise.resolve(app.request(path, { method, headers, body }));
}

export async function json<T = Record<string, unknown>>(
  response: Response,
): Promise<T> {
  return await response.json() as T;
}

export async function expectError(
  response: Response,
  status: number,
  code: string,
): Promise<string> {
  const body = await json<{ error: { code: string; message: string } }>(
    response,
  );
  assert.equal(response.status, status, JSON.stringify(body));
  assert.equal(body.error.code, code, body.error.message);
  return body.error.message;
}

export async function createRobot(
  app: App,
  user: User,
  input: Record<string, unknown> = {},
): Promise<Record<string, unknown>> {
  const response = await call(app, 'POST', '/robots', {
    user,
    body: { name: 'Falcon', strategy_type: 'breakout', ...input },
  });
  const body = await json(response);
  assert.equal(response.status, 201, JSON.stringify(body));
  return body;
}

export const xCacheStatus = (response: Response) => response.headers.get('x-cache')?.split(';')[0];

/** Runs `body` with the robots app on a fresh embedded PGlite database, then closes it all. */
export async function withRobotsApp(body: (fixture: { app: App }) => Promise<void>): Promise<void> {
  let db: Database | undefined;
  const optimizer = new AdvancedBackendOptimizer({
    store: new MemoryStore(),
    metrics: new Metrics(),
    metricsFlushIntervalMs: 0,
  });
  try {
    db = await createEmbeddedDatabase({ seed: false });
    const opened = db;
    const app = createRobotsApp({
      db: () => Promise.resolve(opened),
      optimizer,
    });
    await body({ app });
  } finally {
    await optimizer.close();
    await db?.close();
  }
}
