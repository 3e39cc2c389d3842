/**
 * The local auth's rows: users in `auth.users` (the columns `supabase/bootstrap.sql` creates with
 * Supabase's names), sessions in `auth.sessions`, refresh tokens in `auth.refresh_tokens`, and
 * the user object Supabase Auth answers. DEVELOPMENT ONLY.
 *
 * @module
 */
import type { SqlExecutor } from '../../shared/db/types.ts';

/** An error Supabase Auth would answer. */
export class AuthError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** A row of `auth.users`, timestamps as text. */
export interface UserRow {
  id: string;
  aud: string;
  role: string;
  email: string;
  encrypted_password: string | null;
  email_confirmed_at: string | null;
  last_sign_in_at: string | null;
  raw_app_meta_data: Record<string, unknown> | null;
  raw_user_meta_data: Record<string, unknown> | null;
  created_at: string;
  updated_at: string;
  is_anonymous: boolean;
}

const USER_COLUMNS = `id, aud, role, email, encrypted_password,
  to_json(email_confirmed_at) #>> '{}' as email_confirmed_at,
  to_json(last_sign_in_at) #>> '{}' as last_sign_in_at,
  raw_app_meta_data, raw_user_meta_data,
  to_json(created_at) #>> '{}' as created_at, to_json(updated_at) #>> '{}' as updated_at,
  coalesce(is_anonymous, false) as is_anonymous`;

/** The user object of Supabase Auth's responses. */
export function userJson(row: UserRow): Record<string, unknown> {
  const appMetadata = row.raw_app_meta_data ?? { provider: 'email', providers: ['email'] };
  const userMetadata = row.raw_user_meta_data ?? {};
  return {
    id: row.id,
    aud: row.aud || 'authenticated',
    role: row.role || 'authenticated',
    email: row.email,
    email_confirmed_at: row.email_confirmed_at ?? undefined,
    phone: '',
    confirmed_at: row.email_confirmed_at ?? undefined,
    last_sign_in_at: row.last_sign_in_at ?? undefined,
    app_metadata: appMetadata,
    user_metadata: userMetadata,
    identities: [{
      identity_id: row.id,
      id: row.id,
      user_id: row.id,
      identity_data: { ...userMetadata, email: row.email, sub: row.id, email_verified: true },
      provider: 'email',
      created_at: row.created_at,
      updated_at: row.updated_at,
      email: row.email,
    }],
    created_at: row.created_at,
    updated_at: row.updated_at,
    is_anonymous: row.is_anonymous,
  };
}

/** Refresh tokens are opaque random strings, as Supabase Auth's. */
export function newRefreshToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(9));
  return btoa(String.fromCharCode(...bytes)).replaceAll('+', '-').replaceAll('/', '_');
}

/** What a refresh token's rotation found: the session it belongs to, or why not. */
export type Rotation =
  | { user_id: string; session_id: string }
  | 'already_used'
  | 'not_found';

/** The SQL of users, sessions and refresh tokens, on the dev server's database. */
export class AuthStore {
  #db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.#db = db;
  }

  /** The user with this (lowercased) email, unless deleted. */
  async userByEmail(email: string): Promise<UserRow | undefined> {
    return (await this.#db.query<UserRow>(
      `select ${USER_COLUMNS} from auth.users where email = $1 and deleted_at is null`,
      [email],
    ))[0];
  }

  /** The user with this id, unless deleted. */
  async user(id: string): Promise<UserRow | undefined> {
    return (await this.#db.query<UserRow>(
      `select ${USER_COLUMNS} from auth.users where id = $1 and deleted_at is null`,
      [id],
    ))[0];
  }

  /** A new confirmed user; `undefined` when the email is taken. */
  async createUser(
    email: string,
    passwordHash: string,
    data: unknown,
  ): Promise<UserRow | undefined> {
    const rows = await this.#db.query<UserRow>(
      `insert into auth.users
         (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
          raw_app_meta_data, raw_user_meta_data)
       values ('00000000-0000-0000-0000-000000000000', $1, 'authenticated', 'authenticated',
               $2, $3, now(), $4::jsonb, $5::jsonb)
       on conflict do nothing
       returning ${USER_COLUMNS}`,
      [
        crypto.randomUUID(),
        email,
        passwordHash,
        JSON.stringify({ provider: 'email', providers: ['email'] }),
        JSON.stringify(data),
      ],
    );
    return rows[0];
  }

  /** A new session of `userId` and its first refresh token; the user, signed in now. */
  async startSession(
    userId: string,
    userAgent: string | null,
  ): Promise<{ sessionId: string; refreshToken: string; user: UserRow }> {
    const sessionId = crypto.randomUUID();
    const refreshToken = newRefreshToken();
    await this.#db.query(
      `insert into auth.sessions (id, user_id, aal, user_agent) values ($1, $2, 'aal1', $3)`,
      [sessionId, userId, userAgent],
    );
    await this.#db.query(
      `insert into auth.refresh_tokens (token, user_id, session_id) values ($1, $2, $3)`,
      [refreshToken, userId, sessionId],
    );
    const user = (await this.#db.query<UserRow>(
      `update auth.users set last_sign_in_at = now(), updated_at = now() where id = $1
       returning ${USER_COLUMNS}`,
      [userId],
    ))[0];
    return { sessionId, refreshToken, user };
  }

  /**
   * Revokes `token` if it is live. One statement: of two concurrent refreshes with the same
   * token, only one rotates it.
   */
  async revokeRefreshToken(token: string): Promise<Rotation> {
    const rotated = (await this.#db.query<{ user_id: string; session_id: string }>(
      `update auth.refresh_tokens set revoked = true, updated_at = now()
       where token = $1 and not revoked
       returning user_id, session_id`,
      [token],
    ))[0];
    if (rotated) return rotated;
    const known = (await this.#db.query(`select 1 from auth.refresh_tokens where token = $1`, [
      token,
    ]))[0];
    return known ? 'already_used' : 'not_found';
  }

  /** The refresh token that follows `parent` in its session, and the session refreshed. */
  async issueRefreshToken(
    rotated: { user_id: string; session_id: string },
    parent: string,
  ): Promise<string> {
    const next = newRefreshToken();
    await this.#db.query(
      `insert into auth.refresh_tokens (token, user_id, session_id, parent)
       values ($1, $2, $3, $4)`,
      [next, rotated.user_id, rotated.session_id, parent],
    );
    await this.#db.query(
      `update auth.sessions set refreshed_at = now(), updated_at = now()
      where id = $1`,
      [rotated.session_id],
    );
    return next;
  }

  /** Whether session `sessionId` of `userId` still exists. */
  async hasSession(sessionId: string, userId: string): Promise<boolean> {
    const rows = await this.#db.query<{ id: string }>(
      `select id from auth.sessions where id = $1 and user_id = $2`,
      [sessionId, userId],
    );
    return rows.length > 0;
  }

  /** Ends this session (`local`), the user's other ones (`others`) or all of them (`global`). */
  async endSessions(
    scope: 'local' | 'others' | 'global',
    sessionId: string,
    userId: string,
  ): Promise<void> {
    if (scope === 'local') {
      await this.#db.query(`delete from auth.sessions where id = $1`, [sessionId]);
    } else if (scope === 'others') {
      await this.#db.query(`delete from auth.sessions where user_id = $1 and id <> $2`, [
        userId,
        sessionId,
      ]);
    } else {
      await this.#db.query(`delete from auth.sessions where user_id = $1`, [userId]);
    }
  }
}
