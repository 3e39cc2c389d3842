/**
 * Shared fixture of the robots boundary tests (`robots_boundary_*_test.ts`): the robots app
 * through `app.request` on an embedded PGlite database with every migration and a memory-store
 * optimizer, and the request helpers.
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
  options: {
    user?: User;
    token?: string;
    body?: unknown;
    rawBody?: string;
    headers?: Record<string, string>;
  } = {},
): Promise<Response> {
  const headers: Record<string, string> = {};
  const token = options.token ?? options.user?.token;
  if (token) headers.authorization = `Bearer ${token}`;
  let body: string | undefined = options.rawBody;
  if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined) headers['content-type'] = 'application/json';
  Object.assign(headers, options.headers);
  return Promise.resolve(app.request(path, { method, headers, body }));
}

export async function expectError(
  response: Response,
  status: number,
  code?: string,
): Promise<string> {
  const text = await response.text();
  assert.equal(response.status, status, `${status} expected: ${text.slice(0, 300)}`);
  assert.match(response.headers.get('content-type') ?? '', /application\/json/);
  const body = JSON.parse(text) as { error: { code: string; message: string } };
  if (code) assert.equal(body.error.code, code, body.error.message);
  assert.doesNotMatch(text, /at .*\.ts:\d+/);
  return body.error.message;
}

export async function createRobot(
  app: App,
  user: User,
  input: Record<string, unknown> = {},
): Promise<Record<string, unknown> & { id: string }> {
  const response = await call(app, 'POST', '/robots', {
    user,
    body: { name: 'Falcon', strategy_type: 'breakout', ...input },
  });
  const body = await response.json();
  assert.equal(response.status, 201, JSON.stringify(body));
  return body;
}

export const xCache = (response: Response) => response.headers.get('x-cache')?.split(';')[0];

/** `[[[...]]]` `depth` levels deep, as JSON text (never built as an object). */
export const nestedArrayText = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
/** `{"a":{"a":...}}` `depth` levels deep, as JSON text. */
export const nestedObjectText = (depth: number) =>
  '{"a":'.repeat(depth - 1) + '{}' + '}'.repeat(depth - 1);

/** One embedded database and app for a test file. */
export interface RobotsBoundary {
  /** The robots app on the embedded database and a memory-store optimizer. */
  app: App;
  /** A JWT of the anon role. */
  anonKey: string;
  /** The embedded database itself, for direct queries. */
  opened: Database;
}

/** Runs `body` on a fresh embedded PGlite database (every migration), then closes it all. */
export async function withRobotsBoundary(
  body: (fixture: RobotsBoundary) => Promise<void>,
): Promise<void> {
  let db: Database | undefined;
  const optimizer = new AdvancedBackendOptimizer({
    store: new MemoryStore(),
    metrics: new Metrics(),
    metricsFlushIntervalMs: 0,
  });
  try {
    db = await createEmbeddedDatabase({ seed: false });
    const opened = db;
    const app = createRobotsApp({ db: () => Promise.resolve(opened), optimizer });
    const anonKey = await signLocalJwt({ role: 'anon' });
    await body({ app, anonKey, opened });
  } finally {
    await optimizer.close();
    await db?.close();
  }
}
