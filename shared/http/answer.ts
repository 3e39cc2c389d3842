/**
 * One request's answer headers, kept as a list and written once onto the answer, instead of
 * Hono's prepared `Headers` that `c.body` copies into every response (Deno iterates, sorts and
 * validates them a second time: 12-15 us for the ten headers of a read, against about 5 us for
 * the same headers appended to the response; docs/performance.md, the miss path's third pass).
 *
 * `createFunctionApp`'s shared middleware (`app.ts`) opens the request's answer
 * ({@link openAnswer}) and closes it after the handler ({@link closeAnswer}): the request id,
 * instance id and CORS headers, then the headers a read added ({@link answerHeader}), each
 * unless the answer already carries it. {@link answerBody} builds the answer itself with all of
 * them, so the close has nothing left to add but `Server-Timing`.
 *
 * Outside such an app (a bare `Hono` in tests), or once anything called `c.header` before the
 * answer (headers this list does not hold), both fall back to Hono's `c.header` and `c.body`:
 * the answer is the same, only built the slower way.
 *
 * @module
 */
import type { Context } from 'hono';
import type { ContentfulStatusCode, StatusCode } from 'hono/utils/http-status';

/** What the shared middleware prepared for one request's answer. */
interface Answer {
  /** The request's `x-request-id`. */
  requestId: string;
  /** The other base headers (instance id, CORS, `timing-allow-origin`), alike for every request. */
  base: readonly (readonly [string, string])[];
  /** Headers added with {@link answerHeader} before the answer. */
  pending: [string, string][];
  /** Whether something called `c.header` before the answer (Hono prepared headers). */
  prepared: boolean;
  /** Whether {@link answerBody} built the answer (it carries `base` and `pending`). */
  built: boolean;
  /** The answer {@link answerBody} built. */
  response?: Response;
}

// On the context itself (a symbol-keyed field): a WeakMap entry per request cost more, in the
// collector's ephemeron work, than the lookups it served.
const ANSWER: unique symbol = Symbol('answer');
type WithAnswer = Context & { [ANSWER]?: Answer };
const answerOf = (c: Context): Answer | undefined => (c as WithAnswer)[ANSWER];

/**
 * Opens the answer of the request `c` with its base headers, `x-request-id` then `base` (the
 * shared middleware, before the handler). `c.header` still works as Hono's and marks the answer
 * as prepared.
 *
 * @example
 * ```ts
 * openAnswer(c, id, [['access-control-allow-origin', '*']]);
 * ```
 */
export function openAnswer(
  c: Context,
  requestId: string,
  base: readonly (readonly [string, string])[],
): void {
  const answer: Answer = { requestId, base, pending: [], prepared: false, built: false };
  (c as WithAnswer)[ANSWER] = answer;
  const header = c.header;
  c.header = ((name: string, value?: string, options?: { append?: boolean }) => {
    answer.prepared = true;
    header(name, value as string, options);
  }) as Context['header'];
}

/**
 * Adds the base and pending headers the answer `c.res` lacks (the shared middleware, after the
 * handler), in place ({@link appendAnswerHeader}); nothing when {@link answerBody} built it.
 *
 * @example
 * ```ts
 * await next();
 * closeAnswer(c);
 * ```
 */
export function closeAnswer(c: Context): void {
  const answer = answerOf(c);
  // A copy of the built answer (a later `c.header`, Hono's `set res`) carries its headers too,
  // but is checked as any other answer.
  if (!answer || (answer.built && c.res === answer.response)) return;
  const add = (name: string, value: string) => {
    if (!c.res.headers.has(name)) appendAnswerHeader(c, name, value);
  };
  add('x-request-id', answer.requestId);
  for (const [name, value] of answer.base) add(name, value);
  for (const [name, value] of answer.pending) add(name, value);
}

/**
 * Sets a header of the request's answer, whatever builds it (`c.header`'s meaning: a later value
 * of the same name replaces an earlier one).
 *
 * @example
 * ```ts
 * answerHeader(c, 'cache-control', 'private, no-store');
 * ```
 */
export function answerHeader(c: Context, name: string, value: string): void {
  const answer = answerOf(c);
  if (!answer || answer.prepared || answer.built) return c.header(name, value);
  const pending = answer.pending;
  for (let i = 0; i < pending.length; i++) {
    if (pending[i][0] === name) {
      pending[i] = [name, value];
      return;
    }
  }
  pending.push([name, value]);
}

/**
 * The answer of the request: `body` with `status`, `contentType` when given, `headers` (lower
 * case names, each once), the base headers and those {@link answerHeader} added. Built in one
 * go; through `c.header` and `c.body` when the request has no open answer or Hono holds
 * prepared headers.
 *
 * @example
 * ```ts
 * return answerBody(c, text, 200, [['etag', etag]], 'application/json; charset=UTF-8');
 * ```
 */
export function answerBody(
  c: Context,
  body: string | null,
  status: StatusCode,
  headers: [string, string][],
  contentType?: string,
): Response {
  const answer = answerOf(c);
  if (!answer || answer.prepared || answer.built) {
    for (const [name, value] of headers) c.header(name, value);
    if (contentType) c.header('content-type', contentType);
    return body === null ? c.body(null, status) : c.body(body, status as ContentfulStatusCode);
  }
  const response = new Response(body, { status });
  const out = response.headers;
  // `set`: a text body comes with a default `text/plain` type, replaced here.
  if (contentType) out.set('content-type', contentType);
  out.append('x-request-id', answer.requestId);
  for (const [name, value] of answer.base) out.append(name, value);
  for (const [name, value] of answer.pending) {
    if (!headers.some(([given]) => given === name)) out.append(name, value);
  }
  for (const [name, value] of headers) out.append(name, value);
  answer.built = true;
  answer.response = response;
  return response;
}

/**
 * Writes one header onto the answer already made (`c.res`), in place; an immutable answer (a
 * redirect, a fetched response) is copied once first, as Hono's setter would.
 */
function writeOnAnswer(c: Context, name: string, value: string, append: boolean): void {
  try {
    if (append) c.res.headers.append(name, value);
    else c.res.headers.set(name, value);
  } catch {
    c.res = new Response(c.res.body, c.res);
    if (append) c.res.headers.append(name, value);
    else c.res.headers.set(name, value);
  }
}

/**
 * Appends a header to the answer already made (`c.res`, after `next()`), in place (the shared
 * middleware's headers, `Server-Timing`).
 *
 * @example
 * ```ts
 * await next();
 * appendAnswerHeader(c, 'server-timing', 'total;dur=1.2');
 * ```
 */
export function appendAnswerHeader(c: Context, name: string, value: string): void {
  writeOnAnswer(c, name, value, true);
}

/**
 * Sets headers on the answer already made (`c.res`, after `next()`), in place: Hono's `c.header`
 * on a finished answer copies the whole response for each header (the rate limit's three
 * `RateLimit-*` headers made three copies of every limited answer).
 *
 * @example
 * ```ts
 * await next();
 * setAnswerHeaders(c, { 'ratelimit-limit': '300' });
 * ```
 */
export function setAnswerHeaders(c: Context, headers: Readonly<Record<string, string>>): void {
  for (const name in headers) writeOnAnswer(c, name, headers[name], false);
}
