/**
 * Upstash's commands as the bridge runs them on redis-server: parsed from JSON, refused when
 * they need connection state, scripts adapted (Upstash's `#!lua` flags that Redis 7 rejects are
 * stripped and the client keeps seeing its own SHA1), run alone, pipelined or in MULTI/EXEC,
 * and replies written as Upstash writes them.
 *
 * @module
 */
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { isReplyError, type Reply, send, toUnavailable } from './pool.ts';

/** A request the bridge rejects before Redis sees it: HTTP 400. */
export class BadRequestError extends Error {
  override name = 'BadRequestError';
}

/**
 * Commands that need connection state the REST API has no room for (Upstash rejects them too);
 * MULTI/EXEC go through `/multi-exec`.
 */
const UNSUPPORTED = new Set([
  'multi',
  'exec',
  'discard',
  'watch',
  'unwatch',
  'select',
  'subscribe',
  'psubscribe',
  'ssubscribe',
  'unsubscribe',
  'punsubscribe',
  'sunsubscribe',
  'monitor',
  'quit',
  'reset',
  'hello',
  'auth',
  'client',
  'sync',
  'psync',
  'shutdown',
  'blpop',
  'brpop',
  'brpoplpush',
  'blmove',
  'blmpop',
  'bzpopmin',
  'bzpopmax',
  'bzmpop',
  'wait',
]);

/** Script shebang flags Redis 7 knows; others (Upstash's `allow-key-locking`) are stripped. */
const REDIS_SCRIPT_FLAGS = new Set([
  'no-writes',
  'allow-oom',
  'allow-stale',
  'no-cluster',
  'allow-cross-slot-keys',
]);

const OK = Buffer.from('OK');

function sha1(text: Buffer): string {
  return createHash('sha1').update(text).digest('hex');
}

/**
 * Rewrites a script's `#!lua flags=...` line without the flags open-source Redis rejects.
 * Returns `undefined` when nothing changes.
 */
export function rewriteScriptFlags(script: Buffer): Buffer | undefined {
  if (script.length < 5 || script.subarray(0, 5).toString() !== '#!lua') return undefined;
  const end = script.indexOf(0x0a);
  const firstLine = script.subarray(0, end === -1 ? script.length : end).toString();
  const match = /^#!lua((?:\s+\S+)*)\s*$/.exec(firstLine);
  if (!match) return undefined;
  const parts = match[1].trim().split(/\s+/).filter(Boolean);
  let changed = false;
  const kept = parts.map((part) => {
    if (!part.startsWith('flags=')) return part;
    const flags = part.slice('flags='.length).split(',').filter(Boolean);
    const known = flags.filter((flag) => REDIS_SCRIPT_FLAGS.has(flag));
    if (known.length === flags.length) return part;
    changed = true;
    return `flags=${known.join(',')}`;
  });
  if (!changed) return undefined;
  const line = ['#!lua', ...kept].join(' ');
  return Buffer.concat([Buffer.from(line), end === -1 ? Buffer.alloc(0) : script.subarray(end)]);
}

/** JSON form of a reply, as Upstash writes it: strings base64 when asked (except a top "OK"). */
export function toJson(reply: Reply, base64: boolean, top: boolean): unknown {
  if (reply === null || reply === undefined) return null;
  if (typeof reply === 'number') return reply;
  if (Array.isArray(reply)) return reply.map((item) => toJson(item, base64, false));
  if (reply instanceof Error) return reply.message;
  const bytes = typeof reply === 'string' ? Buffer.from(reply) : reply;
  if (!base64) return bytes.toString('utf8');
  if (top && bytes.equals(OK)) return 'OK';
  return bytes.toString('base64');
}

/** The bridge's script bookkeeping: SHA1 of the original text -> SHA1 Redis knows. */
export class ScriptShas {
  #map = new Map<string, string>();

  /** Rewrites a script body if needed, remembering the original SHA. */
  prepare(script: Buffer): { script: Buffer; originalSha: string } {
    const originalSha = sha1(script);
    const rewritten = rewriteScriptFlags(script);
    if (!rewritten) return { script, originalSha };
    this.#map.set(originalSha, sha1(rewritten));
    return { script: rewritten, originalSha };
  }

