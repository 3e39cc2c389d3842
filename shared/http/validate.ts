/**
 * Request validation with zod through Hono's validator: `validQuery`, `validParams` and
 * `validJson` middlewares put the parsed input on `c.req.valid(target)`, typed, and answer a
 * 400 (415 for a body that is not JSON) naming the field otherwise. Unknown query parameters are
 * refused by strict schemas, except the gateway's own (`forceFunctionRegion`), dropped first.
 *
 * @module
 */
import type { Context, MiddlewareHandler, ValidationTargets } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { validator } from 'hono/validator';
import { z } from 'zod';
import { canonicalUuid, lazySchema, safeString } from '../db/validate.ts';
import {
  decodeCursor,
  encodeCursor,
  type FieldMap,
  MAX_PAGE_LIMIT,
  selectFields,
} from '../db/pagination.ts';
import { STRATEGY_TYPES } from '../db/strategies/schema.ts';
import { ApiError } from './errors.ts';

/**
 * Query parameters the Supabase gateway and supabase-js add that are not the API's:
 * `createClient(url, key, { functions: { region } })` sends `?forceFunctionRegion=<region>`.
 * They are dropped before strict validation, on every function.
 */
export const GATEWAY_QUERY_PARAMS: readonly string[] = ['forceFunctionRegion'];

/**
 * Deepest JSON body accepted, checked on the raw text before parsing (so that nothing after,
 * zod, Postgres or `JSON.stringify`, ever sees a 10,000-deep document). Schemas bound their
 * fields tighter (`PARAMS_LIMITS`).
 */
export const MAX_BODY_DEPTH = 32;

/** Media types accepted as JSON: `application/json` and `application/*+json`, any parameters. */
const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i;
const JSON_PATCH_MEDIA_TYPE = /^application\/json-patch\+json$/i;

