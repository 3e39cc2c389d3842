/**
 * zod parsing that throws the data layer's typed {@link DbValidationError}, the building blocks
 * of the write schemas, and {@link lazySchema}: a schema built on its first use, so that a cold
 * start builds only the schemas its first request needs.
 *
 * @module
 */
import { z } from 'zod';
import { DbValidationError } from './errors.ts';
import { isUuid } from './claims.ts';

const built: string[] = [];

/**
 * `build()`'s schema, built on first use: the value returned stands for it (every property,
 * method, `in` and `instanceof` reach the built schema), so that it is used as the schema itself
 * (nested in another, `.omit`, `.shape`, `.safeParse`). Building zod schemas at module load cost
 * robots' and strategies' cold start about 10 ms of CPU, most for routes its first request does
 * not take (docs/performance.md, "Cold start, third pass"); `name` is recorded when it is built
 * ({@link lazySchemasBuilt}).
 *
 * @example
 * ```ts
 * export const robotCreateSchema = lazySchema('robotCreate', () => z.object({ ... }).strict());
 * robotCreateSchema.safeParse(body); // built here, once
 * ```
 */
export function lazySchema<T extends object>(name: string, build: () => T): T {
  let schema: T | undefined;
  const real = (): T => {
    if (schema === undefined) {
      schema = build();
      built.push(name);
    }
    return schema;
  };
  // Methods are bound to the built schema (zod's read `this` or close over the instance).
  const bound = new Map<PropertyKey, { of: unknown; fn: unknown }>();
  return new Proxy(Object.create(null) as T, {
    get(_, key) {
      const target = real();
      const value = Reflect.get(target, key, target);
      if (typeof value !== 'function') return value;
      const known = bound.get(key);
      if (known?.of === value) return known.fn;
      const fn = value.bind(target);
      bound.set(key, { of: value, fn });
      return fn;
    },
    set: (_, key, value) => Reflect.set(real(), key, value),
    has: (_, key) => Reflect.has(real(), key),
    ownKeys: () => Reflect.ownKeys(real()),
    getOwnPropertyDescriptor(_, key) {
      const descriptor = Reflect.getOwnPropertyDescriptor(real(), key);
      // The proxy's own target is empty: a property it reports must be configurable.
      return descriptor && { ...descriptor, configurable: true };
    },
    getPrototypeOf: () => Reflect.getPrototypeOf(real()),
  });
}

/**
 * The names of the {@link lazySchema}s this isolate has built so far, in order (tests: what a
 * cold start builds).
 *
 * @example
 * ```ts
 * lazySchemasBuilt(); // ['listingQuery.list'] after a first GET of a listing
 * ```
 */
export function lazySchemasBuilt(): readonly string[] {
  return [...built];
}

/**
 * Parses `value` with `schema`; the first issue becomes a {@link DbValidationError} naming the
 * field (`prefix.path`) and what was received.
 *
 * @example
 * ```ts
 * const input = parseInput(robotCreateSchema, body, 'robot');
 * ```
 */
export function parseInput<S extends z.ZodType>(
  schema: S,
  value: unknown,
  prefix: string,
): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue.path.map(String).join('.');
  const field = path ? `${prefix}.${path}` : prefix;
  let received: unknown = value;
  for (const key of issue.path) {
    received = (received as Record<PropertyKey, unknown> | undefined)?.[key as PropertyKey];
  }
  throw new DbValidationError(
    field,
    `${issue.message}: received ${JSON.stringify(received) ?? 'undefined'}`,
    received,
  );
}

/**
 * Throws {@link DbValidationError} unless `value` is a uuid; returns it lowercased.
 *
 * @example
 * ```ts
 * requireUuid('id', params.id);
 * ```
 */
export function requireUuid(field: string, value: unknown): string {
  if (!isUuid(value)) {
    throw new DbValidationError(field, `must be a uuid: received ${JSON.stringify(value)}`, value);
  }
  // Canonical (lowercase) form: Postgres matches any case, keys and tags must not.
  return value.toLowerCase();
}

/**
 * Parses a timestamp filter (ISO 8601 string or Date) to an ISO string.
 *
 * @example
 * ```ts
 * parseTimestamp('filters.createdAfter', '2026-01-01'); // '2026-01-01T00:00:00.000Z'
 * ```
 */
export function parseTimestamp(field: string, value: unknown): string {
  const date = value instanceof Date
    ? value
    : typeof value === 'string'
    ? new Date(value)
    : undefined;
  if (!date || Number.isNaN(date.getTime())) {
    throw new DbValidationError(
      field,
      `must be an ISO 8601 timestamp: received ${JSON.stringify(value)}`,
      value,
    );
  }
  // Keep microseconds a caller passed (cursor-grade precision); otherwise normalise.
  return typeof value === 'string' && /\.\d{4,6}Z$/.test(value) ? value : date.toISOString();
}

// ---------------------------------------------------------------------------------------------
// Building blocks of the write schemas: canonical ids, safe text, bounded JSON.

/**
 * A uuid in canonical form (lowercase). Postgres matches uuids in any case, so every id that
 * reaches a cache key, a tag, SQL or a `Location` header goes through this first: one resource,
 * one spelling.
 *
 * @example
 * ```ts
 * canonicalUuid.parse('0F8FAD5B-D9CB-469F-A165-70867728950E'); // '0f8fad5b-d9cb-469f-...'
 * ```
 */
