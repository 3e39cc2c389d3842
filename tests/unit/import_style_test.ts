/**
 * One import style: inside shared/ relative paths; functions reach shared/ through `@shared/`
 * (their import maps), their siblings relatively; tests, scripts and bench relative.
 */
import assert from 'node:assert/strict';

const root = new URL('../../', import.meta.url);

async function* tsFiles(dir: URL): AsyncGenerator<URL> {
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
    const url = new URL(entry.isDirectory ? `${entry.name}/` : entry.name, dir);
    if (entry.isDirectory) yield* tsFiles(url);
    else if (entry.name.endsWith('.ts')) yield url;
  }
}

/** The specifiers of a file's import and export-from statements (not those in comments). */
async function specifiers(file: URL): Promise<string[]> {
  const text = await Deno.readTextFile(file);
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  return [...code.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+'([^']+)'/g)]
    .map((m) => m[1]);
}

Deno.test('import style: shared relative, functions @shared/, tests/scripts/bench relative', async () => {
  const offenders: string[] = [];
  for (
    const [dir, bad] of [
      ['shared/', /^@shared\//],
      ['supabase/functions/', /^(\.\.\/)+shared\//],
      ['tests/', /^@shared\//],
      ['scripts/', /^@shared\//],
      ['bench/', /^@shared\//],
    ] as const
  ) {
    for await (const file of tsFiles(new URL(dir, root))) {
      for (const specifier of await specifiers(file)) {
        if (bad.test(specifier)) offenders.push(`${file.pathname}: ${specifier}`);
      }
    }
  }
  assert.deepEqual(offenders, []);
});
