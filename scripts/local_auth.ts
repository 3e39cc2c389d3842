/**
 * Local Supabase Auth for the dev server: the part of Supabase Auth's (GoTrue's) HTTP API that
 * supabase-js uses for email and password, served at `/auth/v1/` next to the functions.
 *
 * | route | what it does |
 * |---|---|
 * | `POST /auth/v1/signup` | creates the user (confirmed at once, as the CLI's local stack does) and returns a session |
 * | `POST /auth/v1/token?grant_type=password` | checks email + password, returns a session |
 * | `POST /auth/v1/token?grant_type=refresh_token` | rotates the refresh token, returns a new session |
 * | `GET /auth/v1/user` | the user of the bearer access token |
 * | `POST /auth/v1/logout?scope=global\|local\|others` | ends the session(s), 204 |
 *
 * Users live in `auth.users` of the local database (the columns `supabase/bootstrap.sql` creates
 * with Supabase's names), sessions in `auth.sessions`, refresh tokens in `auth.refresh_tokens`.
 * Passwords are bcrypt hashes (cost 10, as Supabase Auth). Access tokens carry Supabase's claims
 * and are signed with the checkout's ES256 key (`signLocalUserToken`), whose JWKS the dev server
 * serves, so the functions verify them exactly as they verify production tokens.
 *
 * Errors have Supabase Auth's bodies: `{ code: 'invalid_credentials', message }` for clients that
 * send `X-Supabase-Api-Version: 2024-01-01` (supabase-js does), else the legacy
 * `{ code: 400, error_code, msg }`.
 *
 * The rows and their SQL: `local_auth/store.ts`; this file is the HTTP API.
 *
 * DEVELOPMENT ONLY: this file is never part of a deployed function.
 *
 * @module
 */
import bcrypt from 'bcryptjs';
import { Hono } from 'hono';
import type { Context } from 'hono';
import { cors } from 'hono/cors';
import type { SqlExecutor } from '../shared/db/types.ts';
import { verifySupabaseJwt } from '../shared/http/auth.ts';
import { signLocalUserToken } from './local_keys.ts';
import { AuthError, AuthStore, userJson, type UserRow } from './local_auth/store.ts';

/** The API version Supabase Auth answers with when the client asks for it. */
const API_VERSION = '2024-01-01';
const API_VERSION_HEADER = 'x-supabase-api-version';

