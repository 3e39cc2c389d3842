/**
 * Typed environment bindings: each option of {@link OptimizationConfig} names the variable that
 * sets it, so the README's configuration table, the parser and the errors agree.
 *
 * @module
 */
import type { EnvReader } from '../runtime/env.ts';

/** How one environment variable sets one option. */
export interface EnvBinding {
  /** Variable name, e.g. `QF_MAX_RETRY_ATTEMPTS`. */
  env: string;
  /** Dotted path of the option, e.g. `maxRetryAttempts` or `cache.memoryMaxEntries`. */
  path: string;
  /** How to read the text. */
  type: 'boolean' | 'number' | 'string';
}

/** Thrown when an environment variable cannot be read as its option's type. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

function parseValue(binding: EnvBinding, raw: string): unknown {
  const text = raw.trim();
  if (binding.type === 'string') return text;
  if (binding.type === 'boolean') {
    if (/^(1|true|yes|on)$/i.test(text)) return true;
    if (/^(0|false|no|off)$/i.test(text)) return false;
    throw new ConfigError(
      `${binding.env} must be true or false (also 1/0, yes/no, on/off): received ${
        JSON.stringify(raw)
      }`,
    );
  }
  const n = Number(text);
  if (text === '' || !Number.isFinite(n)) {
    throw new ConfigError(
      `${binding.env} must be a finite number: received ${JSON.stringify(raw)}`,
    );
  }
  return n;
}

/**
 * Builds a nested partial config from the variables that are set.
 *
 * @example
 * ```ts
 * readEnvBindings([{ env: 'QF_MAX_RETRY_ATTEMPTS', path: 'maxRetryAttempts', type: 'number' }],
 *   (name) => ({ QF_MAX_RETRY_ATTEMPTS: '5' })[name]); // { maxRetryAttempts: 5 }
 * ```
 */
export function readEnvBindings(
  bindings: readonly EnvBinding[],
  env: EnvReader,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const binding of bindings) {
    const raw = env(binding.env);
    if (raw === undefined || raw === '') continue;
    const parts = binding.path.split('.');
    let node = out;
    for (const part of parts.slice(0, -1)) {
      node = (node[part] ??= {}) as Record<string, unknown>;
    }
    node[parts[parts.length - 1]] = parseValue(binding, raw);
  }
  return out;
}
