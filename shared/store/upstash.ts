import { Redis } from '@upstash/redis';
import type {
  KeyValueStore,
  ScoredMember,
  SetOptions,
  StoreCommand,
  StoreScript,
  ZRangeOptions,
} from './types.ts';
import { StoreUnavailableError } from './types.ts';

/** Options of {@link UpstashStore}. */
export interface UpstashStoreOptions {
  /** `UPSTASH_REDIS_REST_URL`. */
  url: string;
  /** `UPSTASH_REDIS_REST_TOKEN`. */
  token: string;
  /**
   * Longest wait for one call (one HTTP request) before it fails with
   * {@link StoreUnavailableError}. The optimizer then fails open to the origin.
   * @default 250
   */
  timeoutMs?: number;
}

// deno-lint-ignore no-explicit-any
type AnyPipeline = any;

/**
 * The production key-value store: Upstash Redis over its REST API, through `@upstash/redis`.
 * Create one per isolate (outside request handlers). Every call is bounded by `timeoutMs` with a
 * fresh abort signal per request and no client-side retries: a slow Redis must never hold a
 * request, so the caller decides what to do on {@link StoreUnavailableError}.
 * Auto-pipelining is off: {@link pipeline} is explicit, so order is kept.
 *
 * @example
 * ```ts
 * const store = new UpstashStore({
 *   url: Deno.env.get('UPSTASH_REDIS_REST_URL')!,
 *   token: Deno.env.get('UPSTASH_REDIS_REST_TOKEN')!,
 * });
 * await store.set('greeting', 'hello', { pxMs: 60_000 });
 * ```
 */
export class UpstashStore implements KeyValueStore {
  readonly backend = 'upstash' as const;
  /** The underlying client: one HTTP request per call or explicit pipeline, in order. */
  readonly redis: Redis;
  readonly timeoutMs: number;
  #options: UpstashStoreOptions;
  #batched?: Redis;

