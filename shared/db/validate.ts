/**
 * zod parsing that throws the data layer's typed {@link DbValidationError}.
 *
 * @module
 */
import type { z } from 'zod';
import { DbValidationError } from './errors.ts';
import { isUuid } from './claims.ts';

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
 * Throws {@link DbValidationError} unless `value` is a uuid.
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
  return value;
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
