const files = Deno.args;
const out: Record<string, string[]> = {};
for (const f of files) {
  out[f] = Object.keys(await import(new URL(f, `file://${Deno.cwd()}/`).href)).sort();
}
console.log(JSON.stringify(out));
