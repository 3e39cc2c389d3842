/**
 * Shared pieces of the trust suites (fuzz, isolation, faults, several instances): the dev
 * server's environment on real backends, an HTTP helper that times every answer, robots written
 * straight into Postgres, and snapshots of rows.
 *
 * @module
 */
import type postgres from 'postgres';

/** Options of {@link devServerEnv}. */
export interface DevServerEnvOptions {
  /** `SUPABASE_DB_URL`. */
  databaseUrl: string;
  /** The Upstash REST bridge. */
  upstash: { url: string; token: string };
  /** A cache key prefix of this test file only (parallel files share Redis). */
  cachePrefix: string;
  /** More variables. */
  extra?: Record<string, string>;
}

/**
 * The environment of a dev server on real Postgres and Redis (through the bridge), with
 * per-caller limits high enough for a suite that sends thousands of requests from one address.
 */
export function devServerEnv(options: DevServerEnvOptions): Record<string, string> {
  return {
    SUPABASE_DB_URL: options.databaseUrl,
    UPSTASH_REDIS_REST_URL: options.upstash.url,
    UPSTASH_REDIS_REST_TOKEN: options.upstash.token,
    QF_CACHE_KEY_PREFIX: options.cachePrefix,
    QF_RATELIMIT_ANON_LIMIT: '1000000',
    QF_RATELIMIT_USER_LIMIT: '1000000',
    ...options.extra,
  };
}

/** One answer, read whole. */
export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  /** Milliseconds from sending to the last byte. */
  ms: number;
  /** The request, for messages. */
  what: string;
}

/** Options of {@link send}. */
export interface SendOptions {
  token?: string;
  /** A JSON body (sent with `content-type: application/json`). */
  body?: unknown;
  /** A raw body, sent as is with `contentType` (if any). */
  rawBody?: string | Uint8Array;
  contentType?: string;
  headers?: Record<string, string>;
  /** Abort after this long (ms). @default 10000 */
  timeoutMs?: number;
}

/**
 * Sends one request and reads the whole answer; never throws for HTTP statuses. A network
 * failure or timeout is reported as status 0 with the error in `text`.
 *
 * @example
 * ```ts
 * const answer = await send(server.base, 'GET', '/robots/public', { token: anon });
 * ```
 */
export async function send(
  base: string,
  method: string,
  path: string,
  options: SendOptions = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: BodyInit | undefined;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] = 'application/json';
  } else if (options.rawBody !== undefined) {
    body = options.rawBody as BodyInit;
    if (options.contentType !== undefined) headers['content-type'] = options.contentType;
  }
  const what = `${method} ${path}`;
  const started = performance.now();
  try {
    const res = await fetch(`${base}${path}`, {
      method,
      headers,
      body,
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
    });
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      text,
      ms: performance.now() - started,
      what,
    };
  } catch (error) {
    return {
      status: 0,
      headers: new Headers(),
      text: String(error),
      ms: performance.now() - started,
      what,
    };
  }
}

/** Runs `tasks` with at most `concurrency` in flight, in order of start. */
export async function pool<T>(
  tasks: (() => Promise<T>)[],
  concurrency: number,
): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, tasks.length) }, async () => {
      while (next < tasks.length) {
        const i = next++;
        results[i] = await tasks[i]();
      }
    }),
  );
  return results;
}

/** A robot row as the suites insert it. */
export interface RobotRow {
  id: string;
  user_id: string;
  name: string;
  description: string;
  is_public: boolean;
}

/**
 * Inserts robots straight into Postgres (as the superuser: no RLS), for a known starting state.
 *
 * @example
 * ```ts
 * const [secret] = await insertRobots(sql, alice, [{ name: 'secret', is_public: false }]);
 * ```
 */
export async function insertRobots(
  sql: postgres.Sql,
  userId: string,
  robots: { name: string; description?: string; is_public: boolean; params?: unknown }[],
): Promise<RobotRow[]> {
  const rows: RobotRow[] = [];
  for (const robot of robots) {
    const [row] = await sql<RobotRow[]>`
      insert into public.robots (user_id, name, description, strategy_type, strategy_params, is_public)
      values (${userId}, ${robot.name}, ${robot.description ?? ''}, 'breakout',
        ${sql.json((robot.params ?? { period: 14 }) as postgres.JSONValue)}, ${robot.is_public})
      returning id::text, user_id::text, name, description, is_public`;
    rows.push(row);
  }
  return rows;
}

/** Every robot and strategy row of `userIds`, as one comparable string. */
export async function snapshotRows(sql: postgres.Sql, userIds: string[]): Promise<string> {
  const robots = await sql`
    select * from public.robots where user_id = any(${userIds}::uuid[]) order by id`;
  const strategies = await sql`
    select * from public.strategies where user_id = any(${userIds}::uuid[]) order by id`;
  return JSON.stringify({ robots, strategies });
}

/** `uuid` with letters alternately upper and lower case (Postgres matches it all the same). */
export function mixedCase(uuid: string): string {
  let letters = 0;
  return [...uuid].map((ch) => {
    if (!/[a-f]/.test(ch)) return ch;
    letters++;
    return letters % 2 ? ch.toUpperCase() : ch;
  }).join('');
}

/** Waits `ms`. */
export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));
