/**
 * The option sections' fast path: an input that sets nothing but default values is its defaults,
 * so the option parsers answer it without building or running a zod schema (about 20 ms of CPU
 * to build the optimizer's schemas and 10-20 ms to compile and run their validators, measured on
 * a cold start; see docs/performance.md, "Cold start, second pass"). Anything else is validated
 * by the schema, which is built on that first use (`z.lazy`) and run without zod's compiled fast
 * path (`jitless`: a parser compiled for one call costs more than it saves).
 *
 * @module
 */

/**
 * True when every own key of `input` is a key of `defaults` holding the same value
 * (`Object.is`), so validating `input` would yield `defaults`. `undefined` values of known keys count
 * as unset, as zod's `.default()` treats them (an unknown key is never a default: `.strict()`).
 *
 * @example
 * ```ts
 * setsOnlyDefaults({ a: 1 }, { a: 1, b: 2 }); // true
 * setsOnlyDefaults({ a: 3 }, { a: 1, b: 2 }); // false
 * ```
 */
export function setsOnlyDefaults(input: unknown, defaults: object): boolean {
  if (input === undefined) return true;
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return false;
  if (Object.getPrototypeOf(input) !== Object.prototype && Object.getPrototypeOf(input) !== null) {
    return false;
  }
  for (const key of Object.keys(input)) {
    if (!Object.hasOwn(defaults, key)) return false;
    const value = (input as Record<string, unknown>)[key];
    if (value === undefined) continue;
    if (!Object.is(value, (defaults as Record<string, unknown>)[key])) return false;
  }
  return true;
}

let built = 0;

/**
 * Counts a schema build: the option schemas call it from their `z.lazy` getter, so a test can
 * tell that the default path built none ({@link optionSchemasBuilt}).
 */
export function countSchemaBuild(): void {
  built++;
}

/** How many option schemas this isolate has built so far (tests of the fast path). */
export function optionSchemasBuilt(): number {
  return built;
}