  constructor(options: UpstashStoreOptions) {
    const timeoutMs = options.timeoutMs ?? 250;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw new RangeError(`'timeoutMs' must be a finite number > 0: received ${timeoutMs}`);
    }
    if (!options.url || !/^https?:\/\//.test(options.url)) {
      throw new TypeError(`'url' must be an http(s) URL: received ${JSON.stringify(options.url)}`);
    }
    if (!options.token) throw new TypeError(`'token' must be a non-empty string`);
    this.timeoutMs = timeoutMs;
    this.#options = options;
    this.redis = new Redis({
      url: options.url,
      token: options.token,
      automaticDeserialization: false,
      enableAutoPipelining: false,
      enableTelemetry: false,
      retry: { retries: 0 },
      signal: () => AbortSignal.timeout(timeoutMs),
    });
  }

  /**
   * A second client with auto-pipelining: the calls of one tick share one HTTP request. Only for
   * commands whose order against the others does not matter (per-caller rate windows, shared with
   * `@upstash/ratelimit`): a burst of requests then costs one round trip per tick, not one each,
   * and does not queue the cache's reads behind it. Ordered work stays on {@link redis}.
   *
   * @example
   * ```ts
   * new Ratelimit({ redis: store.batchedRedis, limiter: Ratelimit.slidingWindow(10, '1 s') });
   * ```
   */
  get batchedRedis(): Redis {
    this.#batched ??= new Redis({
      url: this.#options.url,
      token: this.#options.token,
      automaticDeserialization: false,
      enableAutoPipelining: true,
      enableTelemetry: false,
      retry: { retries: 0 },
      signal: () => AbortSignal.timeout(this.timeoutMs),
    });
    return this.#batched;
  }

  async #call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new StoreUnavailableError(
              `Upstash Redis did not answer ${what} within ${this.timeoutMs}ms`,
            ),
          ),
        this.timeoutMs + 10,
      );
    });
    try {
      return await Promise.race([fn(), deadline]);
    } catch (error) {
      if (error instanceof StoreUnavailableError) throw error;
      if (isRedisReply(error)) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      const timedOut = error instanceof Error &&
        (error.name === 'TimeoutError' || error.name === 'AbortError' || /abort/i.test(reason));
      throw new StoreUnavailableError(
        timedOut
          ? `Upstash Redis did not answer ${what} within ${this.timeoutMs}ms`
          : `Upstash Redis ${what} failed: ${reason}`,
        { cause: error },
      );
    } finally {
      clearTimeout(timer);
    }
  }

  get<T = unknown>(key: string): Promise<T | null> {
    return this.#call('GET', async () => decode<T>(await this.redis.get<string>(key)));
  }

  mget<T = unknown>(keys: string[]): Promise<(T | null)[]> {
    if (keys.length === 0) return Promise.resolve([]);
    return this.#call('MGET', async () => {
      const raw = await this.redis.mget<(string | null)[]>(...keys);
      return raw.map((value) => decode<T>(value));
    });
  }

  set(key: string, value: unknown, options: SetOptions = {}): Promise<boolean> {
    return this.#call('SET', async () => {
      const reply = await this.redis.set(key, JSON.stringify(value), setOptions(options));
      return reply === 'OK';
    });
  }

  del(...keys: string[]): Promise<number> {
    if (keys.length === 0) return Promise.resolve(0);
    return this.#call('DEL', () => this.redis.del(...keys));
  }

  incrby(key: string, by = 1): Promise<number> {
    return this.#call('INCRBY', async () => Number(await this.redis.incrby(key, by)));
  }

  hincrby(key: string, field: string, by: number): Promise<number> {
    return this.#call('HINCRBY', async () => Number(await this.redis.hincrby(key, field, by)));
  }

  hgetall(key: string): Promise<Record<string, string>> {
    return this.#call('HGETALL', async () => toHash(await this.redis.hgetall(key)));
  }

  zincrby(key: string, by: number, member: string): Promise<number> {
    return this.#call('ZINCRBY', async () => Number(await this.redis.zincrby(key, by, member)));
  }

  zrange(
    key: string,
    start: number,
    stop: number,
    options: ZRangeOptions = {},
  ): Promise<ScoredMember[]> {
    return this.#call('ZRANGE', async () => {
      const raw = await this.redis.zrange<unknown[]>(key, start, stop, {
        withScores: true,
        ...(options.rev ? { rev: true } : {}),
      });
      return toScored(raw);
    });
  }

  sadd(key: string, ...members: string[]): Promise<number> {
    if (members.length === 0) return Promise.resolve(0);
    const [first, ...rest] = members;
    return this.#call('SADD', () => this.redis.sadd(key, first, ...rest));
  }

  smembers(key: string): Promise<string[]> {
    return this.#call('SMEMBERS', async () => (await this.redis.smembers(key)).map(String));
  }

  pexpire(key: string, ms: number): Promise<boolean> {
    return this.#call('PEXPIRE', async () => Number(await this.redis.pexpire(key, ms)) === 1);
  }

  pttl(key: string): Promise<number> {
    return this.#call('PTTL', async () => Number(await this.redis.pttl(key)));
  }

  pipeline(commands: StoreCommand[]): Promise<unknown[]> {
    if (commands.length === 0) return Promise.resolve([]);
    return this.#call(`PIPELINE(${commands.length})`, async () => {
      const p: AnyPipeline = this.redis.pipeline();
      for (const command of commands) addToPipeline(p, command);
      const raw: unknown[] = await p.exec();
      return raw.map((value, i) => fromPipeline(commands[i], value));
    });
  }

  runScript<T>(script: StoreScript<T>, keys: string[], args: (string | number)[]): Promise<T> {
    return this.#call(`script ${script.name}`, () => {
      // createScript caches the SHA: EVALSHA first, EVAL once on NOSCRIPT.
      const s = this.#scripts.get(script.lua) ??
        this.redis.createScript<T>(script.lua);
      this.#scripts.set(script.lua, s);
      return s.exec(keys, args.map(String)) as Promise<T>;
    });
  }

  #scripts = new Map<string, ReturnType<Redis['createScript']>>();

  async ping(): Promise<number> {
    const started = performance.now();
    await this.#call('PING', () => this.redis.ping());
    return performance.now() - started;
  }
}

