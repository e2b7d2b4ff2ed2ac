// Finishes the declarations tsc wrote to dist/ (tsconfig.lib.json) so that
// they resolve under every moduleResolution a user may have:
// - relative specifiers get their '.js' (NodeNext requires it in ESM .d.ts;
//   the sources are written extensionless for the bundler);
// - the two entry points reference @webgpu/types, so a user needs no
//   "types" entry of their own for GPUDevice and friends.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const dist = new URL('../dist/', import.meta.url).pathname;
const ENTRIES = ['index.d.ts', 'node.d.ts'];

function* declarations(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* declarations(p);
    else if (e.name.endsWith('.d.ts')) yield p;
  }
}

function withExtension(file, spec) {
  if (spec.endsWith('.js')) return spec;
  const base = join(dirname(file), spec);
  if (existsSync(base + '.d.ts')) return spec + '.js';
  if (existsSync(join(base, 'index.d.ts'))) return spec + '/index.js';
  throw new Error(`${file}: cannot resolve '${spec}' among the declarations`);
}

let files = 0;
for (const file of declarations(dist)) {
  const text = readFileSync(file, 'utf8');
  let out = text.replace(
    /(\bfrom\s+|\bimport\s*\(\s*)(['"])(\.\.?\/[^'"]*)\2/g,
    (_, lead, q, spec) => `${lead}${q}${withExtension(file, spec)}${q}`,
  );
  const rel = file.slice(dist.length);
  if (ENTRIES.includes(rel)) out = '/// <reference types="@webgpu/types" />\n' + out;
  if (out !== text) writeFileSync(file, out);
  files++;
}
for (const e of ENTRIES) {
  if (!existsSync(join(dist, e))) throw new Error(`dist/${e} is missing`);
}
console.log(`lib-types: ${files} declaration files checked in dist/`);
