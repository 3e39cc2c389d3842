/**
 * API keys and the auth configuration, read the way Supabase provides them to Edge Functions and
 * the way `@supabase/server` reads them:
 *
 * | variable | format | meaning |
 * |---|---|---|
 * | `SUPABASE_PUBLISHABLE_KEYS` | `{"default":"sb_publishable_..."}` | named publishable keys (wins over the singular) |
 * | `SUPABASE_PUBLISHABLE_KEY` | `sb_publishable_...` | one publishable key, stored as `default` |
 * | `SUPABASE_SECRET_KEYS` | `{"default":"sb_secret_..."}` | named secret keys (wins over the singular) |
 * | `SUPABASE_SECRET_KEY` | `sb_secret_...` | one secret key, stored as `default` |
 * | `SUPABASE_JWKS` | `{"keys":[...]}` or `[...]` | inline JWKS (wins over the URL) |
 * | `SUPABASE_JWKS_URL` | `https://<ref>.supabase.co/auth/v1/.well-known/jwks.json` | remote JWKS |
 * | `SUPABASE_URL` | `https://<ref>.supabase.co` | expected issuer `<url>/auth/v1`; JWKS URL when neither above is set |
 * | `SUPABASE_JWT_SECRET` | string | legacy HS256 secret |
 * | `SUPABASE_ANON_KEY`, `SUPABASE_SERVICE_ROLE_KEY` | JWT | legacy keys, compared as they are |
 * | `CRON_SECRET` | string | legacy `x-cron-secret` value |
 *
 * @module
 */
import { type EnvReader, processEnv } from '../../runtime/env.ts';
import { timingSafeEqualText } from '../../runtime/timing_safe_equal.ts';

/** The Supabase CLI's local JWT secret: the legacy HS256 default on a local machine. */
export const LOCAL_JWT_SECRET = 'super-secret-jwt-token-with-at-least-32-characters-long';

/** The Supabase CLI's local publishable key (`supabase status` prints it). */
export const LOCAL_PUBLISHABLE_KEY = 'sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH';

/** The Supabase CLI's local secret key (`supabase status` prints it). */
export const LOCAL_SECRET_KEY = 'sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz';

/** Every variable {@link readAuthConfig} reads. */
export const AUTH_ENV_VARIABLES = [
  'SUPABASE_URL',
  'SUPABASE_PUBLISHABLE_KEYS',
  'SUPABASE_PUBLISHABLE_KEY',
  'SUPABASE_SECRET_KEYS',
  'SUPABASE_SECRET_KEY',
  'SUPABASE_JWKS',
  'SUPABASE_JWKS_URL',
  'SUPABASE_JWT_SECRET',
  'SUPABASE_ANON_KEY',
  'SUPABASE_SERVICE_ROLE_KEY',
  'CRON_SECRET',
] as const;

/** A JSON Web Key as a JWKS lists it. */
export interface Jwk {
  kty: string;
  kid?: string;
  alg?: string;
  use?: string;
  [field: string]: unknown;
}

/** One configured key, pre-encoded for comparison. */
export interface NamedKey {
  name: string;
  /** The key as configured (compared with {@link timingSafeEqualText}). */
  text: string;
}

/** The parsed configuration. Built once per distinct set of variable values. */
export interface AuthConfig {
  publishableKeys: NamedKey[];
  secretKeys: NamedKey[];
  /** Inline JWKS, or `null`. */
  jwks: { keys: Jwk[] } | null;
  /** Remote JWKS endpoint (https, or http on loopback), or `null`. */
  jwksUrl: string | null;
  /** `<SUPABASE_URL>/auth/v1`: the issuer of user tokens, or `null` when unknown. */
  issuer: string | null;
  /** Legacy HS256 secret, or `null` (no HS256 token is then accepted). */
  jwtSecret: string | null;
  legacyAnonKey: Uint8Array | null;
  legacyServiceRoleKey: Uint8Array | null;
  cronSecret: Uint8Array | null;
  /** Problems with the configuration, for the server's log (never for callers). */
  warnings: string[];
}

const encoder = new TextEncoder();

/**
 * The name of the configured key equal to `presented` (all keys compared, constant time), or
 * `undefined`.
 *
 * @example
 * ```ts
 * matchKey('sb_secret_x', config.secretKeys); // 'default' | undefined
 * ```
 */
export function matchKey(presented: string, keys: NamedKey[]): string | undefined {
  let match: string | undefined;
  for (const key of keys) {
    if (timingSafeEqualText(presented, key.text) && match === undefined) match = key.name;
  }
  return match;
}

function parseKeys(
  plural: string | undefined,
  singular: string | undefined,
  variable: string,
  warnings: string[],
): NamedKey[] {
  let entries: [string, unknown][] = [];
  if (plural?.trim()) {
    try {
      const parsed = JSON.parse(plural);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
        entries = Object.entries(parsed);
      } else warnings.push(`${variable} must be a JSON object of named keys`);
    } catch {
      warnings.push(`${variable} is not valid JSON`);
    }
  } else if (singular?.trim()) {
    entries = [['default', singular.trim()]];
  }
  return entries
    .filter((entry): entry is [string, string] => typeof entry[1] === 'string' && entry[1] !== '')
    .map(([name, value]) => ({ name, text: value }));
}

