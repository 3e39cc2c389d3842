/**
 * Auth modes with `@supabase/server`'s names, and who the caller is.
 *
 * | mode | accepted credential |
 * |---|---|
 * | `user` | a valid user JWT in `Authorization: Bearer` |
 * | `publishable` | a publishable key in `apikey` (legacy: the anon JWT) |
 * | `secret` | a secret key in `apikey` or `Authorization: Bearer` (legacy: the service_role JWT, `x-cron-secret`) |
 * | `none` | nothing |
 *
 * A credential that is present but wrong is refused (401) whatever the route accepts: a bad
 * credential is never downgraded to a weaker mode.
 *
 * @module
 */
import { ApiError } from '../errors.ts';
import { type AuthConfig, matchKey } from './keys.ts';
import { timingSafeEqual } from '../../runtime/timing_safe_equal.ts';
import { JwtError } from './jwt.ts';
import type { TokenVerifier } from './verifier.ts';

/** Supabase's auth modes. */
export type AuthMode = 'user' | 'publishable' | 'secret' | 'none';

/** Every mode, for validation. */
export const AUTH_MODES: readonly AuthMode[] = ['user', 'publishable', 'secret', 'none'];

/** The kind of API key (or legacy credential) the caller presented. */
export type KeyType =
  | 'publishable'
  | 'secret'
  | 'legacy_anon'
  | 'legacy_service_role'
  | 'cron_secret';

/** The caller, as the functions see it. */
export interface AuthContext {
  /** `authenticated` (or the JWT's role), `anon`, `service_role`, or `cron` (`x-cron-secret`). */
  role: string;
  /** The user's id (`sub`) for `user` callers. */
  userId?: string;
  /** The verified JWT claims (empty for API-key callers). */
  claims: Record<string, unknown>;
  /** Whether the caller may run service work (warming, optimizer runs): the `secret` mode. */
  isService: boolean;
  /** The mode the request was admitted under. */
  authMode: AuthMode;
  /** The API key presented, when one was (a user request usually carries the publishable key). */
  keyType?: KeyType;
  /** Which named key matched (`default` for the singular variables). */
  keyName?: string;
}

interface Presented {
  key?: { type: KeyType; name?: string; claims?: Record<string, unknown> };
  user?: Record<string, unknown>;
  any: boolean;
}

const encoder = new TextEncoder();
const RANK: Record<KeyType, number> = {
  legacy_anon: 1,
  publishable: 1,
  cron_secret: 2,
  legacy_service_role: 2,
  secret: 2,
};

function invalidJwt(error: JwtError): ApiError {
  return new ApiError(401, 'invalid_jwt', `Invalid JWT: ${error.message}`);
}

const invalidKey = () => new ApiError(401, 'invalid_api_key', 'Invalid API key');

/** A legacy key given as it is configured, or a JWT checked for its role. */
async function legacyKey(
  value: string,
  config: AuthConfig,
  verifier: TokenVerifier,
): Promise<Presented['key'] | { user: Record<string, unknown> } | undefined> {
  // Compared only at the configured key's length (a length is public: a user's token is longer
  // than the legacy keys, and encoding it on every request cost 3% of a cached hit).
  const service = config.legacyServiceRoleKey;
  const anon = config.legacyAnonKey;
  if (value.length === service?.length || value.length === anon?.length) {
    const bytes = encoder.encode(value);
    if (service && timingSafeEqual(bytes, service)) {
      return { type: 'legacy_service_role', claims: { role: 'service_role' } };
    }
    if (anon && timingSafeEqual(bytes, anon)) {
      return { type: 'legacy_anon', claims: { role: 'anon' } };
    }
  }
  if (!value.startsWith('eyJ')) return undefined;
  let claims: Record<string, unknown>;
  try {
    claims = (await verifier.verify(value, config)).claims;
  } catch (error) {
    // Anything else is not the token's fault: the middleware logs it.
    throw error instanceof JwtError ? invalidJwt(error) : error;
  }
  if (claims.role === 'service_role') return { type: 'legacy_service_role', claims };
  if (claims.role === 'anon') return { type: 'legacy_anon', claims };
  return { user: claims };
}

async function apiKey(
  value: string,
  config: AuthConfig,
  verifier: TokenVerifier,
): Promise<NonNullable<Presented['key']>> {
  if (value.startsWith('sb_secret_')) {
    const name = matchKey(value, config.secretKeys);
    if (name !== undefined) return { type: 'secret', name };
  } else if (value.startsWith('sb_publishable_')) {
    const name = matchKey(value, config.publishableKeys);
    if (name !== undefined) return { type: 'publishable', name };
  } else {
    const legacy = await legacyKey(value, config, verifier);
    if (legacy && 'type' in legacy) return legacy;
  }
  throw invalidKey();
}

/** Browsers send `Origin` on cross-origin and non-GET requests and a `Mozilla/` user agent. */
function fromBrowser(headers: Headers): boolean {
  return headers.has('origin') || (headers.get('user-agent') ?? '').startsWith('Mozilla/');
}

