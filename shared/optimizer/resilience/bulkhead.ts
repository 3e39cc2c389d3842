/**
 * Resource pooling as a bulkhead: at most `poolMaxConcurrent` operations of one resource run at
 * once in an isolate, `poolMaxQueue` more wait (FIFO) at most `poolQueueTimeoutMs`, the rest
 * are rejected at once with {@link BulkheadRejectedError}. One slow dependency can then hold
 * only its own slots, not every request of the isolate.
 *
 * @module
 */
import { KeyedRegistry } from './registry.ts';
import { type Metrics, metrics as sharedMetrics } from '../metrics.ts';
import { type Clock, systemClock } from './clock.ts';
import { BulkheadRejectedError } from './errors.ts';
import {
  appliedWithin,
  parseResilienceOptions,
  poolSizeBounds,
  type ResilienceOptions,
  type ResourceSettings,
} from './options.ts';

/** Collaborators of a {@link Bulkhead}. */
export interface BulkheadDeps {
  /** @default the isolate's shared `metrics` */
  metrics?: Metrics;
  /** @default systemClock */
  clock?: Clock;
  /**
   * The applied settings in force (read on every acquire and release): `poolSizeFor(resource)`
   * replaces `poolMaxConcurrent` for that resource, clamped to {@link poolSizeBounds}.
   */
  settings?: () => ResourceSettings | undefined;
}

interface Waiter {
  resolve: () => void;
  reject: (error: unknown) => void;
  enqueuedAt: number;
  /** `enqueuedAt + poolQueueTimeoutMs`: FIFO with one timeout, so deadlines follow the queue. */
  deadline: number;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/**
 * A bounded-concurrency slot pool with a bounded queue.
 *
 * One timer serves the whole queue, armed for the oldest waiter's deadline (the queue is FIFO and
 * every waiter has the same timeout, so no later waiter expires first): under load, when most
 * calls queue, a call costs no timer of its own.
 *
 * Counts `pool.acquired`, `pool.queued`, `pool.rejected.queue-full|queue-timeout`; observes
 * `pool.wait.ms` for queued calls; gauges `pool.<key>.in_use` and `pool.<key>.utilization`
 * (in use / slots).
 *
 * The manager's applied size (`deps.settings().poolSizeFor(resource)`) replaces
 * `poolMaxConcurrent` within {@link poolSizeBounds}: a larger pool admits waiters at once, a
 * smaller one lets the calls in flight finish and admits no one until they fit.
 *
 * @example
 * ```ts
 * const db = new Bulkhead('db', { resilience: { poolMaxConcurrent: 5 } });
 * const rows = await db.run(() => sql`select * from robots`);
 * ```
 */
export class Bulkhead {
  readonly resourceKey: string;
  readonly #configured: number;
  readonly #bounds: [number, number];
  readonly #settings: (() => ResourceSettings | undefined) | undefined;
  #max: number;
  readonly #maxQueue: number;
  readonly #queueTimeoutMs: number;
  readonly #metrics: Metrics;
  readonly #clock: Clock;
  readonly #inUseGauge: string;
  readonly #utilizationGauge: string;
  #inUse = 0;
  #queue: (Waiter | undefined)[] = [];
  #head = 0;
  #queued = 0;
  /** The queue's one timer, armed for the oldest waiter's deadline while anyone waits. */
  #timer: unknown = undefined;

  constructor(
    resourceKey: string,
    config: { resilience?: Partial<ResilienceOptions> } = {},
    deps: BulkheadDeps = {},
  ) {
    const o = parseResilienceOptions(config.resilience ?? {});
    this.resourceKey = resourceKey;
    this.#configured = o.poolMaxConcurrent;
    this.#bounds = poolSizeBounds(o);
    this.#settings = deps.settings;
    this.#max = this.#size();
    this.#maxQueue = o.poolMaxQueue;
    this.#queueTimeoutMs = o.poolQueueTimeoutMs;
    this.#metrics = deps.metrics ?? sharedMetrics;
    this.#clock = deps.clock ?? systemClock;
    this.#inUseGauge = `pool.${resourceKey}.in_use`;
    this.#utilizationGauge = `pool.${resourceKey}.utilization`;
  }

  /** Slots of the pool: the applied size (clamped), else `poolMaxConcurrent`. */
  get maxConcurrent(): number {
    this.#resize();
    return this.#max;
  }

  #size(): number {
    const settings = this.#settings?.();
    return appliedWithin(settings?.poolSizeFor?.(this.resourceKey), this.#configured, this.#bounds);
  }

