/**
 * The cache invalidation outbox: a durable record of the tags a write invalidates, written in
 * the same database transaction as the write (`public.cache_invalidation_outbox`). An
 * invalidation is data: if Redis cannot be reached when the write commits, the record survives
 * the isolate and is replayed once the store answers.
 *
 * The contract for a write (the HTTP layer):
 * 1. inside the write's transaction: `const outboxId = await enqueueInvalidation(tx, tags)`;
 * 2. after commit: `await optimizer.invalidateTags(tags, { outboxId, db })`. It invalidates at
 *    once; on success the row is deleted in the background; if the store failed, the tags stay
 *    pending in this isolate (its own reads skip the Redis-tier copies) and are retried every
 *    `invalidationRetryMs` until the store answers, then the row is deleted.
 * 3. cold start, warming run, optimizer run: `await optimizer.drainInvalidations(db)` replays
 *    rows left by isolates that died before their retry got through.
 *
 * Bounds: with the writer alive, once the store answers no isolate serves the old version longer
 * than `memoryStalenessMs` (2 s by default): the retry lands within `invalidationRetryMs` and
 * memory copies are re-checked that much sooner (`memoryRecheckMs` in `options.ts`); if the
 * writer died, until the next drain.
 *
 * @example
 * ```ts
 * const tags = [scopedTag('public', 'robot', id), scopedTag({ userId }, 'robots')];
 * const { robot, outboxId } = await db.asUser(claims, async (tx) => {
 *   const robot = await updateRobot(tx, id, patch);
 *   return { robot, outboxId: await enqueueInvalidation(tx, tags) };
 * });
 * await optimizer.invalidateTags(tags, { outboxId, db }); // after commit
 * ```
 *
 * @module
 */
import type { SqlExecutor } from '../../db/types.ts';
import type { PredictiveCache } from './predictive_cache.ts';

/** Most tags one outbox row holds (the SQL function's limit). */
export const MAX_OUTBOX_TAGS = 64;
/** Longest tag the outbox accepts (the SQL function's limit). */
export const MAX_OUTBOX_TAG_LENGTH = 512;

function checkTags(tags: readonly string[]): void {
  if (!Array.isArray(tags) || tags.length < 1 || tags.length > MAX_OUTBOX_TAGS) {
    throw new RangeError(
      `'tags' must hold 1 to ${MAX_OUTBOX_TAGS} tags: received ${
        Array.isArray(tags) ? tags.length : typeof tags
      }`,
    );
  }
  for (const tag of tags) {
    if (typeof tag !== 'string' || tag.length < 1 || tag.length > MAX_OUTBOX_TAG_LENGTH) {
      throw new RangeError(
        `each tag must be a string of 1 to ${MAX_OUTBOX_TAG_LENGTH} characters: received ${
          typeof tag === 'string' ? `${tag.length} characters` : typeof tag
        }`,
      );
    }
  }
}

/**
 * Records `tags` in the outbox inside the caller's transaction `tx` (any role: the SQL function
 * is security definer); resolves the row id to hand to `invalidateTags` after commit.
 *
 * @example
 * ```ts
 * const outboxId = await db.asUser(claims, (tx) => enqueueInvalidation(tx, ['pub:robots']));
 * ```
 */
export async function enqueueInvalidation(
  tx: SqlExecutor,
  tags: readonly string[],
): Promise<string> {
  checkTags(tags);
  // Tags travel as one JSON text: both drivers pass it the same way (no array parameter).
  const rows = await tx.query<{ id: unknown }>(
    'select public.enqueue_cache_invalidation(array(select jsonb_array_elements_text($1::text::jsonb))) as id',
    [JSON.stringify(tags)],
  );
  return String(rows[0].id);
}

/**
 * Deletes one outbox row (after its tags were invalidated). Service connection.
 *
 * @example
 * ```ts
 * await deleteOutboxRow(db, outboxId);
 * ```
 */
export async function deleteOutboxRow(db: SqlExecutor, id: string): Promise<void> {
  await db.query('delete from public.cache_invalidation_outbox where id = $1::bigint', [id]);
}

/** What a database offers the drainer: the service connection with transactions. */
export interface OutboxDatabase extends SqlExecutor {
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
}

/** Options of {@link drainInvalidationOutbox}. */
export interface DrainOptions {
  /** Most rows read in one drain. @default 500 */
  limit?: number;
}

/** Result of {@link drainInvalidationOutbox}. */
export interface DrainReport {
  /** Rows whose tags were invalidated (or that were moot) and are now deleted. */
  drained: number;
  /** Rows kept because the store did not confirm their invalidation. */
  pending: number;
}

/**
 * Replays the outbox: reads its rows with the service connection (`for update skip locked`, in
 * one transaction, so concurrent drainers share the work), invalidates their tags through
 * `cache` and deletes the rows whose invalidation the store confirmed. Rows older than the
 * longest entry lifetime are moot (every entry they could concern has expired) and are deleted
 * without invalidating.
 *
 * @example
 * ```ts
 * const { drained, pending } = await drainInvalidationOutbox(db, optimizer.cache);
 * ```
 */
export async function drainInvalidationOutbox(
  db: OutboxDatabase,
  cache: PredictiveCache,
  options: DrainOptions = {},
): Promise<DrainReport> {
  const limit = options.limit ?? 500;
  if (!Number.isInteger(limit) || limit < 1) {
    throw new RangeError(`'limit' must be an integer >= 1: received ${limit}`);
  }
  const maxAgeMs = cache.maxEntryLifetimeMs;
  return await db.transaction(async (tx) => {
    const rows = await tx.query<{ id: unknown; tags: string[]; moot: boolean }>(
      `select id, tags, created_at < now() - make_interval(secs => $1::double precision / 1000)
         as moot
       from public.cache_invalidation_outbox
       order by id
       limit $2
       for update skip locked`,
      [maxAgeMs, limit],
    );
    const done: string[] = rows.filter((row) => row.moot).map((row) => String(row.id));
    const confirmed = new Set<string>();
    let storeDown = false;
    for (const row of rows) {
      if (row.moot || storeDown) continue;
      const tags = row.tags.filter((tag) => !confirmed.has(tag));
      // One attempt per row (one round trip): on failure the rows stay, they are the retry.
      if (tags.length > 0 && !(await cache.invalidateTags(tags, { retry: false }))) {
        storeDown = true;
        continue;
      }
      for (const tag of tags) confirmed.add(tag);
      done.push(String(row.id));
    }
    if (done.length > 0) {
      await tx.query(
        'delete from public.cache_invalidation_outbox where id = any(array(select jsonb_array_elements_text($1::text::jsonb)::bigint))',
        [JSON.stringify(done)],
      );
    }
    return { drained: done.length, pending: rows.length - done.length };
  });
}

/**
 * Deletes outbox rows older than `maxAgeMs` (`public.prune_cache_invalidation_outbox`); resolves
 * how many.
 *
 * @example
 * ```ts
 * await pruneInvalidationOutbox(db, optimizer.cache.maxEntryLifetimeMs);
 * ```
 */
export async function pruneInvalidationOutbox(db: SqlExecutor, maxAgeMs: number): Promise<number> {
  if (!Number.isFinite(maxAgeMs) || maxAgeMs < 0) {
    throw new RangeError(`'maxAgeMs' must be a finite number >= 0: received ${maxAgeMs}`);
  }
  const rows = await db.query<{ removed: unknown }>(
    'select public.prune_cache_invalidation_outbox(make_interval(secs => $1::double precision / 1000)) as removed',
    [maxAgeMs],
  );
  return Number(rows[0].removed);
}
