/**
 * The dev server's start-up errors: one line saying what failed and what to change, never a
 * stack trace.
 *
 * @module
 */

/** Prints one line saying what failed and what to change, and exits non-zero (no stack). */
export function failStart(message: string): never {
  console.error(`dev server: ${message}`);
  Deno.exit(1);
}

/** A URL with its password hidden, for error lines. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.href;
  } catch {
    return '(not a URL)';
  }
}

export const errorText = (error: unknown) => error instanceof Error ? error.message : String(error);

/** Fails fast, before the database loads, when the port is taken. */
export function checkPortFree(hostname: string, port: number): void {
  if (port === 0) return;
  try {
    Deno.listen({ hostname, port }).close();
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      const alternative = port === 54321 ? 54331 : port < 65535 ? port + 1 : port - 1;
      const who = port === 54321
        ? 'another dev server, or `supabase start`, whose API uses 54321'
        : 'another dev server or program';
      failStart(
        `port ${port} on ${hostname} is already in use (${who}). Stop it, or choose another` +
          ` port: PORT=${alternative} npm start`,
      );
    }
    if (error instanceof Deno.errors.PermissionDenied) {
      failStart(`may not listen on ${hostname}:${port}: choose a port above 1023 with PORT=...`);
    }
    throw error;
  }
}
