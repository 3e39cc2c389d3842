/**
 * The local Upstash REST bridge: Upstash's REST protocol served in front of a real `redis-server`,
 * so `@upstash/redis`, `@upstash/ratelimit` and `UpstashStore` run unchanged in development and
 * tests (what Upstash's `serverless-redis-http` image does where Docker exists).
 *
 * Run: `deno task redis-bridge` (env `REDIS_URL`, `UPSTASH_REDIS_REST_TOKEN`,
 * `UPSTASH_BRIDGE_PORT`). See docs/bridge.md.
 *
 * @module
 */
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { Command, Redis } from 'ioredis';
import { timingSafeEqual } from '../shared/runtime/timing_safe_equal.ts';

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

type Reply = Buffer | string | number | null | undefined | Error | Reply[];

/** A command sent as-is: binary replies, no ioredis reply transformer (hgetall stays flat). */
class RawCommand extends Command {
  override transformReply(result: Buffer | Buffer[]): Buffer | Buffer[] {
    return result;
  }
}

/** Redis unreachable (connection refused or lost, or no answer in time): HTTP 503. */
class UnavailableError extends Error {
  override name = 'UnavailableError';
}

/** A request the bridge rejects before Redis sees it: HTTP 400. */
class BadRequestError extends Error {
  override name = 'BadRequestError';
}

/**
 * Commands that need connection state the REST API has no room for (Upstash rejects them too);
 * MULTI/EXEC go through `/multi-exec`.
 */
const UNSUPPORTED = new Set([
  'multi',
  'exec',
  'discard',
  'watch',
  'unwatch',
  'select',
  'subscribe',
  'psubscribe',
  'ssubscribe',
  'unsubscribe',
  'punsubscribe',
  'sunsubscribe',
  'monitor',
  'quit',
  'reset',
  'hello',
  'auth',
  'client',
  'sync',
  'psync',
  'shutdown',
  'blpop',
  'brpop',
  'brpoplpush',
  'blmove',
  'blmpop',
  'bzpopmin',
  'bzpopmax',
  'bzmpop',
  'wait',
]);

/** Script shebang flags Redis 7 knows; others (Upstash's `allow-key-locking`) are stripped. */
const REDIS_SCRIPT_FLAGS = new Set([
  'no-writes',
  'allow-oom',
  'allow-stale',
  'no-cluster',
  'allow-cross-slot-keys',
]);

const OK = Buffer.from('OK');

function sha1(text: Buffer): string {
  return createHash('sha1').update(text).digest('hex');
}

/**
 * Rewrites a script's `#!lua flags=...` line without the flags open-source Redis rejects.
 * Returns `undefined` when nothing changes.
 */
export function rewriteScriptFlags(script: Buffer): Buffer | undefined {
  if (script.length < 5 || script.subarray(0, 5).toString() !== '#!lua') return undefined;
  const end = script.indexOf(0x0a);
  const firstLine = script.subarray(0, end === -1 ? script.length : end).toString();
  const match = /^#!lua((?:\s+\S+)*)\s*$/.exec(firstLine);
  if (!match) return undefined;
  const parts = match[1].trim().split(/\s+/).filter(Boolean);
  let changed = false;
  const kept = parts.map((part) => {
    if (!part.startsWith('flags=')) return part;
    const flags = part.slice('flags='.length).split(',').filter(Boolean);
    const known = flags.filter((flag) => REDIS_SCRIPT_FLAGS.has(flag));
    if (known.length === flags.length) return part;
    changed = true;
    return `flags=${known.join(',')}`;
  });
  if (!changed) return undefined;
  const line = ['#!lua', ...kept].join(' ');
  return Buffer.concat([Buffer.from(line), end === -1 ? Buffer.alloc(0) : script.subarray(end)]);
}

