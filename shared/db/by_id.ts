/**
 * Reading one row by id, as the caller sees it: the shared body of every repository's `getById`.
 *
 * @module
 */
import { type Caller, runAs } from './caller.ts';
import { type FieldMap, selectFields, selectList } from './pagination.ts';
import type { Database, Row } from './types.ts';
import { requireUuid } from './validate.ts';

/**
 * The row of `table` with `id` (whitelisted `fields` only), or `null` when it does not exist or
 * RLS hides it from the caller.
 *
 * @example
 * ```ts
 * const robot = await findById(db, caller, 'public.robots', ROBOT_FIELDS, id, 'id,name');
 * ```
 */
export async function findById<T extends Row>(
  db: Database,
  caller: Caller,
  table: string,
  whitelist: FieldMap,
  id: string,
  fields?: readonly string[] | string,
): Promise<T | null> {
  const canonicalId = requireUuid('id', id);
  const selected = selectFields(whitelist, fields);
  return await runAs(db, caller, async (tx) => {
    const rows = await tx.query<T>(
      `select ${selectList(whitelist, selected)} from ${table} t where t.id = $1`,
      [canonicalId],
    );
    return rows[0] ?? null;
  });
}
