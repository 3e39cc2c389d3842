/**
 * Popularity: access counts with exponential time decay, shared by every isolate through the
 * store, and the TTL they give.
 *
 * Decay uses "forward decay": an access at time `t` adds `2^((t - L) / halfLife)` to a counter,
 * where `L` is the start of the current epoch (16 half-lives). The decayed count at `now` is
 * `counter * 2^(-(now - L) / halfLife)`: counters only ever grow with INCRBY (integers, so
 * weights are scaled by 1000) and no rewrite is needed to age them. The previous epoch's counter
 * is read too, so history survives an epoch change. Accesses are aggregated in memory and
 * flushed in the background, one pipeline per flush, never one write per hit.
 *
 * @module
 */
import type { StoreCommand } from '../../store/types.ts';

const SCALE = 1000;
const HALF_LIVES_PER_EPOCH = 16;

/**
 * The popularity-adjusted TTL:
 * `ttl = floor + (ceiling - floor) * p / (p + halfSaturation)`, with `floor = base * floorFactor`
 * and `ceiling = base * ceilingFactor`, `p` the decayed access count.
 *
 * @example
 * ```ts
 * popularityTtl(300_000, 0, 0.5, 4, 20); // 150000 (floor)
 * popularityTtl(300_000, 20, 0.5, 4, 20); // 675000 (halfway)
 * ```
 */
export function popularityTtl(
  baseTtlMs: number,
  popularity: number,
  floorFactor: number,
  ceilingFactor: number,
  halfSaturation: number,
): number {
  const floor = baseTtlMs * floorFactor;
  const ceiling = baseTtlMs * ceilingFactor;
  const p = popularity > 0 ? popularity : 0;
  return Math.round(floor + (ceiling - floor) * p / (p + halfSaturation));
}

/**
 * Tracks accesses per key with time decay; aggregates in memory, flushes to the store.
 *
 * @example
 * ```ts
 * const pop = new Popularity('qf:cache:', 600_000);
 * pop.record('k', Date.now());
 * const commands = pop.takeFlush(Date.now()); // run in one pipeline
 * ```
 */
export class Popularity {
  #prefix: string;
  #halfLifeMs: number;
  #epochMs: number;
  #pendingEpoch = -1;
  #pending = new Map<string, number>();
  #older: { epoch: number; pending: Map<string, number> }[] = [];

  constructor(prefix: string, halfLifeMs: number) {
    this.#prefix = prefix;
    this.#halfLifeMs = halfLifeMs;
    this.#epochMs = halfLifeMs * HALF_LIVES_PER_EPOCH;
  }

  #epochOf(now: number): number {
    return Math.floor(now / this.#epochMs);
  }

  /** Store key of a key's counter in an epoch. */
  counterKey(key: string, epoch: number): string {
    return `${this.#prefix}pop:${epoch}:${key}`;
  }

  /** Commands reading a key's counters (current and previous epoch), for a read pipeline. */
  readCommands(key: string, now: number): StoreCommand[] {
    const epoch = this.#epochOf(now);
    return [
      { op: 'get', key: this.counterKey(key, epoch) },
      { op: 'get', key: this.counterKey(key, epoch - 1) },
    ];
  }

  /** Records one access (hot path: a Map update). */
  record(key: string, now: number): void {
    const epoch = this.#epochOf(now);
    if (epoch !== this.#pendingEpoch) {
      if (this.#pending.size > 0) {
        this.#older.push({ epoch: this.#pendingEpoch, pending: this.#pending });
      }
      this.#pending = new Map();
      this.#pendingEpoch = epoch;
    }
    const weight = SCALE * 2 ** ((now - epoch * this.#epochMs) / this.#halfLifeMs);
    this.#pending.set(key, (this.#pending.get(key) ?? 0) + weight);
  }

  /** Whether accesses wait to be flushed. */
  get hasPending(): boolean {
    return this.#pending.size > 0 || this.#older.length > 0;
  }

  /** Takes the aggregated accesses as INCRBY commands (with expiry), clearing them. */
  takeFlush(): StoreCommand[] {
    const commands: StoreCommand[] = [];
    const batches = [...this.#older, { epoch: this.#pendingEpoch, pending: this.#pending }];
    this.#older = [];
    this.#pending = new Map();
    for (const { epoch, pending } of batches) {
      for (const [key, weight] of pending) {
        const counterKey = this.counterKey(key, epoch);
        commands.push({ op: 'incrby', key: counterKey, by: Math.round(weight) });
        commands.push({ op: 'pexpire', key: counterKey, ms: 2 * this.#epochMs });
      }
    }
    return commands;
  }

  /**
   * The decayed access count at `now` from the counters read with {@link readCommands}
   * (`current`, `previous`), plus this isolate's unflushed accesses.
   */
  decayed(key: string, now: number, current: unknown, previous: unknown): number {
    const epoch = this.#epochOf(now);
    const start = epoch * this.#epochMs;
    const age = (now - start) / this.#halfLifeMs;
    let count = (Number(current) || 0) * 2 ** -age +
      (Number(previous) || 0) * 2 ** -(age + HALF_LIVES_PER_EPOCH);
    if (epoch === this.#pendingEpoch) count += (this.#pending.get(key) ?? 0) * 2 ** -age;
    return count / SCALE;
  }

  /** This isolate's unflushed decayed count only (when the store cannot be read). */
  localDecayed(key: string, now: number): number {
    return this.decayed(key, now, 0, 0);
  }

  /** Puts commands that failed to flush back (their counts are kept for the next flush). */
  restore(commands: StoreCommand[]): void {
    for (const c of commands) {
      if (c.op !== 'incrby') continue;
      const rest = c.key.slice(this.#prefix.length + 4); // after 'pop:'
      const colon = rest.indexOf(':');
      const epoch = Number(rest.slice(0, colon));
      const key = rest.slice(colon + 1);
      if (epoch === this.#pendingEpoch) {
        this.#pending.set(key, (this.#pending.get(key) ?? 0) + c.by);
      } else {
        this.#older.push({ epoch, pending: new Map([[key, c.by]]) });
      }
    }
  }
}
