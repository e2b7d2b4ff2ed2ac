// Bundles the bench and the training CLI into two self-contained ES modules
// for the GPU check (bench/gpu/prepare.sh): TypeScript, `?raw` WGSL and
// TF.js inlined; only the 'webgpu' package (Dawn's dawn.node) stays outside,
// carried beside the bundles.
//
//   node bench/gpu/bundle.mjs OUTDIR
import { readFile } from 'node:fs/promises';
import { build } from 'esbuild';

const outdir = process.argv[2];
if (!outdir) {
  console.error('usage: node bench/gpu/bundle.mjs OUTDIR');
  process.exit(2);
}

const rawWgsl = {
  name: 'raw-wgsl',
  setup(b) {
    b.onResolve({ filter: /\?raw$/ }, (args) => ({
      path: new URL(args.path.slice(0, -4), `file://${args.resolveDir}/`).pathname,
      namespace: 'raw',
    }));
    b.onLoad({ filter: /.*/, namespace: 'raw' }, async (args) => ({
      contents: await readFile(args.path, 'utf8'),
      loader: 'text',
    }));
  },
};

// bench/run.ts imports the vitest config (Chromium's flags) only for
// --browser; kept external, that import stays dynamic and never runs.
const browserOnly = {
  name: 'browser-only',
  setup(b) {
    b.onResolve({ filter: /vitest\.config$/ }, (args) => ({ path: args.path, external: true }));
  },
};

await build({
  entryPoints: { bench: 'bench/run.ts', train: 'src/cli/train.ts' },
  outdir,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // The --browser path (Vite, Playwright) is not used on the GPU machine.
  external: ['webgpu', 'vite', 'vitest', 'vitest/*', 'playwright', '@playwright/test', '@vitest/*'],
  plugins: [rawWgsl, browserOnly],
  // CommonJS dependencies bundled into ESM still call require() for Node's
  // built-ins.
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: 'warning',
});
