/**
 * The bridge's Redis side: a fixed pool of ioredis connections (one request holds one for its
 * whole duration), sending raw commands with binary replies, and "unavailable" (refused, lost,
 * or no answer in time) told apart from Redis's own error replies.
 *
 * @module
 */
import { Buffer } from 'node:buffer';
import { Command, Redis } from 'ioredis';

/** A Redis reply as ioredis gives it raw (error replies as `Error` values). */
export type Reply = Buffer | string | number | null | undefined | Error | Reply[];

/** A command sent as-is: binary replies, no ioredis reply transformer (hgetall stays flat). */
class RawCommand extends Command {
  override transformReply(result: Buffer | Buffer[]): Buffer | Buffer[] {
    return result;
  }
}

/** Redis unreachable (connection refused or lost, or no answer in time): HTTP 503. */
export class UnavailableError extends Error {
  override name = 'UnavailableError';
}

/** A fixed pool of Redis connections; a request holds one connection for its whole duration. */
export class ConnectionPool {
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
export function send(conn: Redis, name: string, args: Buffer[]): Promise<Reply> {
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
export function isReplyError(error: unknown): error is Error {
  return error instanceof Error && error.name === 'ReplyError';
}

/** Any failure to get an answer from Redis, as the bridge's 503. */
export function toUnavailable(error: unknown): UnavailableError {
  if (error instanceof UnavailableError) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new UnavailableError(`redis-server did not answer: ${reason}`);
}
