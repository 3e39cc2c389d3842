/**
 * Debian's `chromium` for the dashboard's browser test: installed with apt-get when missing and
 * this process is root (as `redis.ts` does for redis-server). Driven by `playwright-core` with
 * `executablePath` (no browser download).
 *
 * @module
 */

/** The Debian package that provides the browser. */
export const CHROMIUM_PACKAGE = 'chromium';
/** Where Debian's package puts the browser. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

async function chromiumVersion(path: string): Promise<string | null> {
  try {
    const out = await new Deno.Command(path, { args: ['--version'], stdin: 'null' }).output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : null;
  } catch {
    return null;
  }
}

/**
 * Resolves with the installed browser's version, installing Debian's `chromium` first when it
 * is missing and this process is root; throws with the command to run otherwise.
 *
 * @example
 * ```ts
 * console.log(await ensureChromiumInstalled()); // Chromium 156.0.8078.79 built on Debian GNU/Linux 12 (bookworm)
 * ```
 */
export async function ensureChromiumInstalled(path: string = CHROMIUM_PATH): Promise<string> {
  const found = await chromiumVersion(path);
  if (found) return found;
  if (Deno.uid() !== 0) {
    throw new Error(
      `${path} is missing and this process is not root: install the Debian package ` +
        `'${CHROMIUM_PACKAGE}' (sudo apt-get install -y ${CHROMIUM_PACKAGE})`,
    );
  }
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update'], ['install', '-y', '--no-install-recommends', CHROMIUM_PACKAGE]]) {
    const out = await new Deno.Command('apt-get', { args, env, stdin: 'null' }).output();
    if (!out.success) {
      const stderr = new TextDecoder().decode(out.stderr).trim().slice(-1000);
      throw new Error(`apt-get ${args.join(' ')} failed (exit ${out.code}): ${stderr}`);
    }
  }
  const installed = await chromiumVersion(path);
  if (!installed) {
    throw new Error(`apt-get installed '${CHROMIUM_PACKAGE}' but ${path} does not run`);
  }
  return installed;
}

/**
 * The flags the browser test starts Chromium with: headless, no sandbox (root in a container),
 * and nothing that reaches the network on its own.
 */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