/** Options of {@link createLocalAuth}. */
export interface LocalAuthOptions {
  /** Where users, sessions and refresh tokens are kept (the dev server's database). */
  db: SqlExecutor;
  /** Access token lifetime in seconds. @default 3600 (Supabase Auth's `jwt_expiry`) */
  accessTokenSeconds?: number;
  /** Least password length. @default 6 (Supabase Auth's default) */
  minPasswordLength?: number;
  /** bcrypt cost. @default 10 (Supabase Auth's) */
  bcryptCost?: number;
  /** Verifies an access token and returns its claims. @default verifySupabaseJwt */
  verify?: (token: string) => Promise<Record<string, unknown>>;
  /** Signs an access token. @default signLocalUserToken */
  sign?: (
    claims: Record<string, unknown> & { sub: string },
    expiresInSeconds: number,
  ) => Promise<string>;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/**
 * The local Supabase Auth API as a Hono app with `basePath('/auth/v1')`.
 *
 * @example
 * ```ts
 * const auth = createLocalAuth({ db: await getDatabase() });
 * Deno.serve((req) => new URL(req.url).pathname.startsWith('/auth/v1/') ? auth.fetch(req) : gateway(req));
 * ```
 */
export function createLocalAuth(options: LocalAuthOptions): Hono {
  const {
    db,
    accessTokenSeconds = 3600,
    minPasswordLength = 6,
    bcryptCost = 10,
    verify = (token: string) => verifySupabaseJwt(token),
    sign = (claims, expiresInSeconds) => signLocalUserToken(claims, { expiresInSeconds }),
  } = options;

  const store = new AuthStore(db);

  /** A session answer: a fresh access token plus the refresh token. */
  const sessionJson = async (user: UserRow, sessionId: string, refreshToken: string) => {
    const now = Math.floor(Date.now() / 1000);
    const accessToken = await sign({
      sub: user.id,
      email: user.email,
      phone: '',
      role: user.role || 'authenticated',
      aud: user.aud || 'authenticated',
      session_id: sessionId,
      aal: 'aal1',
      amr: [{ method: 'password', timestamp: now }],
      app_metadata: user.raw_app_meta_data ?? { provider: 'email', providers: ['email'] },
      user_metadata: user.raw_user_meta_data ?? {},
      is_anonymous: user.is_anonymous,
    }, accessTokenSeconds);
    return {
      access_token: accessToken,
      token_type: 'bearer',
      expires_in: accessTokenSeconds,
      expires_at: now + accessTokenSeconds,
      refresh_token: refreshToken,
      user: userJson(user),
    };
  };

  /** Starts a session for `user` and returns its answer. */
  const startSession = async (user: UserRow, c: Context) => {
    const started = await store.startSession(user.id, c.req.header('user-agent') ?? null);
    return await sessionJson(started.user, started.sessionId, started.refreshToken);
  };

  const readBody = async (c: Context): Promise<Record<string, unknown>> => {
    try {
      const body = await c.req.json();
      if (body && typeof body === 'object' && !Array.isArray(body)) return body;
    } catch {
      // falls through
    }
    throw new AuthError(400, 'bad_json', 'Could not parse request body as JSON');
  };

  const stringField = (body: Record<string, unknown>, name: string) =>
    typeof body[name] === 'string' ? (body[name] as string) : '';

  /** The claims of the bearer access token, with its session and user still present. */
  const requireSession = async (c: Context) => {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) {
      throw new AuthError(401, 'no_authorization', 'This endpoint requires a valid Bearer token');
    }
    let claims: Record<string, unknown>;
    try {
      claims = await verify(match[1]);
    } catch (error) {
      throw new AuthError(
        403,
        'bad_jwt',
        `invalid JWT: unable to parse or verify signature, ${
          error instanceof Error ? error.message : String(error)
        }`,
      );
    }
    const sessionId = typeof claims.session_id === 'string' ? claims.session_id : '';
    const userId = typeof claims.sub === 'string' ? claims.sub : '';
    const session = sessionId ? await store.hasSession(sessionId, userId) : false;
    if (!session) {
      throw new AuthError(
        403,
        'session_not_found',
        'Session from session_id claim in JWT does not exist',
      );
    }
    const user = await store.user(userId);
    if (!user) {
      throw new AuthError(403, 'user_not_found', 'User from sub claim in JWT does not exist');
    }
    return { sessionId, user };
  };

  const app = new Hono().basePath('/auth/v1');
  app.use(
    '*',
    cors({
      origin: '*',
      allowHeaders: [
        'authorization',
        'apikey',
        'content-type',
        'x-client-info',
        API_VERSION_HEADER,
      ],
      allowMethods: ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'],
      exposeHeaders: [API_VERSION_HEADER],
    }),
  );
  app.use('*', async (c, next) => {
    // As Supabase's API gateway: every call carries the project's key.
    if (!c.req.header('apikey') && !c.req.header('authorization')) {
      return c.json({
        message: 'No API key found in request',
        hint: 'No `apikey` request header or url param was found.',
      }, 401);
    }
    await next();
    if (c.req.header(API_VERSION_HEADER) === API_VERSION) {
      c.res.headers.set(API_VERSION_HEADER, API_VERSION);
    }
  });

  const errorResponse = (error: unknown, c: Context) => {
    if (!(error instanceof AuthError)) {
      console.error('[local auth] unexpected failure:', error);
      error = new AuthError(
        500,
        'unexpected_failure',
        'Unexpected failure, please check server logs for more information',
      );
    }
    const { status, code, message, extra } = error as AuthError;
    const modern = (c.req.header(API_VERSION_HEADER) ?? '') >= API_VERSION;
    const body = modern
      ? { code, message, ...extra }
      : { code: status, error_code: code, msg: message, ...extra };
    const response = c.json(body, status as 400);
    if (modern) response.headers.set(API_VERSION_HEADER, API_VERSION);
    return response;
  };
  app.onError(errorResponse);