/** One issue list as a message: `'name' Too small; 'limit' must be an integer`. */
export function issuesMessage(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length ? `'${i.path.join('.')}' ` : ''}${i.message}`)
    .join('; ');
}

/**
 * Parses `input` with `schema`, or throws a 400 {@link ApiError} with `code`, every issue in the
 * message and `details`.
 *
 * @example
 * ```ts
 * const id = parseWith(idSchema, c.req.param('id'), 'invalid_id', 'robot id');
 * ```
 */
export function parseWith<S extends z.ZodType>(
  schema: S,
  input: unknown,
  code: string,
  what: string,
): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) {
    throw new ApiError(400, code, `Invalid ${what}: ${issuesMessage(result.error)}`, {
      details: result.error.issues.map((i) => ({ path: i.path, message: i.message })),
    });
  }
  return result.data;
}

/**
 * The deepest nesting of `[` and `{` in JSON text (strings skipped), stopping as soon as it
 * passes `limit`. Iterative and linear: safe on any input.
 *
 * @example
 * ```ts
 * jsonTextDepth('{"a":[1,[2]]}'); // 3
 * ```
 */
export function jsonTextDepth(text: string, limit = Infinity): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c) i++; // backslash: skip the escaped character
      else if (ch === 0x22) inString = false;
    } else if (ch === 0x22) {
      inString = true;
    } else if (ch === 0x5b || ch === 0x7b) {
      if (++depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if (ch === 0x5d || ch === 0x7d) {
      depth--;
    }
  }
  return deepest;
}

/** The query string as an object: duplicated parameters refused, gateway parameters dropped. */
function queryObject(c: Context): Record<string, string> {
  const query: Record<string, string> = {};
  for (const [name, value] of new URL(c.req.url).searchParams) {
    if (GATEWAY_QUERY_PARAMS.includes(name)) continue;
    if (Object.hasOwn(query, name)) {
      throw new ApiError(400, 'invalid_query', `Invalid query: '${name}' is given more than once`);
    }
    query[name] = value;
  }
  return query;
}

/**
 * The request body as a JSON object: 415 unless the content type is JSON, 400 for malformed
 * JSON, a body nested deeper than {@link MAX_BODY_DEPTH}, or anything but an object.
 *
 * @example
 * ```ts
 * const body = await readJsonObject(c); // then validate it with a schema
 * ```
 */
export async function readJsonObject(c: Context): Promise<Record<string, unknown>> {
  const contentType = c.req.header('content-type') ?? '';
  const mediaType = contentType.split(';')[0].trim();
  if (!JSON_MEDIA_TYPE.test(mediaType)) {
    throw new ApiError(
      415,
      'unsupported_media_type',
      `Request body must be sent as application/json: received ${
        contentType ? JSON.stringify(contentType.slice(0, 100)) : 'no content type'
      }`,
    );
  }
  if (JSON_PATCH_MEDIA_TYPE.test(mediaType)) {
    throw new ApiError(
      415,
      'unsupported_media_type',
      'JSON Patch (application/json-patch+json) is not supported: send the fields to change as application/json',
    );
  }
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(contentType)?.[1];
  if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
    throw new ApiError(
      415,
      'unsupported_media_type',
      `JSON must be encoded as UTF-8: received charset ${JSON.stringify(charset.slice(0, 40))}`,
    );
  }
  let text: string;
  try {
    // JSON is UTF-8 (RFC 8259): invalid bytes are refused, never replaced with U+FFFD and stored.
    text = new TextDecoder('utf-8', { fatal: true }).decode(await c.req.arrayBuffer());
  } catch {
    throw new ApiError(400, 'invalid_encoding', 'Request body is not valid UTF-8');
  }
  if (jsonTextDepth(text, MAX_BODY_DEPTH) > MAX_BODY_DEPTH) {
    throw new ApiError(
      400,
      'invalid_body',
      `Invalid body: JSON nests deeper than ${MAX_BODY_DEPTH} levels`,
    );
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new ApiError(
      400,
      'invalid_json',
      `Request body is not valid JSON: ${(error as Error).message}`,
    );
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ApiError(400, 'invalid_body', 'Invalid body: must be a JSON object');
  }
  return body as Record<string, unknown>;
}

/**
 * Plain-input parsers of query and parameter schemas ({@link listingQuerySchemas}'s `list` and
 * `detail`, {@link idParams}): for input whose every parameter is plainly valid, the output the
 * schema gives, computed without zod; `undefined` for anything else, which the schema then parses
 * (and words the error). A cold start's first listing (`?limit=5`) or read by id so builds and
 * compiles no zod schema.
 */
const plainParsers = new WeakMap<object, (input: Record<string, string>) => object | undefined>();

type Validated<T extends keyof ValidationTargets, S extends z.ZodType> = MiddlewareHandler<
  // deno-lint-ignore no-explicit-any
  any,
  string,
  { in: { [K in T]: z.input<S> }; out: { [K in T]: z.output<S> } }
>;

/**
 * Validates the query string with `schema` (use `.strict()` schemas: unknown parameters are
 * refused). 400 `invalid_query`.
 *
 * @example
 * ```ts
 * app.get('/', validQuery(z.object({ limit: z.string().optional() }).strict()), (c) => {
 *   const { limit } = c.req.valid('query');
 *   return c.json({ limit });
 * });
 * ```
 */
export function validQuery<S extends z.ZodType>(schema: S): Validated<'query', S> {
  return validator(
    'query',
    (_value, c) => {
      const query = queryObject(c);
      return plainParsers.get(schema)?.(query) ??
        parseWith(schema, query, 'invalid_query', 'query');
    },
  ) as unknown as Validated<
    'query',
    S
  >;
}

/**
 * Validates route parameters with `schema`. 400 `invalid_id` (parameters are ids here).
 *
 * @example
 * ```ts
 * app.get('/:id', validParams(z.object({ id: canonicalUuid })), (c) => c.text(c.req.valid('param').id));
 * ```
 */
export function validParams<S extends z.ZodType>(
  schema: S,
  what = 'id',
): Validated<'param', S> {
  return validator(
    'param',
    (value) =>
      plainParsers.get(schema)?.(value as Record<string, string>) ??
        parseWith(schema, value, 'invalid_id', what),
  ) as unknown as Validated<'param', S>;
}

/**
 * Validates a JSON object body with `schema` after {@link readJsonObject}'s checks (415, depth,
 * malformed JSON). 400 `invalid_body`.
 *
 * @example
 * ```ts
 * app.post('/', validJson(createSchema), (c) => c.json(c.req.valid('json'), 201));
 * ```
 */
export function validJson<S extends z.ZodType>(schema: S): Validated<'json', S> {
  // Not Hono's 'json' target: it parses before any check (no 415, no depth bound, its own 400).
  const middleware: MiddlewareHandler = async function validJson(c, next) {
    const data = parseWith(schema, await readJsonObject(c), 'invalid_body', 'body');
    c.req.addValidatedData('json', data as Record<string, unknown>);
    await next();
  };
  return middleware as unknown as Validated<'json', S>;
}

/** Route parameters `{ id }` with the id canonical (lowercase uuid). Built on first use. */
export const idParams: z.ZodObject<{ id: typeof canonicalUuid }> = lazySchema(
  'idParams',
  () => z.object({ id: canonicalUuid }),
);

/** What `z.guid()` accepts (zod's own pattern): any version, any case. */
const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

// `{ id }` of a uuid: its canonical form, as the schema outputs it, without zod.
plainParsers.set(
  idParams,
  (params) =>
    Object.keys(params).length === 1 && typeof params.id === 'string' && GUID.test(params.id)
      ? { id: params.id.toLowerCase() }
      : undefined,
);

/** A search text: trimmed, 2..100 characters, no NUL or lone surrogate. Built on first use. */
export const searchText: z.ZodString = lazySchema(
  'searchText',
  () => safeString(100).trim().min(2),
);

/**
 * The query schemas of a listing resource (robots, strategies), over its field whitelist:
 * `list` (`limit`, `cursor`, `fields`, `strategy_type`, `total`), `search` (`q`, `limit`,
 * `fields`, `strategy_type`) and `detail` (`fields`). Unknown parameters and fields are refused;
 * a cursor is re-encoded after decoding, so any spelling of one position is one cache key.
 *
 * @example
 * ```ts
 * const { list } = listingQuerySchemas(ROBOT_FIELDS);
 * app.get('/', validQuery(list), (c) => c.json(c.req.valid('query')));
 * ```
 */
export function listingQuerySchemas(fields: FieldMap) {
  // Each schema is built on its first use (lazySchema): a cold start builds only its first
  // request's. The parameters' schemas are shared by the three once built.
  let params: ReturnType<typeof listingParams> | undefined;
  const shared = () => params ??= listingParams(fields);
  const list = lazySchema('listingQuery.list', () => {
    const { limitParam, cursorParam, fieldsParam } = shared();
    return z.object({
      limit: limitParam.optional(),
      cursor: cursorParam.optional(),
      fields: fieldsParam.optional(),
      strategy_type: z.enum(STRATEGY_TYPES).optional(),
      total: z.enum(['exact', 'estimated', 'none']).optional(),
    }).strict();
  });
  plainParsers.set(list, plainListQuery);
  const detail = lazySchema(
    'listingQuery.detail',
    () => z.object({ fields: shared().fieldsParam.optional() }).strict(),
  );
  plainParsers.set(detail, (query) => Object.keys(query).length === 0 ? {} : undefined);
  return {
    list,
    search: lazySchema('listingQuery.search', () => {
      const { limitParam, fieldsParam } = shared();
      return z.object({
        q: searchText,
        limit: limitParam.optional(),
        fields: fieldsParam.optional(),
        strategy_type: z.enum(STRATEGY_TYPES).optional(),
      }).strict();
    }),
    detail,
  };
}

/** `total`'s values. */
const TOTAL_MODES: readonly string[] = ['exact', 'estimated', 'none'];

/**
 * A listing query of `limit`, `strategy_type` and `total` only, each valid, as the `list` schema
 * outputs it (its keys in the schema's order, `limit` a number); `undefined` for anything else
 * (a cursor, fields, an unknown or invalid parameter: the schema decides).
 */
function plainListQuery(query: Record<string, string>): object | undefined {
  if (Object.getPrototypeOf(query) !== Object.prototype) return undefined;
  for (const name of Object.keys(query)) {
    if (name !== 'limit' && name !== 'strategy_type' && name !== 'total') return undefined;
  }
  const out: { limit?: number; strategy_type?: string; total?: string } = {};
  const { limit, strategy_type, total } = query;
  if (limit !== undefined) {
    if (!/^\d{1,3}$/.test(limit)) return undefined;
    const n = Number(limit);
    if (n < 1 || n > MAX_PAGE_LIMIT) return undefined;
    out.limit = n;
  }
  if (strategy_type !== undefined) {
    if (!(STRATEGY_TYPES as readonly string[]).includes(strategy_type)) return undefined;
    out.strategy_type = strategy_type;
  }
  if (total !== undefined) {
    if (!TOTAL_MODES.includes(total)) return undefined;
    out.total = total;
  }
  return out;
}

/** The parameters of {@link listingQuerySchemas}' schemas over `fields`. */
function listingParams(fields: FieldMap) {
  const fieldsParam = z.string().max(500).superRefine((value, ctx) => {
    try {
      selectFields(fields, value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message.replace(/^'fields' /, '') });
    }
  });
  const limitParam = z.string().regex(/^\d+$/, 'must be an integer').transform(Number)
    .pipe(z.number().int().min(1).max(MAX_PAGE_LIMIT));
  const cursorParam = z.string().max(500).transform((value, ctx) => {
    try {
      return encodeCursor(decodeCursor(value));
    } catch {
      ctx.addIssue({ code: 'custom', message: 'is not a cursor returned by this API' });
      return z.NEVER;
    }
  });
  return { fieldsParam, limitParam, cursorParam };
}

/**
 * A request body limit answering a JSON 413 `payload_too_large` beyond `maxBytes`.
 *
 * @example
 * ```ts
 * app.use('*', bodyLimitOf(65_536));
 * ```
 */
export function bodyLimitOf(maxBytes: number): MiddlewareHandler {
  return bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw new ApiError(413, 'payload_too_large', 'Request body is too large');
    },
  });
}
