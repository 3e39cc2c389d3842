/**
 * The local Upstash REST bridge: Upstash's REST protocol served in front of a real `redis-server`,
 * so `@upstash/redis`, `@upstash/ratelimit` and `UpstashStore` run unchanged in development and
 * tests (what Upstash's `serverless-redis-http` image does where Docker exists).
 *
 * Run: `deno task redis-bridge` (env `REDIS_URL`, `UPSTASH_REDIS_REST_TOKEN`,
 * `UPSTASH_BRIDGE_PORT`). See docs/bridge.md.
 *
 * The pieces live in `redis-bridge/`: `pool.ts` (the Redis connections) and `commands.ts` (parsing,
 * script adaptation, running, replies). This file is the HTTP side.
 *
 * @module
 */
import { Buffer } from 'node:buffer';
import { timingSafeEqual } from '../shared/runtime/timing_safe_equal.ts';
import {
  BadRequestError,
  commandList,
  parseCommand,
  type Parsed,
  runOne,
  runPipeline,
  runTransaction,
  ScriptShas,
  toJson,
} from './redis-bridge/commands.ts';
import { ConnectionPool, type Reply, UnavailableError } from './redis-bridge/pool.ts';

export { rewriteScriptFlags } from './redis-bridge/commands.ts';

const encoder = new TextEncoder();

/** Token used when `UPSTASH_REDIS_REST_TOKEN` is unset (local development only). */
export const DEFAULT_LOCAL_TOKEN = 'local-dev-upstash-token';

/** Options of {@link startRedisBridge}. */
export interface RedisBridgeOptions {
  /** The redis-server behind the bridge, e.g. `redis://127.0.0.1:6379`. */
  redisUrl: string;
  /** The bearer token clients must send (`UPSTASH_REDIS_REST_TOKEN`). */
  token: string;
  /** HTTP port; `0` picks a free one. @default 0 */
  port?: number;
  /** Interface to listen on. @default '127.0.0.1' */
  hostname?: string;
  /** Redis connections; one request (a pipeline, a transaction) holds one. @default 8 */
  poolSize?: number;
  /** Longest wait for Redis's answer to one command before a 503. @default 5_000 */
  commandTimeoutMs?: number;
}

/** A running bridge. */
export interface RedisBridge {
  /** `http://<hostname>:<port>`: the `UPSTASH_REDIS_REST_URL`. */
  url: string;
  /** The `UPSTASH_REDIS_REST_TOKEN`. */
  token: string;
  port: number;
  /** Stops the HTTP server and closes the Redis connections. Idempotent. */
  close(): Promise<void>;
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json' },
  });
}

function itemJson(reply: Reply, base64: boolean): unknown {
  return reply instanceof Error
    ? { error: reply.message }
    : { result: toJson(reply, base64, true) };
}

function authorized(request: Request, url: URL, token: string): boolean {
  const header = request.headers.get('authorization') ?? '';
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  const given = match?.[1] ?? url.searchParams.get('_token') ?? '';
  return given.length === token.length &&
    timingSafeEqual(encoder.encode(given), encoder.encode(token));
}

/** `/<cmd>/<arg>/...`, with a POST body appended as the last argument and `?k=v` after it. */
async function parsePathCommand(request: Request, url: URL): Promise<Parsed> {
  const parts = url.pathname.split('/').filter((part) => part.length > 0).map(decodeURIComponent);
  const command: unknown[] = parts;
  const args = parts.slice(1).map((part) => Buffer.from(part));
  if (request.method === 'POST' || request.method === 'PUT') {
    const body = Buffer.from(await request.arrayBuffer());
    if (body.length > 0) args.push(body);
  }
  for (const [key, value] of url.searchParams) {
    if (key === '_token') continue;
    args.push(Buffer.from(key));
    if (value !== '') args.push(Buffer.from(value));
  }
  const parsed = parseCommand(command);
  return { name: parsed.name, args };
}

async function readJson(request: Request): Promise<unknown> {
  const text = await request.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new BadRequestError(`ERR the request body is not JSON: ${text.slice(0, 100)}`);
  }
}

/**
 * Starts the bridge and resolves once it listens and its Redis connections are ready.
 *
 * Endpoints (bearer token required, or `?_token=`): `POST /` with a JSON array command,
 * `POST /pipeline`, `POST /multi-exec`, and the path form `GET|POST /<cmd>/<arg>/...`.
 * `Upstash-Encoding: base64` base64-encodes string results. Error replies are 400 `{error}`;
 * an unreachable Redis is 503 `{error}`, answered at once.
 *
 * @example
 * ```ts
 * const bridge = await startRedisBridge({ redisUrl: 'redis://127.0.0.1:6379', token: 'dev' });
 * const redis = new Redis({ url: bridge.url, token: bridge.token }); // @upstash/redis
 * await redis.set('k', 'v');
 * await bridge.close();
 * ```
 */
