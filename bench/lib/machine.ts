/**
 * What the benchmarks ran on: cores, memory, CPU model, OS, Deno, PostgreSQL and Redis
 * versions, and the load average (read before and after each section by bench/run.ts).
 *
 * @module
 */

/** The machine of one run. */
export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  os: string;
  deno: string;
  v8: string;
  postgres?: string;
  redis?: string;
  /** `wrk` version line, when installed. */
  wrk?: string;
}

async function readText(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return '';
  }
}

/** 1, 5 and 15 minute load averages (`/proc/loadavg`); `[]` where unavailable. */
export async function loadAverage(): Promise<number[]> {
  const text = await readText('/proc/loadavg');
  return text.split(/\s+/).slice(0, 3).map(Number).filter((n) => Number.isFinite(n));
}

/**
 * Reads the machine's description.
 *
 * @example
 * ```ts
 * const machine = await machineInfo({ postgres: '15.14', redis: '7.0.15' });
 * ```
 */
export async function machineInfo(
  versions: { postgres?: string; redis?: string } = {},
): Promise<MachineInfo> {
  const cpuinfo = await readText('/proc/cpuinfo');
  const cpuModel = cpuinfo.match(/^model name\s*:\s*(.+)$/m)?.[1]?.trim() ?? 'unknown';
  const memKb = Number((await readText('/proc/meminfo')).match(/^MemTotal:\s*(\d+)/m)?.[1] ?? 0);
  const osRelease = (await readText('/etc/os-release')).match(/^PRETTY_NAME="?([^"\n]+)"?/m)?.[1];
  let wrk: string | undefined;
  try {
    const out = await new Deno.Command('wrk', { args: ['-v'], stdout: 'piped', stderr: 'piped' })
      .output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    wrk = text.split('\n')[0]?.trim() || undefined;
  } catch {
    wrk = undefined;
  }
  return {
    cpuModel,
    cores: navigator.hardwareConcurrency,
    memoryGiB: Math.round((memKb / 1024 / 1024) * 10) / 10,
    os: `${osRelease ?? Deno.build.os} (${Deno.build.arch}, kernel ${Deno.osRelease()})`,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    ...versions,
    wrk,
  };
}
