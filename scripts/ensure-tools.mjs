// Runs before `npm start` and `npm test` (npm's pre-scripts): on a fresh clone it installs the
// pinned toolchain from package-lock.json (the Deno binary and the Supabase CLI, both npm
// packages), so the README's two commands work with nothing installed by hand.
// `npm install`, not `npm ci`: npm 11 records only this platform's optional binaries in the
// lockfile and `npm ci` then refuses it as out of sync; package.json pins exact versions.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const needed = ['deno', 'supabase'].map((bin) => join(root, 'node_modules', '.bin', bin));
if (!needed.every((path) => existsSync(path))) {
  console.log('[setup] installing the pinned toolchain (deno, supabase CLI) with npm install ...');
  const result = spawnSync('npm', ['install', '--no-audit', '--no-fund'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

// The edge runtime's Deno, for the test suite: its own folder (tools/edge-deno, with its own
// lockfile), because a second `deno` package in the root would take over node_modules/.bin/deno.
const edge = join(root, 'tools', 'edge-deno');
if (!existsSync(join(edge, 'node_modules', 'deno', 'deno'))) {
  console.log("[setup] installing the edge runtime's Deno (tools/edge-deno) with npm install ...");
  const result = spawnSync('npm', ['install', '--no-audit', '--no-fund'], {
    cwd: edge,
    stdio: 'inherit',
  });
  process.exit(result.status ?? 1);
}
