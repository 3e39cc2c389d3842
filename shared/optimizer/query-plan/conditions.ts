/**
 * Reads the columns out of the condition strings PostgreSQL prints in a plan (`Filter`,
 * `Index Cond`, `Recheck Cond`, `Sort Key`), so advice names the columns the planner actually
 * filtered on rather than a guess from the SQL text.
 *
 * The printed form is regular: every operator expression is parenthesised, columns are
 * `alias.column` under `EXPLAIN (VERBOSE)` (bare otherwise), casts are `(col)::type`, and
 * constants are `'text'::type`, numbers, `$n` or function calls.
 *
 * @module
 */

/** How a condition can use an index. */
export type ConditionKind =
  /** `=`, `IS NULL`, `= ANY (...)`, a bare boolean column: any btree column position. */
  | 'equality'
  /** `<`, `<=`, `>`, `>=`, row comparisons: the last btree column used. */
  | 'range'
  /** `LIKE`/`ILIKE` (`~~`, `~~*`), regular expressions: a trigram GIN index. */
  | 'pattern'
  /** pg_trgm similarity (`%`, `<%`, `%>`): a trigram GIN index. */
  | 'similarity'
  /** Anything an index on a plain column does not serve (`<>`, functions, joins). */
  | 'other';

/** One column a condition tests. */
export interface ConditionColumn {
  /** Column name, unquoted. */
  column: string;
  /** Table alias it was qualified with, when printed (`EXPLAIN (VERBOSE)`). */
  qualifier?: string;
  /** Operator as printed (`=`, `~~*`, `IS NULL`...). */
  operator: string;
  kind: ConditionKind;
  /** Part of an `OR` group (indexable only when every branch is). */
  inOr?: boolean;
}

/** One sort key of a `Sort` node. */
export interface SortKeyColumn {
  column: string;
  qualifier?: string;
  descending: boolean;
}

const IDENT = String.raw`(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)`;
const OPERATORS = [
  'IS NOT NULL',
  'IS NULL',
  'IS TRUE',
  'IS FALSE',
  '!~~*',
  '!~~',
  '~~*',
  '~~',
  '!~*',
  '~*',
  '!~',
  '<>',
  '!=',
  '<=',
  '>=',
  '<%',
  '%>',
  '=',
  '<',
  '>',
  '%',
  '~',
].map((op) => op.replace(/[*?+|()[\]{}^$.\\]/g, '\\$&'));
const OPERAND = new RegExp(
  String.raw`^\(?(?:(${IDENT})\.)?(${IDENT})\)?((?:::[A-Za-z_][\w ]*?(?:\[\])?)*)\s+(${
    OPERATORS.join('|')
  })(?:\s+(.*))?$`,
  's',
);
const BARE_COLUMN = new RegExp(String.raw`^(NOT\s+)?(?:(${IDENT})\.)?(${IDENT})$`);
const ROW_COMPARISON = /^ROW\((.*?)\)\s*(<=|>=|<|>)\s*ROW\(/s;
const LOOKS_LIKE_COLUMN = new RegExp(String.raw`^\(?(?:${IDENT}\.)?${IDENT}\)?(?:::[\w ]+)?$`);
const KEYWORDS = new Set(['true', 'false', 'null', 'now', 'current_timestamp', 'current_date']);

function unquote(identifier: string): string {
  return identifier.startsWith('"') ? identifier.slice(1, -1).replace(/""/g, '"') : identifier;
}

/** Index of the parenthesis closing the one at `open`, skipping quoted text; -1 if none. */
function closingParen(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) return -1;
      i = end;
    } else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i;
  }
  return -1;
}

/** Removes parentheses that wrap the whole text. */
export function stripOuterParens(text: string): string {
  let s = text.trim();
  while (s.startsWith('(') && closingParen(s, 0) === s.length - 1) s = s.slice(1, -1).trim();
  return s;
}

/** Splits on a keyword (`AND`, `OR`) at parenthesis depth 0, outside quotes. */
export function splitTopLevel(text: string, keyword: 'AND' | 'OR'): string[] {
  const parts: string[] = [];
  const token = ` ${keyword} `;
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) break;
      i = end;
    } else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (depth === 0 && text.startsWith(token, i)) {
      parts.push(text.slice(start, i));
      start = i + token.length;
      i += token.length - 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim()).filter(Boolean);
}