export async function startRedisBridge(options: RedisBridgeOptions): Promise<RedisBridge> {
  const poolSize = options.poolSize ?? 8;
  if (!Number.isInteger(poolSize) || poolSize < 1) {
    throw new RangeError(`'poolSize' must be an integer >= 1: received ${poolSize}`);
  }
  const commandTimeoutMs = options.commandTimeoutMs ?? 5_000;
  if (!Number.isFinite(commandTimeoutMs) || commandTimeoutMs <= 0) {
    throw new RangeError(
      `'commandTimeoutMs' must be a finite number > 0: received ${commandTimeoutMs}`,
    );
  }
  if (!options.token) throw new TypeError(`'token' must be a non-empty string`);
  if (!/^rediss?:\/\//.test(options.redisUrl ?? '')) {
    throw new TypeError(
      `'redisUrl' must be a redis:// URL: received ${JSON.stringify(options.redisUrl)}`,
    );
  }
  const hostname = options.hostname ?? '127.0.0.1';
  const token = options.token;
  const scripts = new ScriptShas();
  const pool = new ConnectionPool(options.redisUrl, poolSize, commandTimeoutMs);
  try {
    await pool.ready(Math.max(5_000, commandTimeoutMs));
  } catch (error) {
    pool.close();
    throw new Error(`the bridge cannot reach Redis at ${options.redisUrl}`, { cause: error });
  }

  const handle = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    if (!['GET', 'POST', 'PUT', 'HEAD'].includes(request.method)) {
      return json({ error: `Method not allowed: ${request.method}` }, 405);
    }
    if (!authorized(request, url, token)) return json({ error: 'Unauthorized' }, 401);
    const base64 = request.headers.get('upstash-encoding')?.toLowerCase() === 'base64';
    try {
      if (url.pathname === '/' || url.pathname === '') {
        if (request.method !== 'POST') throw new BadRequestError('ERR POST a JSON array command');
        const command = parseCommand(await readJson(request));
        const reply = await pool.use((conn) => runOne(conn, command, scripts));
        return reply instanceof Error ? json({ error: reply.message }, 400) : json({
          result: toJson(reply, base64, true),
        });
      }
      if (url.pathname === '/pipeline' || url.pathname === '/multi-exec') {
        if (request.method !== 'POST') throw new BadRequestError('ERR POST a JSON array');
        const commands = commandList(await readJson(request));
        if (url.pathname === '/pipeline') {
          const replies = await pool.use((conn) => runPipeline(conn, commands, scripts));
          return json(replies.map((reply) => itemJson(reply, base64)));
        }
        const replies = await pool.use((conn) => runTransaction(conn, commands, scripts));
        return replies instanceof Error
          ? json({ error: replies.message }, 400)
          : json(replies.map((reply) => itemJson(reply, base64)));
      }
      const command = await parsePathCommand(request, url);
      const reply = await pool.use((conn) => runOne(conn, command, scripts));
      return reply instanceof Error ? json({ error: reply.message }, 400) : json({
        result: toJson(reply, base64, true),
      });
    } catch (error) {
      if (error instanceof BadRequestError) return json({ error: error.message }, 400);
      if (error instanceof UnavailableError) return json({ error: error.message }, 503);
      const reason = error instanceof Error ? error.message : String(error);
      return json({ error: `bridge error: ${reason}` }, 500);
    }
  };

  const server = Deno.serve({
    hostname,
    port: options.port ?? 0,
    onListen: () => {},
  }, handle);
  const port = server.addr.port;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${hostname}:${port}`,
    token,
    port,
    close: () =>
      closing ??= (async () => {
        await server.shutdown();
        pool.close();
      })(),
  };
}

if (import.meta.main) {
  const redisUrl = Deno.env.get('REDIS_URL') ?? 'redis://127.0.0.1:6379';
  const token = Deno.env.get('UPSTASH_REDIS_REST_TOKEN') ?? DEFAULT_LOCAL_TOKEN;
  const port = Number(Deno.env.get('UPSTASH_BRIDGE_PORT') ?? 8079);
  const bridge = await startRedisBridge({ redisUrl, token, port });
  console.log(`Upstash REST bridge in front of ${redisUrl}`);
  console.log(`UPSTASH_REDIS_REST_URL=${bridge.url}`);
  console.log(`UPSTASH_REDIS_REST_TOKEN=${bridge.token}`);
  const stop = async () => {
    await bridge.close();
    Deno.exit(0);
  };
  Deno.addSignalListener('SIGINT', stop);
  Deno.addSignalListener('SIGTERM', stop);
}
