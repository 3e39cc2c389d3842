import type {
  KeyValueStore,
  MemoryScriptContext,
  ScoredMember,
  SetOptions,
  StoreCommand,
  StoreScript,
  ZRangeOptions,
} from './types.ts';

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Most keys held; past it the least recently used key is evicted (as Redis `allkeys-lru`).
   * @default 50_000
   */
  maxEntries?: number;
  /** Clock in ms, for tests. @default Date.now */
  now?: () => number;
}

type Value =
  | { kind: 'string'; data: string }
  | { kind: 'hash'; data: Map<string, string> }
  | { kind: 'zset'; data: Map<string, number> }
  | { kind: 'set'; data: Set<string> };

interface Entry {
  value: Value;
  /** Absolute expiry in ms, or `undefined` for none. */
  expiresAt?: number;
}

const WRONGTYPE = 'WRONGTYPE Operation against a key holding the wrong kind of value';

/**
 * The embedded key-value store: one isolate's memory, bounded in keys, TTLs honoured.
 * It mirrors Redis semantics for the commands of {@link KeyValueStore} so the optimizer behaves
 * the same on it as on Upstash (the contract suite runs on both).
 *
 * @example
 * ```ts
 * const store = new MemoryStore({ maxEntries: 1000 });
 * await store.set('k', { a: 1 }, { pxMs: 5000 });
 * await store.get('k'); // { a: 1 }
 * ```
 */
export class MemoryStore implements KeyValueStore {
  readonly backend = 'memory' as const;
  #entries = new Map<string, Entry>();
  #maxEntries: number;
  #now: () => number;