function kindOf(operator: string, right: string): ConditionKind {
  switch (operator) {
    case '=':
      return LOOKS_LIKE_COLUMN.test(right) && !isConstant(right) ? 'other' : 'equality';
    case 'IS NULL':
    case 'IS TRUE':
    case 'IS FALSE':
      return 'equality';
    case '<':
    case '<=':
    case '>':
    case '>=':
      return LOOKS_LIKE_COLUMN.test(right) && !isConstant(right) ? 'other' : 'range';
    case '~~':
    case '~~*':
    case '~':
    case '~*':
      return 'pattern';
    case '%':
    case '<%':
    case '%>':
      return 'similarity';
    default:
      return 'other';
  }
}

function isConstant(text: string): boolean {
  const s = stripOuterParens(text);
  return /^'|^\$\d|^-?\d/.test(s) || KEYWORDS.has(s.toLowerCase().replace(/\(\)$/, ''));
}

function parseComparison(text: string): ConditionColumn[] {
  const s = stripOuterParens(text);
  const row = ROW_COMPARISON.exec(s);
  if (row) {
    // Keyset pagination prints `ROW(a, b) < ROW(...)`: a range over the columns, in order.
    return row[1].split(',').map((part) => {
      const bare = BARE_COLUMN.exec(stripOuterParens(part.replace(/::[\w ]+$/, '')));
      return bare
        ? {
          column: unquote(bare[3]),
          qualifier: bare[2] && unquote(bare[2]),
          operator: row[2],
          kind: 'range' as const,
        }
        : undefined;
    }).filter((c): c is NonNullable<typeof c> => c !== undefined).map(dropUndefined);
  }
  const bare = BARE_COLUMN.exec(s);
  if (bare && !KEYWORDS.has(bare[3].toLowerCase())) {
    return [dropUndefined({
      column: unquote(bare[3]),
      qualifier: bare[2] && unquote(bare[2]),
      operator: bare[1] ? 'IS FALSE' : 'IS TRUE',
      kind: 'equality',
    })];
  }
  const match = OPERAND.exec(s);
  if (!match) return [];
  const [, qualifier, column, , operator, right = ''] = match;
  let kind = kindOf(operator, right);
  if (/^ANY\s*\(/i.test(right)) kind = operator === '=' ? 'equality' : 'other';
  return [
    dropUndefined({
      column: unquote(column),
      qualifier: qualifier && unquote(qualifier),
      operator,
      kind,
    }),
  ];
}

function dropUndefined(c: ConditionColumn): ConditionColumn {
  if (c.qualifier === undefined) delete c.qualifier;
  return c;
}

/**
 * The columns a plan condition tests, one entry per comparison, `AND` groups flattened and
 * `OR` branches marked `inOr`. Expressions that are not a plain column are left out.
 *
 * @example
 * ```ts
 * parseConditionColumns("((robots.user_id = $1) AND ((robots.name)::text ~~* '%ea%'::text))");
 * // [{ column: 'user_id', qualifier: 'robots', operator: '=', kind: 'equality' },
 * //  { column: 'name', qualifier: 'robots', operator: '~~*', kind: 'pattern' }]
 * ```
 */
export function parseConditionColumns(condition: string | undefined): ConditionColumn[] {
  if (!condition) return [];
  const out: ConditionColumn[] = [];
  for (const conjunct of splitTopLevel(stripOuterParens(condition), 'AND')) {
    const branches = splitTopLevel(stripOuterParens(conjunct), 'OR');
    if (branches.length === 1) {
      // A nested AND inside parentheses (`((a = 1) AND (b = 2))`) is flattened by recursion.
      const inner = stripOuterParens(conjunct);
      if (splitTopLevel(inner, 'AND').length > 1) out.push(...parseConditionColumns(inner));
      else out.push(...parseComparison(inner));
      continue;
    }
    for (const branch of branches) {
      for (const column of parseConditionColumns(branch)) out.push({ ...column, inOr: true });
    }
  }
  return out;
}

/**
 * Parses a `Sort Key` entry (`robots.created_at DESC`); `undefined` for expressions.
 *
 * @example
 * ```ts
 * parseSortKey('robots.created_at DESC'); // { column: 'created_at', qualifier: 'robots', descending: true }
 * ```
 */
export function parseSortKey(key: string): SortKeyColumn | undefined {
  const match = new RegExp(
    String.raw`^(?:(${IDENT})\.)?(${IDENT})(\s+DESC)?(?:\s+NULLS\s+(?:FIRST|LAST))?$`,
  ).exec(key.trim());
  if (!match) return undefined;
  const out: SortKeyColumn = { column: unquote(match[2]), descending: Boolean(match[3]) };
  if (match[1]) out.qualifier = unquote(match[1]);
  return out;
}