  /** Follows a change of the applied size; a larger pool admits waiters at once. */
  #resize(): void {
    if (!this.#settings) return;
    const size = this.#size();
    if (size === this.#max) return;
    this.#max = size;
    while (this.#inUse < this.#max && this.#grantNext()) this.#inUse++;
    this.#gauges();
  }

  /** Hands a slot to the oldest waiter still waiting; `false` when there is none. */
  #grantNext(): boolean {
    while (this.#head < this.#queue.length) {
      const waiter = this.#queue[this.#head];
      this.#queue[this.#head++] = undefined;
      if (!waiter) continue;
      this.#queued--;
      this.#clearWaiter(waiter);
      if (this.#queued === 0) this.#disarm();
      this.#metrics.increment('pool.acquired');
      this.#metrics.observe('pool.wait.ms', this.#clock.now() - waiter.enqueuedAt);
      waiter.resolve();
      this.#compact();
      return true;
    }
    this.#compact();
    return false;
  }

  /** Slots in use. */
  get inUse(): number {
    return this.#inUse;
  }

  /** Calls waiting for a slot. */
  get queued(): number {
    return this.#queued;
  }

  #gauges(): void {
    this.#metrics.gauge(this.#inUseGauge, this.#inUse);
    this.#metrics.gauge(this.#utilizationGauge, this.#inUse / this.#max);
  }

  /** Takes a slot if one is free, without waiting. */
  tryAcquire(): boolean {
    this.#resize();
    if (this.#inUse >= this.#max || this.#queued > 0) return false;
    this.#inUse++;
    this.#metrics.increment('pool.acquired');
    this.#gauges();
    return true;
  }

  /**
   * Takes a slot, waiting in the queue when none is free. Rejects with
   * {@link BulkheadRejectedError} when the queue is full or the wait times out, or with the
   * signal's reason when it aborts. Resolves synchronously-fast (one microtask) when free.
   */
  acquire(signal?: AbortSignal): Promise<void> {
    if (this.tryAcquire()) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#queued >= this.#maxQueue) {
      this.#metrics.increment('pool.rejected.queue-full');
      return Promise.reject(
        new BulkheadRejectedError(this.resourceKey, 'queue-full', this.maxConcurrent),
      );
    }
    this.#metrics.increment('pool.queued');
    return new Promise<void>((resolve, reject) => {
      const enqueuedAt = this.#clock.now();
      const waiter: Waiter = {
        resolve,
        reject,
        enqueuedAt,
        deadline: enqueuedAt + this.#queueTimeoutMs,
        signal,
      };
      const index = this.#queue.push(waiter) - 1;
      this.#queued++;
      if (this.#timer === undefined) this.#arm(this.#queueTimeoutMs);
      if (signal) {
        waiter.onAbort = () => {
          this.#queue[index] = undefined;
          this.#queued--;
          this.#clearWaiter(waiter);
          if (this.#queued === 0) this.#disarm();
          reject(signal.reason);
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
    });
  }

  #arm(delayMs: number): void {
    this.#timer = this.#clock.setTimeout(() => this.#expire(), Math.max(0, delayMs));
  }

  #disarm(): void {
    if (this.#timer === undefined) return;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The timer fired: rejects the waiters past their deadline, re-arms for the next one. */
  #expire(): void {
    this.#timer = undefined;
    const now = this.#clock.now();
    for (let i = this.#head; i < this.#queue.length; i++) {
      const waiter = this.#queue[i];
      if (!waiter) continue;
      if (waiter.deadline > now) {
        this.#arm(waiter.deadline - now);
        return;
      }
      this.#queue[i] = undefined;
      this.#queued--;
      this.#clearWaiter(waiter);
      this.#metrics.increment('pool.rejected.queue-timeout');
      waiter.reject(
        new BulkheadRejectedError(this.resourceKey, 'queue-timeout', this.maxConcurrent),
      );
    }
    // Nobody waits any more (no abort listener left refers to a slot): start the queue afresh.
    this.#queue.length = 0;
    this.#head = 0;
  }

  #clearWaiter(waiter: Waiter): void {
    if (waiter.onAbort) waiter.signal!.removeEventListener('abort', waiter.onAbort);
  }

  /** Gives a slot back; the oldest waiter, if any, takes it over. */
  release(): void {
    if (this.#inUse <= 0) {
      throw new Error(`Bulkhead '${this.resourceKey}' released more than acquired`);
    }
    this.#resize();
    // The slot passes on (in use unchanged), unless the pool shrank below what is in use.
    if (this.#inUse <= this.#max && this.#grantNext()) return;
    this.#inUse--;
    this.#gauges();
  }

  #compact(): void {
    if (this.#head === this.#queue.length) {
      this.#queue.length = 0;
      this.#head = 0;
    }
  }

  /** Runs `operation` holding a slot. */
  async run<T>(operation: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (!this.tryAcquire()) await this.acquire(signal);
    try {
      return await operation();
    } finally {
      this.release();
    }
  }
}

/**
 * One {@link Bulkhead} per resource key, created on first use.
 *
 * @example
 * ```ts
 * const pools = new BulkheadRegistry(config);
 * await pools.run('robots-db', () => loadRobots());
 * ```
 */
export class BulkheadRegistry {
  readonly #config: { resilience?: Partial<ResilienceOptions> };
  readonly #deps: BulkheadDeps;
  readonly #bulkheads = new KeyedRegistry(
    (resourceKey) => new Bulkhead(resourceKey, this.#config, this.#deps),
  );

  constructor(config: { resilience?: Partial<ResilienceOptions> } = {}, deps: BulkheadDeps = {}) {
    this.#config = { resilience: parseResilienceOptions(config.resilience ?? {}) };
    this.#deps = deps;
  }

  /** The bulkhead of `resourceKey`. */
  get(resourceKey: string): Bulkhead {
    return this.#bulkheads.get(resourceKey);
  }

  /** Runs `operation` in the bulkhead of `resourceKey`. */
  run<T>(resourceKey: string, operation: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return this.get(resourceKey).run(operation, signal);
  }

  /** Slots in use and queued per resource, for the status endpoint. */
  utilization(): Record<string, { inUse: number; queued: number; maxConcurrent: number }> {
    const out: Record<string, { inUse: number; queued: number; maxConcurrent: number }> = {};
    for (const [key, b] of this.#bulkheads.entries()) {
      out[key] = { inUse: b.inUse, queued: b.queued, maxConcurrent: b.maxConcurrent };
    }
    return out;
  }
}