  app.post('/signup', async (c) => {
    const body = await readBody(c);
    const email = stringField(body, 'email').trim().toLowerCase();
    const password = stringField(body, 'password');
    if (!email) {
      throw new AuthError(400, 'validation_failed', 'To signup, please provide your email');
    }
    if (!EMAIL.test(email)) {
      throw new AuthError(
        400,
        'validation_failed',
        'Unable to validate email address: invalid format',
      );
    }
    if (!password) {
      throw new AuthError(400, 'validation_failed', 'Signup requires a valid password');
    }
    if (password.length < minPasswordLength) {
      throw new AuthError(
        422,
        'weak_password',
        `Password should be at least ${minPasswordLength} characters.`,
        { weak_password: { reasons: ['length'] } },
      );
    }
    const data = body.data && typeof body.data === 'object' && !Array.isArray(body.data)
      ? body.data
      : {};
    if (await store.userByEmail(email)) {
      throw new AuthError(422, 'user_already_exists', 'User already registered');
    }
    const created = await store.createUser(email, await bcrypt.hash(password, bcryptCost), data);
    if (!created) throw new AuthError(422, 'user_already_exists', 'User already registered');
    return c.json(await startSession(created, c));
  });

  app.post('/token', async (c) => {
    const grantType = c.req.query('grant_type');
    const body = await readBody(c);
    if (grantType === 'password') {
      const email = stringField(body, 'email').trim().toLowerCase();
      const password = stringField(body, 'password');
      if (!email) throw new AuthError(400, 'validation_failed', 'missing email or phone');
      const user = await store.userByEmail(email);
      const ok = user?.encrypted_password
        ? await bcrypt.compare(password, user.encrypted_password)
        : false;
      if (!user || !ok) {
        throw new AuthError(400, 'invalid_credentials', 'Invalid login credentials');
      }
      return c.json(await startSession(user, c));
    }
    if (grantType === 'refresh_token') {
      const token = stringField(body, 'refresh_token');
      if (!token) throw new AuthError(400, 'validation_failed', 'refresh_token required');
      const rotated = await store.revokeRefreshToken(token);
      if (rotated === 'already_used') {
        throw new AuthError(
          400,
          'refresh_token_already_used',
          'Invalid Refresh Token: Already Used',
        );
      }
      const user = rotated === 'not_found' ? undefined : await store.user(rotated.user_id);
      if (rotated === 'not_found' || !user) {
        throw new AuthError(
          400,
          'refresh_token_not_found',
          'Invalid Refresh Token: Refresh Token Not Found',
        );
      }
      const next = await store.issueRefreshToken(rotated, token);
      return c.json(await sessionJson(user, rotated.session_id, next));
    }
    throw new AuthError(
      400,
      'validation_failed',
      `unsupported_grant_type: this local auth answers grant_type=password and refresh_token, received ${
        grantType ?? '(none)'
      }`,
    );
  });

  app.get('/user', async (c) => {
    const { user } = await requireSession(c);
    return c.json(userJson(user));
  });

  app.post('/logout', async (c) => {
    const { sessionId, user } = await requireSession(c);
    const scope = c.req.query('scope') ?? 'global';
    if (scope !== 'local' && scope !== 'others' && scope !== 'global') {
      throw new AuthError(
        400,
        'validation_failed',
        `Unsupported logout scope ${JSON.stringify(scope)}`,
      );
    }
    await store.endSessions(scope, sessionId, user.id);
    return c.body(null, 204);
  });

  app.get('/health', (c) =>
    c.json({
      version: 'local',
      name: 'GoTrue (QuantForge dev server stand-in)',
      description: 'Local email/password auth of the dev server; never deployed',
    }));

  app.notFound((c) =>
    errorResponse(
      new AuthError(
        404,
        'not_found',
        `The local auth of the dev server answers signup, token (password, refresh_token), user and logout: no route for ${c.req.method} ${c.req.path}`,
      ),
      c,
    )
  );
  return app;
}