async function present(
  headers: Headers,
  config: AuthConfig,
  verifier: TokenVerifier,
): Promise<Presented> {
  const result: Presented = { any: false };
  const authorization = headers.get('authorization');
  let bearer: string | undefined;
  if (authorization !== null) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!match) {
      throw new ApiError(401, 'invalid_authorization', "Authorization must be 'Bearer <token>'");
    }
    bearer = match[1];
  }
  const keys: string[] = [];
  const apikeyHeader = headers.get('apikey')?.trim();
  if (apikeyHeader) keys.push(apikeyHeader);
  // supabase-js sends the project key as the bearer too when no user is signed in.
  if (bearer?.startsWith('sb_') && bearer !== apikeyHeader) keys.push(bearer);
  for (const value of keys) {
    const key = await apiKey(value, config, verifier);
    if (!result.key || RANK[key.type] > RANK[result.key.type]) result.key = key;
  }
  if (bearer && !bearer.startsWith('sb_')) {
    const legacy = await legacyKey(bearer, config, verifier);
    if (legacy && 'user' in legacy) {
      if (typeof legacy.user.sub !== 'string' || legacy.user.sub === '') {
        throw new ApiError(401, 'invalid_jwt', 'Invalid JWT: the token has no subject');
      }
      result.user = legacy.user;
    } else if (legacy) {
      if (!result.key || RANK[legacy.type] > RANK[result.key.type]) result.key = legacy;
    } else {
      throw invalidJwt(new JwtError('malformed'));
    }
  }
  const cron = headers.get('x-cron-secret');
  if (cron !== null) {
    if (!config.cronSecret || !timingSafeEqual(encoder.encode(cron), config.cronSecret)) {
      throw new ApiError(401, 'invalid_cron_secret', 'Invalid x-cron-secret');
    }
    if (!result.key || RANK.cron_secret > RANK[result.key.type]) {
      result.key = { type: 'cron_secret' };
    }
  }
  if (result.key?.type === 'secret' && fromBrowser(headers)) {
    throw new ApiError(
      401,
      'secret_key_in_browser',
      'Secret API keys are refused from browsers: use the publishable key and a user session',
    );
  }
  result.any = result.key !== undefined || result.user !== undefined;
  return result;
}

function contextFor(mode: AuthMode, caller: Presented): AuthContext | undefined {
  const key = caller.key;
  const keyInfo = key ? { keyType: key.type, keyName: key.name } : {};
  switch (mode) {
    case 'user': {
      if (!caller.user) return undefined;
      const role = typeof caller.user.role === 'string' ? caller.user.role : 'authenticated';
      return {
        role,
        userId: caller.user.sub as string,
        claims: caller.user,
        isService: false,
        authMode: 'user',
        ...keyInfo,
      };
    }
    case 'secret':
      if (!key || RANK[key.type] < 2) return undefined;
      return {
        role: key.type === 'cron_secret' ? 'cron' : 'service_role',
        claims: key.claims ?? {},
        isService: true,
        authMode: 'secret',
        ...keyInfo,
      };
    case 'publishable':
      if (!key || (key.type !== 'publishable' && key.type !== 'legacy_anon')) return undefined;
      return {
        role: 'anon',
        claims: key.claims ?? {},
        isService: false,
        authMode: 'publishable',
        ...keyInfo,
      };
    case 'none':
      return { role: 'anon', claims: {}, isService: false, authMode: 'none', ...keyInfo };
  }
}

/**
 * Who is calling, admitted under the first of `modes` the credentials satisfy. Throws
 * {@link ApiError}: 401 for missing or invalid credentials, 403 when valid credentials are not
 * enough for a `secret` route.
 *
 * @example
 * ```ts
 * const auth = await resolveCaller(c.req.raw.headers, ['user', 'secret'], config, verifier);
 * ```
 */
export async function resolveCaller(
  headers: Headers,
  modes: readonly AuthMode[],
  config: AuthConfig,
  verifier: TokenVerifier,
): Promise<AuthContext> {
  if (modes.length === 1 && modes[0] === 'none') {
    return { role: 'anon', claims: {}, isService: false, authMode: 'none' };
  }
  const caller = await present(headers, config, verifier);
  for (const mode of modes) {
    const context = contextFor(mode, caller);
    if (context) return context;
  }
  if (!caller.any) {
    throw new ApiError(401, 'missing_authorization', `This route needs ${describe(modes)}`);
  }
  if (modes.includes('user')) {
    throw new ApiError(401, 'login_required', 'This route needs a signed-in user');
  }
  if (modes.includes('secret')) {
    throw new ApiError(403, 'service_only', 'This route needs a secret API key');
  }
  throw new ApiError(401, 'missing_api_key', `This route needs ${describe(modes)}`);
}

function describe(modes: readonly AuthMode[]): string {
  const names: Record<AuthMode, string> = {
    user: "a user's JWT in 'Authorization: Bearer'",
    publishable: "a publishable key in 'apikey'",
    secret: "a secret key in 'apikey'",
    none: 'nothing',
  };
  return modes.map((m) => names[m]).join(' or ');
}
