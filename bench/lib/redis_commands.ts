/**
 * Commands a redis-server has executed, from `INFO commandstats` (the sum of every command's
 * `calls`): a delta around a run counts the store commands it cost without `MONITOR`.
 *
 * @module
 */
import type { Redis } from 'ioredis';

/**
 * Sums `calls=` over `INFO commandstats` (commands run by scripts are counted too).
 *
 * @example
 * ```ts
 * const before = await commandCount(redis);
 * await work();
 * const commands = (await commandCount(redis)) - before - 1; // minus this INFO
 * ```
 */
export async function commandCount(redis: Redis): Promise<number> {
  return sumCommandCalls(await redis.info('commandstats'));
}

/**
 * The sum of `calls=` in an `INFO commandstats` reply.
 *
 * @example
 * ```ts
 * sumCommandCalls('cmdstat_get:calls=3,usec=9\r\ncmdstat_set:calls=2,usec=4'); // 5
 * ```
 */
export function sumCommandCalls(info: string): number {
  let total = 0;
  for (const match of info.matchAll(/^cmdstat_[^:]+:calls=(\d+)/gm)) total += Number(match[1]);
  return total;
}
