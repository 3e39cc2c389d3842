/**
 * Starts the real dev server (`scripts/dev-server.ts`) as a child process on a free port and
 * reads its banner, for end-to-end tests over HTTP.
 *
 * @module
 */

/** A running dev server. */
export interface DevServer {
  /** `http://127.0.0.1:<port>/functions/v1`. */
  base: string;
  port: number;
  /** Everything it printed on stdout so far. */
  banner: string;
  /** Everything it printed on stderr so far. */
  stderr: string;
  /** Sends SIGINT and resolves with the exit code. */
  stop(): Promise<number>;
}

const root = new URL('../../', import.meta.url).pathname;

/**
 * Starts the dev server with `env` (merged over a clean environment: no Upstash, no database
 * URL unless given, PGlite in memory unless `QF_LOCAL_DATA_DIR` is given) and waits for its
 * banner.
 *
 * @example
 * ```ts
 * const server = await startDevServer();
 * const res = await fetch(`${server.base}/health`);
 * await server.stop();
 * ```
 */
export async function startDevServer(
  env: Record<string, string> = {},
  port = 0,
  args: string[] = [],
): Promise<DevServer> {
  const child = new Deno.Command(Deno.execPath(), {
    // As `deno task serve` runs it (the flag keeps Deno.serve's legacy-abort warning away).
    args: ['run', '-A', '--unstable-no-legacy-abort', 'scripts/dev-server.ts', ...args],
    cwd: root,
    clearEnv: true,
    env: {
      PATH: Deno.env.get('PATH') ?? '/usr/bin:/bin',
      HOME: Deno.env.get('HOME') ?? '/tmp',
      DENO_DIR: Deno.env.get('DENO_DIR') ?? '',
      DENO_NO_PACKAGE_JSON: '1',
      NO_COLOR: '1',
      PORT: String(port),
      // Each test server gets its own database unless the test names a data folder: two
      // processes must never open the same PGlite folder.
      QF_LOCAL_DATA_DIR: 'memory://',
      // Per-caller windows of its own: every test server calls from 127.0.0.1, and dev servers
      // of files running in parallel share one Redis (a test about limits sets its own).
      QF_RATELIMIT_PREFIX: `qf-test-${crypto.randomUUID()}:ratelimit`,
      ...env,
    },
    stdout: 'piped',
    stderr: 'piped',
  }).spawn();
  const decoder = new TextDecoder();
  let banner = '';
  let errors = '';
  const reader = child.stdout.getReader();
  (async () => {
    for await (const chunk of child.stderr) errors += decoder.decode(chunk);
  })();
  const deadline = Date.now() + 60_000;
  while (!/Ctrl-C stops it\./.test(banner)) {
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`dev server did not start within 60 s:\n${banner}\n${errors}`);
    }
    const { value, done } = await reader.read();
    if (done) {
      await child.status;
      throw new Error(`dev server exited before it was ready:\n${banner}\n${errors}`);
    }
    banner += decoder.decode(value);
  }
  // Keep draining stdout so the child never blocks on a full pipe.
  const drained = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      banner += decoder.decode(value);
    }
  })();
  const match = /(http:\/\/127\.0\.0\.1:(\d+)\/functions\/v1)\//.exec(banner);
  if (!match) throw new Error(`no function URL in the banner:\n${banner}`);
  return {
    base: match[1],
    port: Number(match[2]),
    get banner() {
      return banner;
    },
    get stderr() {
      return errors;
    },
    async stop() {
      child.kill('SIGINT');
      const status = await child.status;
      await drained;
      return status.code;
    },
  };
}
