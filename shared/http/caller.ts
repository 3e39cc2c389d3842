/**
 * Who is calling, as the data layer and the cache see it: the signed-in user (RLS as that user,
 * cache keys under `u=<id>`) or anyone else (RLS as `anon`, public keys).
 *
 * @module
 */
import type { Context, MiddlewareHandler } from 'hono';
import { createMiddleware } from 'hono/factory';
import { type Caller, userCaller } from '../db/caller.ts';
import type { AuthContext } from './auth.ts';
import { ApiError } from './errors.ts';

// Any function's context: the `auth` variable is set by `authenticate()`.
// deno-lint-ignore no-explicit-any
type AuthContextLike = Context<any>;

/** The caller of a request: the database caller and, for signed-in users, their id. */
export interface RequestCaller {
  /** How the repositories run the call (RLS as the user, or as anon). */
  caller: Caller;
  /** The signed-in user's id (canonical lowercase uuid); absent for everyone else. */
  userId?: string;
}

/** The anonymous database caller: public rows only. */
export const ANON_CALLER: Caller = Object.freeze(userCaller({ role: 'anon' }));

/**
 * How the database sees the request: the signed-in user, else `anon`.
 *
 * @example
 * ```ts
 * const { caller, userId } = callerOf(c);
 * const key = userId ? userKey(userId, 'robots', id) : scopedKey('public', 'robots', id);
 * ```
 */
export function callerOf(c: AuthContextLike): RequestCaller {
  const auth = c.get('auth') as AuthContext | undefined;
  if (auth?.role === 'authenticated' && auth.userId) {
    return {
      caller: userCaller({ ...auth.claims, role: 'authenticated' }),
      userId: auth.userId.toLowerCase(),
    };
  }
  return { caller: ANON_CALLER };
}

/**
 * The signed-in user (caller and id), or a 401 `login_required`.
 *
 * @example
 * ```ts
 * const { caller, userId } = requireUser(c);
 * ```
 */
export function requireUser(c: AuthContextLike): Required<RequestCaller> {
  const { caller, userId } = callerOf(c);
  if (!userId) {
    throw new ApiError(401, 'login_required', 'This route needs a signed-in user JWT');
  }
  return { caller, userId };
}

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Middleware: every write (POST, PUT, PATCH, DELETE) needs a signed-in user, checked before the
 * body is read or validated, so an anonymous caller learns nothing about the input rules.
 *
 * @example
 * ```ts
 * app.use('*', authenticate());
 * app.use('*', writesNeedUser);
 * app.post('/', validJson(createBodySchema), (c) => ...); // anon: 401 before any 400
 * ```
 */
export const writesNeedUser: MiddlewareHandler = createMiddleware(
  async function writesNeedUser(c, next) {
    if (!READ_METHODS.has(c.req.method)) requireUser(c);
    await next();
  },
);