/**
 * Loopback, or a host only a local stack has: a single-label name (`kong`, the API gateway of the
 * CLI's Docker network) or `host.docker.internal`. A deployed project's URL always has a domain.
 */
function isLocalHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname.endsWith('.localhost') || hostname === '[::1]' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname) ||
    (!hostname.includes('.') && !hostname.startsWith('[')) ||
    hostname === 'host.docker.internal';
}

/** `https:` anywhere, `http:` only on a local host (a MITM could swap keys in), else `null`. */
function safeUrl(raw: string, variable: string, warnings: string[]): URL | null {
  try {
    const url = new URL(raw.trim());
    if (url.protocol === 'https:' || (url.protocol === 'http:' && isLocalHost(url.hostname))) {
      return url;
    }
    warnings.push(`${variable} must be https (http only on a local host)`);
  } catch {
    warnings.push(`${variable} is not a URL`);
  }
  return null;
}

function parseJwks(raw: string, warnings: string[]): { keys: Jwk[] } | null {
  try {
    const parsed = JSON.parse(raw);
    const keys = Array.isArray(parsed) ? parsed : parsed?.keys;
    if (Array.isArray(keys)) return { keys: keys.filter((k) => k && typeof k.kty === 'string') };
  } catch {
    // reported below
  }
  warnings.push('SUPABASE_JWKS must be {"keys":[...]} or [...]');
  return null;
}

/** Whether `SUPABASE_URL` is unset or a local host: the local-development defaults apply. */
function isLocal(url: string | undefined): boolean {
  if (!url) return true;
  try {
    return isLocalHost(new URL(url).hostname);
  } catch {
    return false;
  }
}

function build(values: (string | undefined)[]): AuthConfig {
  const [
    url,
    publishablePlural,
    publishable,
    secretPlural,
    secret,
    jwks,
    jwksUrl,
    jwtSecret,
    anonKey,
    serviceRoleKey,
    cronSecret,
  ] = values;
  const warnings: string[] = [];
  const base = url?.trim() ? safeUrl(url, 'SUPABASE_URL', warnings) : null;
  let inline: AuthConfig['jwks'] = null;
  let remote: string | null = null;
  if (jwks?.trim()) inline = parseJwks(jwks, warnings);
  else if (jwksUrl?.trim()) remote = safeUrl(jwksUrl, 'SUPABASE_JWKS_URL', warnings)?.href ?? null;
  else if (base) {
    remote = new URL('auth/v1/.well-known/jwks.json', base.href.replace(/\/?$/, '/')).href;
  }
  const optional = (value: string | undefined) =>
    value?.trim() ? encoder.encode(value.trim()) : null;
  return {
    publishableKeys: parseKeys(
      publishablePlural,
      publishable,
      'SUPABASE_PUBLISHABLE_KEYS',
      warnings,
    ),
    secretKeys: parseKeys(secretPlural, secret, 'SUPABASE_SECRET_KEYS', warnings),
    jwks: inline,
    jwksUrl: remote,
    issuer: base ? `${base.href.replace(/\/$/, '')}/auth/v1` : null,
    // The CLI's well-known local secret only where the project is local: a deployed function
    // without SUPABASE_JWT_SECRET must not accept tokens anyone can sign.
    jwtSecret: jwtSecret?.trim() || (isLocal(url) ? LOCAL_JWT_SECRET : null),
    legacyAnonKey: optional(anonKey),
    legacyServiceRoleKey: optional(serviceRoleKey),
    cronSecret: optional(cronSecret),
    warnings,
  };
}

const memo = new WeakMap<EnvReader, { fingerprint: string; config: AuthConfig }>();
/** The process environment's configuration, read once per isolate (see {@link resetAuthConfig}). */
let processConfig: AuthConfig | undefined;

/**
 * Reads the auth configuration. From the process environment ({@link processEnv}) it is read and
 * parsed once per isolate: Supabase fixes a function's secrets for the life of an isolate, and
 * reading the eleven variables on every request was the top entry of the hot path's profile
 * (docs/performance.md). Code that changes them at run time (the dev server's local auth, tests)
 * calls {@link resetAuthConfig}. Other readers (tests pass maps) are read on every call and
 * parsed once per distinct set of values.
 *
 * @example
 * ```ts
 * const config = readAuthConfig(processEnv);
 * config.secretKeys.map((k) => k.name); // ['default']
 * ```
 */
export function readAuthConfig(env: EnvReader): AuthConfig {
  if (env === processEnv && processConfig) return processConfig;
  const values = AUTH_ENV_VARIABLES.map((name) => env(name));
  const fingerprint = values.map((v) => v ?? '\u0000').join('\u0001');
  const cached = memo.get(env);
  if (cached?.fingerprint === fingerprint) {
    if (env === processEnv) processConfig = cached.config;
    return cached.config;
  }
  const config = build(values);
  for (const warning of config.warnings) console.warn(`auth configuration: ${warning}`);
  memo.set(env, { fingerprint, config });
  if (env === processEnv) processConfig = config;
  return config;
}

/**
 * Forgets the configuration read from the process environment, so the next request reads the
 * variables again. For code that sets them after a request was served (the dev server's local
 * auth set-up, tests).
 *
 * @example
 * ```ts
 * Deno.env.set('SUPABASE_SECRET_KEY', 'sb_secret_new');
 * resetAuthConfig();
 * ```
 */
export function resetAuthConfig(): void {
  processConfig = undefined;
}
