/**
 * Hooks a repository write runs inside its own transaction, so that extra SQL (an invalidation
 * outbox row, an audit row) commits or rolls back with the change itself.
 *
 * @module
 */
import type { SqlExecutor } from './types.ts';

/** Options of a repository write (`create`, `update`, `delete`). */
export interface WriteHooks<R> {
  /**
   * Runs inside the write's transaction after the row was written, with the written row (the
   * deleted row's `{ id }` for deletes). Not called when nothing was written (a 404). A throw
   * rolls the write back.
   *
   * @example
   * ```ts
   * await robots.update(caller, id, patch, {
   *   afterWrite: (tx, row) => enqueueInvalidation(tx, tagsOf(row)),
   * });
   * ```
   */
  afterWrite?: (tx: SqlExecutor, row: R) => Promise<unknown> | unknown;
}
