import { defineConfig } from 'vitest/config';
import { playwright } from '@vitest/browser-playwright';
import { readFileSync } from 'node:fs';

// Dawn picks its Vulkan driver when it loads; set it before any worker starts
// (forks inherit the real process environment, threads would not).
process.env.VK_ICD_FILENAMES ??= '/usr/share/vulkan/icd.d/lvp_icd.json';

// Headless Chromium with SwiftShader as its WebGPU adapter (the notes on
// WebGPU without a GPU say why each flag is there); playwright.config.ts and
// test/package/run.mjs use the same list.
export const CHROMIUM_FLAGS: string[] = JSON.parse(readFileSync(new URL('./test/chromium-flags.json', import.meta.url), 'utf8'));

// GPU tests run on both adapters; Node-only tests (reflection, files, CLI)
// run in the node project only.
const gpuTests = ['test/kernels/**/*.test.ts', 'test/model/**/*.test.ts'];

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'node',
          include: ['test/**/*.test.ts'],
          exclude: ['test/e2e/**'],
          setupFiles: ['test/setup/node-webgpu.ts'],
          pool: 'forks',
          testTimeout: 300_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'browser',
          include: gpuTests,
          testTimeout: 300_000,
          hookTimeout: 120_000,
          browser: {
            enabled: true,
            headless: true,
            provider: playwright({
              launchOptions: {
                executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
                args: CHROMIUM_FLAGS,
              },
            }),
            instances: [{ browser: 'chromium' }],
          },
        },
      },
    ],
  },
});