  translate(sha: Buffer): Buffer {
    const mapped = this.#map.get(sha.toString().toLowerCase());
    return mapped ? Buffer.from(mapped) : sha;
  }
}

/** Adapts script commands (flags, SHA mapping) before they reach Redis. */
function adapt(name: string, args: Buffer[], scripts: ScriptShas): Buffer[] {
  switch (name) {
    case 'eval':
    case 'eval_ro':
      if (args.length === 0) return args;
      return [scripts.prepare(args[0]).script, ...args.slice(1)];
    case 'evalsha':
    case 'evalsha_ro':
      if (args.length === 0) return args;
      return [scripts.translate(args[0]), ...args.slice(1)];
    case 'script': {
      const sub = args[0]?.toString().toLowerCase();
      if (sub === 'load' && args.length === 2) return [args[0], scripts.prepare(args[1]).script];
      if (sub === 'exists') return [args[0], ...args.slice(1).map((sha) => scripts.translate(sha))];
      return args;
    }
    default:
      return args;
  }
}

/** The client expects the SHA of the text it sent, not of the rewritten one. */
function adaptReply(name: string, args: Buffer[], reply: Reply): Reply {
  if (name === 'script' && args[0]?.toString().toLowerCase() === 'load' && args.length === 2) {
    return sha1(args[1]);
  }
  return reply;
}

/** A command as the bridge runs it: its lowercased name and its arguments as bytes. */
export interface Parsed {
  name: string;
  args: Buffer[];
}

function toArg(value: unknown): Buffer {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (typeof value === 'number' || typeof value === 'boolean') return Buffer.from(String(value));
  if (value === null) return Buffer.from('null');
  return Buffer.from(JSON.stringify(value));
}

/** A JSON command (`["SET", "k", "v"]`), or a {@link BadRequestError} before Redis sees it. */
export function parseCommand(value: unknown): Parsed {
  if (!Array.isArray(value) || value.length === 0) {
    throw new BadRequestError(
      `ERR a command must be a non-empty JSON array: received ${JSON.stringify(value)}`,
    );
  }
  const name = String(value[0]).toLowerCase();
  if (UNSUPPORTED.has(name)) {
    throw new BadRequestError(`ERR Command is not available: '${name.toUpperCase()}'`);
  }
  return { name, args: value.slice(1).map(toArg) };
}

/** Runs one command on `conn`; reply errors settle as `Error` values, unavailability throws. */
export async function runOne(conn: Redis, command: Parsed, scripts: ScriptShas): Promise<Reply> {
  try {
    const reply = await send(conn, command.name, adapt(command.name, command.args, scripts));
    return adaptReply(command.name, command.args, reply);
  } catch (error) {
    if (isReplyError(error)) return error;
    throw toUnavailable(error);
  }
}

/** Pipelined on one connection: all commands are written before the first reply is awaited. */
export function runPipeline(
  conn: Redis,
  commands: Parsed[],
  scripts: ScriptShas,
): Promise<Reply[]> {
  return Promise.all(commands.map((command) => runOne(conn, command, scripts)));
}

/**
 * The commands in MULTI/EXEC on `conn`: their replies, or the error that discarded the whole
 * transaction.
 */
export async function runTransaction(
  conn: Redis,
  commands: Parsed[],
  scripts: ScriptShas,
): Promise<Reply[] | Error> {
  const replies = await runPipeline(conn, [
    { name: 'multi', args: [] },
    ...commands,
    { name: 'exec', args: [] },
  ], scripts);
  const exec = replies[replies.length - 1];
  if (exec instanceof Error) {
    // Discarded as a whole (EXECABORT): report the command that caused it, as Upstash does.
    const cause = replies.slice(1, -1).find((reply) => reply instanceof Error) as
      | Error
      | undefined;
    return cause ?? exec;
  }
  if (!Array.isArray(exec)) return new Error('ERR transaction aborted');
  return exec.map((reply, i) => adaptReply(commands[i].name, commands[i].args, reply));
}

/** The commands of a `/pipeline` or `/multi-exec` body. */
export function commandList(body: unknown): Parsed[] {
  if (!Array.isArray(body) || body.length === 0) {
    throw new BadRequestError(
      `ERR a pipeline must be a non-empty JSON array of commands: received ${
        JSON.stringify(body)?.slice(0, 100)
      }`,
    );
  }
  return body.map(parseCommand);
}
