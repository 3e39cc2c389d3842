/**
 * The analysis cache key: SQL with whitespace collapsed, keywords and identifiers lower-cased and
 * the trailing semicolon dropped, quoted text kept as written. Parameter values are not part of
 * the key: the API's queries are parameterised, and one plan shape serves every value (as a
 * generic plan does).
 *
 * @module
 */

/**
 * Normalises SQL for use as a cache key.
 *
 * @example
 * ```ts
 * normalizeSql('SELECT *\n  FROM robots WHERE name = \'A  b\';'); // "select * from robots where name = 'A  b'"
 * ```
 */
export function normalizeSql(sql: string): string {
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    if (c === "'" || c === '"') {
      // Keep quoted text verbatim ('' and "" escapes stay inside the literal).
      let end = i + 1;
      while (end < sql.length) {
        if (sql[end] === c && sql[end + 1] === c) end += 2;
        else if (sql[end] === c) break;
        else end++;
      }
      out += sql.slice(i, end + 1);
      i = end + 1;
    } else if (/\s/.test(c)) {
      while (i < sql.length && /\s/.test(sql[i])) i++;
      out += ' ';
    } else {
      out += c.toLowerCase();
      i++;
    }
  }
  return out.trim().replace(/\s*;+\s*$/, '');
}
