/**
 * The key-value port: the operations the optimizer needs from its shared store.
 *
 * Two adapters implement it: {@link MemoryStore} (embedded default, one isolate) and
 * {@link UpstashStore} (production, shared by every isolate). Values are JSON: both adapters
 * encode with `JSON.stringify` and decode with `JSON.parse`, so a value read back is a copy and
 * the two adapters behave the same (a string `"123"` stays a string).
 *
 * Counters (`incrby`, `hincrby`) and hash fields hold plain Redis integers/strings.
 *
 * @module
 */

/** Which adapter serves the store. */
export type StoreBackend = 'memory' | 'upstash';

/** Options of {@link KeyValueStore.set}. */
export interface SetOptions {
  /** Expiry in milliseconds (Redis `PX`). Absent: no expiry. */
  pxMs?: number;
  /** Only set when the key is absent (Redis `NX`); `set` then returns whether it wrote. */
  nx?: boolean;
}

/** A member of a sorted set with its score. */
export interface ScoredMember {
  member: string;
  score: number;
}

/** Options of {@link KeyValueStore.zrange}. */
export interface ZRangeOptions {
  /** Highest score first. @default false */
  rev?: boolean;
}

/**
 * A script with a Lua body for Redis and an equivalent implementation for the memory store.
 * The memory implementation runs atomically (single-threaded isolate, no await inside).
 */
export interface StoreScript<T> {
  /** A stable name, for errors and metrics. */
  name: string;
  /** Lua source run by Redis (`EVALSHA`, falling back to `EVAL` on `NOSCRIPT`). */
  lua: string;
  /** The same logic over the memory store's data. */
  local(data: MemoryScriptContext, keys: string[], args: string[]): T;
}

/** What a memory-store script may use: synchronous versions of the store's commands. */
export interface MemoryScriptContext {
  get(key: string): string | null;
  set(key: string, value: string, pxMs?: number): void;
  del(key: string): number;
  incrby(key: string, by: number): number;
  pttl(key: string): number;
  pexpire(key: string, ms: number): boolean;
  /** Adds members to a set; how many were new. */
  sadd(key: string, ...members: string[]): number;
  /** Every member of a set (`[]` when absent). */
  smembers(key: string): string[];
  now(): number;
}

/**
 * One command of a pipeline. Pipelines keep order: results come back in the order the commands
 * were added (an explicit pipeline, never auto-pipelining, where order matters).
 */
export type StoreCommand =
  | { op: 'get'; key: string }
  | { op: 'set'; key: string; value: unknown; options?: SetOptions }
  | { op: 'del'; keys: string[] }
  | { op: 'incrby'; key: string; by: number }
  | { op: 'hincrby'; key: string; field: string; by: number }
  | { op: 'hgetall'; key: string }
  | { op: 'zincrby'; key: string; by: number; member: string }
  | { op: 'zrange'; key: string; start: number; stop: number; options?: ZRangeOptions }
  | { op: 'sadd'; key: string; members: string[] }
  | { op: 'smembers'; key: string }
  | { op: 'pexpire'; key: string; ms: number }
  | { op: 'pttl'; key: string };

/** The shared store's operations. Every call of the Upstash adapter is bounded by a timeout. */
export interface KeyValueStore {
  /** Which adapter this is. */
  readonly backend: StoreBackend;
  /** The JSON value at `key`, or `null`. */
  get<T = unknown>(key: string): Promise<T | null>;
  /** The JSON values at `keys`, `null` where absent, in order. */
  mget<T = unknown>(keys: string[]): Promise<(T | null)[]>;
  /** Stores `value` as JSON. Returns `false` only when `nx` was given and the key existed. */
  set(key: string, value: unknown, options?: SetOptions): Promise<boolean>;
  /** Deletes keys; returns how many existed. */
  del(...keys: string[]): Promise<number>;
  /** Adds `by` (default 1) to an integer counter; returns the new value. */
  incrby(key: string, by?: number): Promise<number>;
  /** Adds `by` to an integer hash field; returns the new value. */
  hincrby(key: string, field: string, by: number): Promise<number>;
  /** Every field of a hash as strings; `{}` when absent. */
  hgetall(key: string): Promise<Record<string, string>>;
  /** Adds `by` to a member's score; returns the new score. */
  zincrby(key: string, by: number, member: string): Promise<number>;
  /** Members from rank `start` to `stop` (inclusive, negatives count from the end), with scores. */
  zrange(
    key: string,
    start: number,
    stop: number,
    options?: ZRangeOptions,
  ): Promise<ScoredMember[]>;
  /** Adds members to a set; returns how many were new. */
  sadd(key: string, ...members: string[]): Promise<number>;
  /** Every member of a set. */
  smembers(key: string): Promise<string[]>;
  /** Sets a key's expiry in milliseconds; `false` when the key does not exist. */
  pexpire(key: string, ms: number): Promise<boolean>;
  /** Remaining time to live in ms; `-1` without expiry, `-2` when absent. */
  pttl(key: string): Promise<number>;
  /** Runs commands in one round trip, in order; each result as the single command returns it. */
  pipeline(commands: StoreCommand[]): Promise<unknown[]>;
  /** Runs a script atomically. */
  runScript<T>(script: StoreScript<T>, keys: string[], args: (string | number)[]): Promise<T>;
  /** Round trip to the store; resolves with its latency in ms. */
  ping(): Promise<number>;
}

/** Thrown when the store cannot be reached or does not answer within its timeout. */
export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}