/**
 * A Redis error reply as `@upstash/redis` words it: `ERR ...`, `WRONGTYPE ...`, or in a pipeline
 * `Command 2 [ incrby ] failed: ERR ...`. Redis error codes are upper-case words.
 */
const REDIS_ERROR_REPLY = /^(?:Command (?:\d+ \[ [^\]]* \] )?failed: )?[A-Z][A-Z0-9_-]+ /;

/**
 * Redis error replies (`WRONGTYPE`, `ERR ...`) are answers, not unavailability. Other
 * `UpstashError`s are the REST endpoint failing (401 `Unauthorized`, a 5xx such as the bridge's
 * 503 when redis-server is down, a body that is not JSON): the store is unavailable.
 */
function isRedisReply(error: unknown): boolean {
  return error instanceof Error && error.name === 'UpstashError' &&
    REDIS_ERROR_REPLY.test(error.message);
}

function decode<T>(raw: unknown): T | null {
  if (raw === null || raw === undefined) return null;
  return JSON.parse(String(raw)) as T;
}

function setOptions(options: SetOptions) {
  if (options.pxMs !== undefined && options.nx) return { px: options.pxMs, nx: true as const };
  if (options.pxMs !== undefined) return { px: options.pxMs };
  if (options.nx) return { nx: true as const };
  return undefined;
}

function toHash(raw: unknown): Record<string, string> {
  if (!raw) return {};
  if (Array.isArray(raw)) {
    const out: Record<string, string> = {};
    for (let i = 0; i < raw.length; i += 2) out[String(raw[i])] = String(raw[i + 1]);
    return out;
  }
  return Object.fromEntries(
    Object.entries(raw as Record<string, unknown>).map(([k, v]) => [k, String(v)]),
  );
}

function toScored(raw: unknown): ScoredMember[] {
  const flat = (raw ?? []) as unknown[];
  const out: ScoredMember[] = [];
  for (let i = 0; i < flat.length; i += 2) {
    out.push({ member: String(flat[i]), score: Number(flat[i + 1]) });
  }
  return out;
}

function addToPipeline(p: AnyPipeline, c: StoreCommand): void {
  switch (c.op) {
    case 'get':
      return void p.get(c.key);
    case 'set':
      return void p.set(c.key, JSON.stringify(c.value), setOptions(c.options ?? {}));
    case 'del':
      return void p.del(...c.keys);
    case 'incrby':
      return void p.incrby(c.key, c.by);
    case 'hincrby':
      return void p.hincrby(c.key, c.field, c.by);
    case 'hgetall':
      return void p.hgetall(c.key);
    case 'zincrby':
      return void p.zincrby(c.key, c.by, c.member);
    case 'zrange':
      return void p.zrange(c.key, c.start, c.stop, {
        withScores: true,
        ...(c.options?.rev ? { rev: true } : {}),
      });
    case 'sadd':
      return void p.sadd(c.key, ...c.members);
    case 'smembers':
      return void p.smembers(c.key);
    case 'pexpire':
      return void p.pexpire(c.key, c.ms);
    case 'pttl':
      return void p.pttl(c.key);
  }
}

function fromPipeline(c: StoreCommand, value: unknown): unknown {
  switch (c.op) {
    case 'get':
      return decode(value);
    case 'set':
      return value === 'OK';
    case 'del':
    case 'incrby':
    case 'hincrby':
    case 'zincrby':
    case 'pttl':
      return Number(value);
    case 'sadd':
      return Number(value);
    case 'pexpire':
      return Number(value) === 1;
    case 'hgetall':
      return toHash(value);
    case 'zrange':
      return toScored(value);
    case 'smembers':
      return (value as unknown[]).map(String);
  }
}