export const canonicalUuid = lazySchema(
  'canonicalUuid',
  () => z.guid({ message: 'must be a uuid' }).transform((id) => id.toLowerCase()),
);

/**
 * Why a string cannot be stored as Postgres text, or `undefined` when it can: NUL characters
 * (Postgres text and jsonb refuse them) and lone UTF-16 surrogates (not Unicode; jsonb refuses
 * `\ud800`, text would silently store U+FFFD). One rule for every write.
 *
 * @example
 * ```ts
 * textProblem('a\u0000b'); // 'must not contain NUL characters (\\u0000)'
 * ```
 */
export function textProblem(text: string): string | undefined {
  if (text.includes('\u0000')) return 'must not contain NUL characters (\\u0000)';
  if (!text.isWellFormed()) return 'must not contain lone UTF-16 surrogates';
  return undefined;
}

/**
 * A string Postgres can store: at most `max` characters, no NUL, no lone surrogate.
 *
 * @example
 * ```ts
 * const description = safeString(2000);
 * ```
 */
export function safeString(max: number): z.ZodString {
  return z.string().max(max).superRefine((text, ctx) => {
    const problem = textProblem(text);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });
}

/** Bounds of user-supplied JSON objects (`strategy_params`, `parameters`). */
export interface JsonLimits {
  /** Nesting depth; the object itself is depth 1. */
  maxDepth: number;
  /** Keys of one object. */
  maxKeys: number;
  /** Items of one array. */
  maxArrayLength: number;
  /** Characters of one string value. */
  maxStringLength: number;
  /** Characters of one key. */
  maxKeyLength: number;
  /** Values in the whole document (objects, arrays and scalars). */
  maxNodes: number;
}

/**
 * Limits of strategy parameters: small, flat-ish objects (`{ period: 14, levels: [1.1, 1.2] }`).
 * Documented in docs/http-layer.md.
 */
export const PARAMS_LIMITS: Readonly<JsonLimits> = Object.freeze({
  maxDepth: 5,
  maxKeys: 100,
  maxArrayLength: 256,
  maxStringLength: 1000,
  maxKeyLength: 100,
  maxNodes: 2000,
});

/**
 * Why `value` breaks `limits` (with the path), or `undefined`. Iterative: a 100,000-deep
 * document costs no stack and stops at the first level past `maxDepth`.
 *
 * @example
 * ```ts
 * jsonProblem({ a: { b: { c: {} } } }, { ...PARAMS_LIMITS, maxDepth: 2 }); // "'a.b' nests ..."
 * ```
 */
export function jsonProblem(value: unknown, limits: JsonLimits): string | undefined {
  const stack: { value: unknown; depth: number; path: string }[] = [{ value, depth: 1, path: '' }];
  let nodes = 0;
  const at = (path: string) => (path ? `'${path}' ` : '');
  while (stack.length > 0) {
    const { value: node, depth, path } = stack.pop()!;
    if (++nodes > limits.maxNodes) return `has more than ${limits.maxNodes} values`;
    if (typeof node === 'string') {
      if (node.length > limits.maxStringLength) {
        return `${at(path)}is longer than ${limits.maxStringLength} characters`;
      }
      const problem = textProblem(node);
      if (problem) return `${at(path)}${problem}`;
      continue;
    }
    if (typeof node === 'number') {
      if (!Number.isFinite(node)) return `${at(path)}must be a finite number`;
      continue;
    }
    if (node === null || typeof node === 'boolean') continue;
    if (typeof node !== 'object') return `${at(path)}is not a JSON value`;
    if (depth > limits.maxDepth) {
      return `${at(path)}nests deeper than ${limits.maxDepth} levels`;
    }
    if (Array.isArray(node)) {
      if (node.length > limits.maxArrayLength) {
        return `${at(path)}has more than ${limits.maxArrayLength} items`;
      }
      node.forEach((item, i) =>
        stack.push({ value: item, depth: depth + 1, path: path ? `${path}.${i}` : String(i) })
      );
      continue;
    }
    const keys = Object.keys(node);
    if (keys.length > limits.maxKeys) return `${at(path)}has more than ${limits.maxKeys} keys`;
    for (const key of keys) {
      if (key.length > limits.maxKeyLength) {
        return `${at(path)}has a key longer than ${limits.maxKeyLength} characters`;
      }
      const problem = textProblem(key);
      if (problem) return `${at(path)}key ${problem}`;
      stack.push({
        value: (node as Record<string, unknown>)[key],
        depth: depth + 1,
        path: path ? `${path}.${key}` : key,
      });
    }
  }
  return undefined;
}

/**
 * A JSON object within `limits` (the schema of `strategy_params` and `parameters`).
 *
 * @example
 * ```ts
 * const params = boundedJsonObject(PARAMS_LIMITS);
 * params.safeParse({ period: 14 }).success; // true
 * ```
 */
export function boundedJsonObject(
  limits: JsonLimits = PARAMS_LIMITS,
): z.ZodType<Record<string, unknown>> {
  return z.custom<Record<string, unknown>>(
    (value) => value !== null && typeof value === 'object' && !Array.isArray(value),
    { message: 'must be a JSON object' },
  ).superRefine((value, ctx) => {
    const problem = jsonProblem(value, limits);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });
}
