/**
 * The shape of `bench/results/<date>.json`: one `npm run bench` run, written by bench/run.ts and
 * read by bench/report.ts.
 *
 * @module
 */
import type { BenchSection } from './section.ts';
import type { MachineInfo } from './machine.ts';

/** How one script of the run ended. */
export type ScriptStatus = 'ok' | 'failed' | 'not yet' | 'skipped';

/** One benchmark script the runner called (a script may write several sections). */
export interface ScriptRun {
  /** Path from the repository root, e.g. `bench/warming.ts`. */
  script: string;
  /** Helper (or area) that owns the script. */
  owner: string;
  /** Section ids the script is expected to write. */
  expected: string[];
  status: ScriptStatus;
  /** Why it was not run, or how it failed, in one sentence. */
  reason?: string;
  /** The command the runner ran. */
  command?: string;
  exitCode?: number;
  seconds?: number;
  /** The section's own time budget for this mode. */
  budgetSeconds: number;
  /** 1/5/15-minute load averages before and after the script. */
  loadBefore?: number[];
  loadAfter?: number[];
  /** Last lines of its stderr, when it failed. */
  stderrTail?: string;
}

/** One run of `npm run bench`. */
export interface BenchRun {
  /** ISO time the run started. */
  startedAt: string;
  finishedAt: string;
  mode: 'full' | 'quick';
  /** The command that produced this file. */
  command: string;
  machine: MachineInfo;
  services: {
    robots: number;
    /** Seconds spent on migrations + robot generation (+ analyze). */
    databaseSetupSeconds: number;
    redisSetupSeconds: number;
  };
  scripts: ScriptRun[];
  sections: BenchSection[];
  durationSeconds: number;
}
