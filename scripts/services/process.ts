/**
 * Child processes of the local services: running a command (as the `postgres` OS user when
 * root), a free loopback port, and stopping a process by PID, gently first.
 *
 * @module
 */

/** Whether this process runs as root (initdb and apt-get care). */
export const isRoot = (): boolean => Deno.uid?.() === 0;

/**
 * Runs a command to its end and collects its output (as the `postgres` OS user when asked and
 * running as root).
 */
export async function run(
  cmd: string,
  args: string[],
  options: { asPostgres?: boolean; env?: Record<string, string>; cwd?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const [command, finalArgs] = options.asPostgres && isRoot()
    ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]]
    : [cmd, args];
  const out = await new Deno.Command(command, {
    args: finalArgs,
    env: options.env,
    cwd: options.cwd,
    stdout: 'piped',
    stderr: 'piped',
  }).output();
  const decoder = new TextDecoder();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
}

/** A port free right now on 127.0.0.1 (the OS picks it). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: '127.0.0.1', port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Whether process `pid` still exists. */
export function processAlive(pid: number): boolean {
  try {
    Deno.kill(pid, 'SIGCONT');
    return true;
  } catch {
    return false;
  }
}

/** Waits up to `timeoutMs` for process `pid` to exit; whether it did. */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!processAlive(pid)) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return !processAlive(pid);
}

/**
 * Stops process `pid`: SIGINT (a postmaster's fast shutdown), then SIGQUIT (immediate), then
 * SIGKILL, each given a few seconds.
 */
export async function killByPid(pid: number | undefined): Promise<void> {
  if (pid === undefined || !processAlive(pid)) return;
  // SIGINT = fast shutdown; SIGQUIT = immediate shutdown if it hangs.
  try {
    Deno.kill(pid, 'SIGINT');
  } catch { /* already gone */ }
  if (await waitForExit(pid, 10_000)) return;
  try {
    Deno.kill(pid, 'SIGQUIT');
  } catch { /* already gone */ }
  if (await waitForExit(pid, 5_000)) return;
  try {
    Deno.kill(pid, 'SIGKILL');
  } catch { /* already gone */ }
  await waitForExit(pid, 5_000);
}
