/**
 * Trigram search over a listing table (name and description), written once for robots and
 * strategies. Users go through a `security definer` search function (the trigram indexes cannot
 * serve `ilike` under RLS, see the migrations) whose ids are joined under their RLS again; the
 * service queries the table directly.
 *
 * @module
 */
import { type Caller, runAs } from './caller.ts';
import { DbValidationError } from './errors.ts';
import { escapeLike } from './filters.ts';
import { type FieldMap, selectList, WhereBuilder } from './pagination.ts';
import type { Database } from './types.ts';

/**
 * The search text, trimmed: a string of 2 to 100 characters, else a {@link DbValidationError}.
 *
 * @example
 * ```ts
 * searchText('  grid bot '); // 'grid bot'
 * ```
 */
export function searchText(raw: unknown): string {
  const query = typeof raw === 'string' ? raw.trim() : raw;
  if (typeof query !== 'string' || query.length < 2 || query.length > 100) {
    throw new DbValidationError(
      'query',
      `must be a string of 2 to 100 characters: received ${JSON.stringify(raw)}`,
      raw,
    );
  }
  return query;
}

/** One validated search of {@link trigramSearch}. */
export interface TrigramSearch {
  /** The table, e.g. `public.robots` (alias `t`). */
  table: string;
  /** The field whitelist and the fields selected from it. */
  fields: FieldMap;
  selected: readonly string[];
  /** The search text ({@link searchText}). */
  text: string;
  limit: number;
  /** Also match the name by trigram similarity (`%`), not only by substring. */
  fuzzy: boolean;
  /** The validated filters as conditions (the service's query). */
  where: WhereBuilder;
  /** The users' search function, e.g. `public.search_robots`. */
  userFunction: string;
  /** Its filter arguments, between `(text, limit` and `fuzzy)`, as parameters of `p`. */
  userFilterArgs: (p: WhereBuilder) => string[];
}

/**
 * Runs a trigram search as `caller`, best similarity first, each hit with its `score` (0..1).
 *
 * @example
 * ```ts
 * const hits = await trigramSearch(db, caller, { table: 'public.robots', ...search });
 * ```
 */
export async function trigramSearch<H extends { score: number }>(
  db: Database,
  caller: Caller,
  search: TrigramSearch,
): Promise<H[]> {
  const { table, fields, selected, text, limit, fuzzy, where } = search;
  if (caller.kind === 'user') {
    const p = new WhereBuilder();
    const args = [
      p.param(text),
      p.param(limit),
      ...search.userFilterArgs(p),
      `${p.param(fuzzy)}::boolean`,
    ];
    return await runAs(db, caller, async (tx) => {
      const rows = await tx.query<H>(
        `select ${selectList(fields, selected)}, s.score::float8 as "score"
         from ${search.userFunction}(${args.join(', ')}) s
         join ${table} t on t.id = s.id
         order by s.score desc, t.created_at desc, t.id desc`,
        p.params,
      );
      return rows.map((row) => ({ ...row, score: Number(row.score) }));
    });
  }
  // Service: no RLS, so the same conditions use the trigram indexes directly.
  const q = where.param(text);
  const pattern = where.param(`%${escapeLike(text)}%`);
  where.add(
    `(t.name ilike ${pattern} or t.description ilike ${pattern}${
      fuzzy ? ` or t.name operator(extensions.%) ${q}` : ''
    })`,
  );
  const limitParam = where.param(limit);
  return await runAs(db, caller, async (tx) => {
    const rows = await tx.query<H>(
      `select ${selectList(fields, selected)},
         greatest(extensions.word_similarity(${q}, t.name), 0.5 * extensions.word_similarity(${q}, t.description))::float8 as "score"
       from ${table} t ${where.toSql()}
       order by "score" desc, t.created_at desc, t.id desc
       limit ${limitParam}`,
      where.params,
    );
    return rows.map((row) => ({ ...row, score: Number(row.score) }));
  });
}
