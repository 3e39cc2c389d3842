/**
 * Runs one benchmark script as a child of bench/run.ts: from the repository root, with a time
 * limit (SIGINT, then SIGKILL 10 s later), its output streamed with the section's prefix and the
 * tail of its stderr kept; and reads the sections it wrote.
 *
 * @module
 */
import type { BenchSection } from './section.ts';

/** Keeps the last `max` characters of a stream's text, forwarding each chunk to `sink`. */
async function drain(
  stream: ReadableStream<Uint8Array>,
  sink: (text: string) => void,
  max = 6000,
): Promise<string> {
  const decoder = new TextDecoder();
  let tail = '';
  for await (const chunk of stream) {
    const text = decoder.decode(chunk, { stream: true });
    sink(text);
    tail = (tail + text).slice(-max);
  }
  return tail;
}

export interface ChildResult {
  code: number;
  seconds: number;
  stdout: string;
  stderrTail: string;
  timedOut: boolean;
}

/** Runs one child with a time limit (SIGINT, then SIGKILL 10 s later), streaming its output. */
export async function runChild(
  args: string[],
  env: Record<string, string>,
  limitSeconds: number,
  prefix: string,
): Promise<ChildResult> {
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: new URL('../../', import.meta.url).pathname,
    env: { ...env, DENO_NO_PACKAGE_JSON: '1', NO_COLOR: '1' },
    stdout: 'piped',
    stderr: 'piped',
  }).spawn();
  let timedOut = false;
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const limitTimer = setTimeout(() => {
    timedOut = true;
    console.error(
      `[bench] ${prefix}: over its limit of ${limitSeconds} s, stopping pid ${child.pid}`,
    );
    try {
      child.kill('SIGINT');
    } catch { /* gone */ }
    killTimer = setTimeout(() => {
      try {
        child.kill('SIGKILL');
      } catch { /* gone */ }
    }, 10_000);
  }, limitSeconds * 1000);
  const write = (text: string) =>
    Deno.stderr.writeSync(
      new TextEncoder().encode(text.replace(/^(?=.)/gm, `  ${prefix} | `)),
    );
  const [stdout, stderrTail, status] = await Promise.all([
    drain(child.stdout, write, 200_000),
    drain(child.stderr, write),
    child.status,
  ]);
  clearTimeout(limitTimer);
  clearTimeout(killTimer);
  return {
    code: status.code,
    seconds: (performance.now() - started) / 1000,
    stdout,
    stderrTail,
    timedOut,
  };
}

export function tailLines(text: string, lines = 25): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

export async function readSections(path: string): Promise<BenchSection[]> {
  const parsed = JSON.parse(await Deno.readTextFile(path));
  const list = Array.isArray(parsed) ? parsed : [parsed];
  for (const s of list) {
    if (typeof s?.id !== 'string' || !Array.isArray(s?.metrics)) {
      throw new Error(`not a BenchSection: ${JSON.stringify(s).slice(0, 200)}`);
    }
  }
  return list;
}