  constructor(options: MemoryStoreOptions = {}) {
    const maxEntries = options.maxEntries ?? 50_000;
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new RangeError(`'maxEntries' must be an integer >= 1: received ${maxEntries}`);
    }
    this.#maxEntries = maxEntries;
    this.#now = options.now ?? Date.now;
  }

  /** How many live keys the store holds. */
  get size(): number {
    for (const key of [...this.#entries.keys()]) this.#live(key);
    return this.#entries.size;
  }

  #live(key: string): Entry | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= this.#now()) {
      this.#entries.delete(key);
      return undefined;
    }
    // Re-insert to mark as most recently used.
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry;
  }

  #put(key: string, entry: Entry): void {
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
  }

  #typed<K extends Value['kind']>(
    key: string,
    kind: K,
    create: boolean,
  ): Extract<Value, { kind: K }> | undefined {
    const entry = this.#live(key);
    if (entry) {
      if (entry.value.kind !== kind) throw new Error(WRONGTYPE);
      return entry.value as Extract<Value, { kind: K }>;
    }
    if (!create) return undefined;
    const data = kind === 'string'
      ? ''
      : kind === 'hash'
      ? new Map<string, string>()
      : kind === 'zset'
      ? new Map<string, number>()
      : new Set<string>();
    const value = { kind, data } as Extract<Value, { kind: K }>;
    this.#put(key, { value });
    return value;
  }

  #getString(key: string): string | null {
    const value = this.#typed(key, 'string', false);
    return value ? value.data : null;
  }

  #setString(key: string, data: string, pxMs?: number, keepTtl = false): void {
    const previous = keepTtl ? this.#live(key) : undefined;
    const expiresAt = pxMs !== undefined ? this.#now() + pxMs : previous?.expiresAt;
    this.#put(key, { value: { kind: 'string', data }, expiresAt });
  }

  #incrby(key: string, by: number): number {
    const current = this.#getString(key);
    const n = current === null ? 0 : Number(current);
    if (!Number.isInteger(n)) throw new Error('ERR value is not an integer or out of range');
    const next = n + by;
    this.#setString(key, String(next), undefined, true);
    return next;
  }

  #pttl(key: string): number {
    const entry = this.#live(key);
    if (!entry) return -2;
    return entry.expiresAt === undefined ? -1 : Math.max(0, entry.expiresAt - this.#now());
  }

  #pexpire(key: string, ms: number): boolean {
    const entry = this.#live(key);
    if (!entry) return false;
    if (ms <= 0) {
      this.#entries.delete(key);
      return true;
    }
    entry.expiresAt = this.#now() + ms;
    return true;
  }

  #del(keys: string[]): number {
    let n = 0;
    for (const key of keys) if (this.#live(key) && this.#entries.delete(key)) n++;
    return n;
  }

  #set(key: string, value: unknown, options: SetOptions = {}): boolean {
    if (options.nx && this.#live(key)) return false;
    this.#setString(key, JSON.stringify(value), options.pxMs);
    return true;
  }

  #get<T>(key: string): T | null {
    const raw = this.#getString(key);
    return raw === null ? null : JSON.parse(raw) as T;
  }

  #hincrby(key: string, field: string, by: number): number {
    const hash = this.#typed(key, 'hash', true)!;
    const next = Number(hash.data.get(field) ?? 0) + by;
    hash.data.set(field, String(next));
    return next;
  }

  #hgetall(key: string): Record<string, string> {
    const hash = this.#typed(key, 'hash', false);
    return hash ? Object.fromEntries(hash.data) : {};
  }

  #zincrby(key: string, by: number, member: string): number {
    const zset = this.#typed(key, 'zset', true)!;
    const next = (zset.data.get(member) ?? 0) + by;
    zset.data.set(member, next);
    return next;
  }

  #zrange(key: string, start: number, stop: number, options: ZRangeOptions = {}): ScoredMember[] {
    const zset = this.#typed(key, 'zset', false);
    if (!zset) return [];
    const sorted = [...zset.data].map(([member, score]) => ({ member, score }))
      .sort((a, b) => a.score - b.score || (a.member < b.member ? -1 : 1));
    if (options.rev) sorted.reverse();
    const len = sorted.length;
    const from = start < 0 ? Math.max(0, len + start) : start;
    const to = stop < 0 ? len + stop : Math.min(stop, len - 1);
    return from > to ? [] : sorted.slice(from, to + 1);
  }

  #sadd(key: string, members: string[]): number {
    // As the Upstash adapter: no members, no write (Redis would reject the call).
    if (members.length === 0) return 0;
    const set = this.#typed(key, 'set', true)!;
    let added = 0;
    for (const m of members) {
      if (!set.data.has(m)) {
        set.data.add(m);
        added++;
      }
    }
    return added;
  }

  #smembers(key: string): string[] {
    const set = this.#typed(key, 'set', false);
    return set ? [...set.data] : [];
  }

  #run(command: StoreCommand): unknown {
    switch (command.op) {
      case 'get':
        return this.#get(command.key);
      case 'set':
        return this.#set(command.key, command.value, command.options);
      case 'del':
        return this.#del(command.keys);
      case 'incrby':
        return this.#incrby(command.key, command.by);
      case 'hincrby':
        return this.#hincrby(command.key, command.field, command.by);
      case 'hgetall':
        return this.#hgetall(command.key);
      case 'zincrby':
        return this.#zincrby(command.key, command.by, command.member);
      case 'zrange':
        return this.#zrange(command.key, command.start, command.stop, command.options);
      case 'sadd':
        return this.#sadd(command.key, command.members);
      case 'smembers':
        return this.#smembers(command.key);
      case 'pexpire':
        return this.#pexpire(command.key, command.ms);
      case 'pttl':
        return this.#pttl(command.key);
    }
  }

  get<T = unknown>(key: string): Promise<T | null> {
    return settle(() => this.#get<T>(key));
  }

  mget<T = unknown>(keys: string[]): Promise<(T | null)[]> {
    return settle(() => keys.map((key) => this.#get<T>(key)));
  }

  set(key: string, value: unknown, options?: SetOptions): Promise<boolean> {
    return settle(() => this.#set(key, value, options));
  }

  del(...keys: string[]): Promise<number> {
    return settle(() => this.#del(keys));
  }

  incrby(key: string, by = 1): Promise<number> {
    return settle(() => this.#incrby(key, by));
  }

  hincrby(key: string, field: string, by: number): Promise<number> {
    return settle(() => this.#hincrby(key, field, by));
  }

  hgetall(key: string): Promise<Record<string, string>> {
    return settle(() => this.#hgetall(key));
  }

  zincrby(key: string, by: number, member: string): Promise<number> {
    return settle(() => this.#zincrby(key, by, member));
  }

  zrange(
    key: string,
    start: number,
    stop: number,
    options?: ZRangeOptions,
  ): Promise<ScoredMember[]> {
    return settle(() => this.#zrange(key, start, stop, options));
  }

  sadd(key: string, ...members: string[]): Promise<number> {
    return settle(() => this.#sadd(key, members));
  }

  smembers(key: string): Promise<string[]> {
    return settle(() => this.#smembers(key));
  }

  pexpire(key: string, ms: number): Promise<boolean> {
    return settle(() => this.#pexpire(key, ms));
  }

  pttl(key: string): Promise<number> {
    return settle(() => this.#pttl(key));
  }

  /**
   * Runs every command in order (a failing one does not stop the others, as in Redis), then
   * rejects with the first failure, if any.
   */
  pipeline(commands: StoreCommand[]): Promise<unknown[]> {
    let failure: unknown;
    const results = commands.map((command) => {
      try {
        return this.#run(command);
      } catch (error) {
        failure ??= error;
        return null;
      }
    });
    return failure === undefined ? Promise.resolve(results) : Promise.reject(failure);
  }

  runScript<T>(script: StoreScript<T>, keys: string[], args: (string | number)[]): Promise<T> {
    const context: MemoryScriptContext = {
      get: (key) => this.#getString(key),
      set: (key, value, pxMs) => this.#setString(key, value, pxMs),
      del: (key) => this.#del([key]),
      incrby: (key, by) => this.#incrby(key, by),
      pttl: (key) => this.#pttl(key),
      pexpire: (key, ms) => this.#pexpire(key, ms),
      sadd: (key, ...members) => this.#sadd(key, members),
      smembers: (key) => this.#smembers(key),
      now: this.#now,
    };
    return settle(() => script.local(context, keys, args.map(String)));
  }

  ping(): Promise<number> {
    return Promise.resolve(0);
  }

  /** Removes every key (tests, dev server reset). */
  flush(): void {
    this.#entries.clear();
  }
}

function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(error);
  }
}