/** A fixed pool of Redis connections; a request holds one connection for its whole duration. */
class ConnectionPool {
  #idle: Redis[] = [];
  #all: Redis[] = [];
  #waiters: ((conn: Redis) => void)[] = [];
  #closed = false;

  constructor(redisUrl: string, size: number, commandTimeoutMs: number) {
    for (let i = 0; i < size; i++) {
      const conn = new Redis(redisUrl, {
        // Fail fast while Redis is down instead of queueing: the bridge answers 503 at once.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        commandTimeout: commandTimeoutMs,
        connectTimeout: Math.max(1_000, commandTimeoutMs),
        retryStrategy: (times: number) => Math.min(times * 100, 1_000),
        lazyConnect: false,
      });
      // Without a listener ioredis prints every reconnect failure; the 503 carries the reason.
      conn.on('error', () => {});
      this.#all.push(conn);
      this.#idle.push(conn);
    }
  }

  /** Resolves once every connection is ready, or rejects after `timeoutMs`. */
  async ready(timeoutMs: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new UnavailableError(`Redis not ready within ${timeoutMs}ms`)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([
        Promise.all(
          this.#all.map((conn) =>
            conn.status === 'ready'
              ? undefined
              : new Promise<void>((resolve) => conn.once('ready', () => resolve()))
          ),
        ),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  async use<T>(fn: (conn: Redis) => Promise<T>): Promise<T> {
    if (this.#closed) throw new UnavailableError('the bridge is closing');
    const conn = this.#idle.pop() ??
      await new Promise<Redis>((resolve) => this.#waiters.push(resolve));
    try {
      return await fn(conn);
    } finally {
      const next = this.#waiters.shift();
      if (next) next(conn);
      else this.#idle.push(conn);
    }
  }

  close(): void {
    this.#closed = true;
    for (const conn of this.#all) conn.disconnect(false);
  }
}

/** Sends one command; the promise settles with Redis's reply (ReplyError for an error reply). */
function send(conn: Redis, name: string, args: Buffer[]): Promise<Reply> {
  if (conn.status !== 'ready') {
    return Promise.reject(
      new UnavailableError(`redis-server is not reachable (connection ${conn.status})`),
    );
  }
  const command = new RawCommand(name, args, { replyEncoding: null });
  conn.sendCommand(command);
  return command.promise as Promise<Reply>;
}

/** Redis's own error replies (`ERR ...`, `WRONGTYPE ...`, `NOSCRIPT ...`). */
function isReplyError(error: unknown): error is Error {
  return error instanceof Error && error.name === 'ReplyError';
}

function toUnavailable(error: unknown): UnavailableError {
  if (error instanceof UnavailableError) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new UnavailableError(`redis-server did not answer: ${reason}`);
}

/** JSON form of a reply, as Upstash writes it: strings base64 when asked (except a top "OK"). */
function toJson(reply: Reply, base64: boolean, top: boolean): unknown {
  if (reply === null || reply === undefined) return null;
  if (typeof reply === 'number') return reply;
  if (Array.isArray(reply)) return reply.map((item) => toJson(item, base64, false));
  if (reply instanceof Error) return reply.message;
  const bytes = typeof reply === 'string' ? Buffer.from(reply) : reply;
  if (!base64) return bytes.toString('utf8');
  if (top && bytes.equals(OK)) return 'OK';
  return bytes.toString('base64');
}

/** The bridge's script bookkeeping: SHA1 of the original text -> SHA1 Redis knows. */
class ScriptShas {
  #map = new Map<string, string>();

  /** Rewrites a script body if needed, remembering the original SHA. */
  prepare(script: Buffer): { script: Buffer; originalSha: string } {
    const originalSha = sha1(script);
    const rewritten = rewriteScriptFlags(script);
    if (!rewritten) return { script, originalSha };
    this.#map.set(originalSha, sha1(rewritten));
    return { script: rewritten, originalSha };
  }

  translate(sha: Buffer): Buffer {
    const mapped = this.#map.get(sha.toString().toLowerCase());
    return mapped ? Buffer.from(mapped) : sha;
  }
}

/** Adapts script commands (flags, SHA mapping) before they reach Redis. */
function adapt(name: string, args: Buffer[], scripts: ScriptShas): Buffer[] {
  switch (name) {
    case 'eval':
    case 'eval_ro':
      if (args.length === 0) return args;
      return [scripts.prepare(args[0]).script, ...args.slice(1)];
    case 'evalsha':
    case 'evalsha_ro':
      if (args.length === 0) return args;
      return [scripts.translate(args[0]), ...args.slice(1)];
    case 'script': {
      const sub = args[0]?.toString().toLowerCase();
      if (sub === 'load' && args.length === 2) return [args[0], scripts.prepare(args[1]).script];
      if (sub === 'exists') return [args[0], ...args.slice(1).map((sha) => scripts.translate(sha))];
      return args;
    }
    default:
      return args;
  }
}

/** The client expects the SHA of the text it sent, not of the rewritten one. */
function adaptReply(name: string, args: Buffer[], reply: Reply): Reply {
  if (name === 'script' && args[0]?.toString().toLowerCase() === 'load' && args.length === 2) {
    return sha1(args[1]);
  }
  return reply;
}

interface Parsed {
  name: string;
  args: Buffer[];
}

function toArg(value: unknown): Buffer {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (typeof value === 'number' || typeof value === 'boolean') return Buffer.from(String(value));
  if (value === null) return Buffer.from('null');
  return Buffer.from(JSON.stringify(value));
}

function parseCommand(value: unknown): Parsed {
  if (!Array.isArray(value) || value.length === 0) {
    throw new BadRequestError(
      `ERR a command must be a non-empty JSON array: received ${JSON.stringify(value)}`,
    );
  }
  const name = String(value[0]).toLowerCase();
  if (UNSUPPORTED.has(name)) {
    throw new BadRequestError(`ERR Command is not available: '${name.toUpperCase()}'`);
  }
  return { name, args: value.slice(1).map(toArg) };
}

/** Runs one command on `conn`; reply errors settle as `Error` values, unavailability throws. */
async function runOne(conn: Redis, command: Parsed, scripts: ScriptShas): Promise<Reply> {
  try {
    const reply = await send(conn, command.name, adapt(command.name, command.args, scripts));
    return adaptReply(command.name, command.args, reply);
  } catch (error) {
    if (isReplyError(error)) return error;
    throw toUnavailable(error);
  }
}

/** Pipelined on one connection: all commands are written before the first reply is awaited. */
function runPipeline(conn: Redis, commands: Parsed[], scripts: ScriptShas): Promise<Reply[]> {
  return Promise.all(commands.map((command) => runOne(conn, command, scripts)));
}

async function runTransaction(
  conn: Redis,
  commands: Parsed[],
  scripts: ScriptShas,
): Promise<Reply[] | Error> {
  const replies = await runPipeline(conn, [
    { name: 'multi', args: [] },
    ...commands,
    { name: 'exec', args: [] },
  ], scripts);
  const exec = replies[replies.length - 1];
  if (exec instanceof Error) {
    // Discarded as a whole (EXECABORT): report the command that caused it, as Upstash does.
    const cause = replies.slice(1, -1).find((reply) => reply instanceof Error) as
      | Error
      | undefined;
    return cause ?? exec;
  }
  if (!Array.isArray(exec)) return new Error('ERR transaction aborted');
  return exec.map((reply, i) => adaptReply(commands[i].name, commands[i].args, reply));
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

function commandList(body: unknown): Parsed[] {
  if (!Array.isArray(body) || body.length === 0) {
    throw new BadRequestError(
      `ERR a pipeline must be a non-empty JSON array of commands: received ${
        JSON.stringify(body)?.slice(0, 100)
      }`,
    );
  }
  return body.map(parseCommand);
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
