/**
 * The optional JSON body of the service routes (`POST /optimizer/run`, `/system`,
 * `/recommendations/:id/apply`, `POST /warmup`): cron's pg_net sends
 * `Content-Type: application/json` with a JSON object, operators may send nothing at all.
 *
 * A folder starting with `_` is not served; each function's own deno.json resolves this file's
 * imports (tests/unit/function_layout_test.ts checks it).
 *
 * @module
 */
import type { z } from 'zod';
import type { Context } from 'hono';
import { ApiError } from '@shared/http/errors.ts';

/**
 * Reads an optional JSON body and validates it with `schema`: an empty body is `{}`; a body over
 * `maxBytes` is 413 `body_too_large`; anything but `application/json` is 415
 * `unsupported_media_type`; bad JSON is 400 `invalid_json`; a body the schema refuses is 400
 * `invalid_body` with the first issue in the message and every issue in `details`.
 *
 * @example
 * ```ts
 * const body = await optionalJsonBody(c, z.object({ trigger: z.string().optional() }), 16_384);
 * ```
 */
export async function optionalJsonBody<T>(
  c: Context,
  schema: z.ZodType<T>,
  maxBytes = Infinity,
): Promise<T> {
  const text = await c.req.text();
  if (text.length > maxBytes) {
    throw new ApiError(413, 'body_too_large', `The body must be at most ${maxBytes} bytes`);
  }
  let value: unknown = {};
  if (text.trim() !== '') {
    const type = c.req.header('content-type') ?? '';
    if (!/^application\/json\b/i.test(type)) {
      throw new ApiError(415, 'unsupported_media_type', 'The body must be application/json');
    }
    try {
      value = JSON.parse(text);
    } catch {
      throw new ApiError(400, 'invalid_json', 'The body is not valid JSON');
    }
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ApiError(
      400,
      'invalid_body',
      `${issue.path.join('.') || 'body'}: ${issue.message}`,
      { details: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
    );
  }
  return parsed.data;
}
