import { defineConfig } from '@playwright/test';
import { CHROMIUM_FLAGS } from './vitest.config';

// End-to-end tests of the demo page: the built site (vite build + preview)
// in headless Chromium, whose WebGPU adapter is SwiftShader on the CPU.
export default defineConfig({
  testDir: 'test/e2e',
  testMatch: '**/*.spec.ts',
  // SwiftShader trains at tens of images per second: the training test
  // budgets its own time, this is the ceiling for any single test.
  timeout: 300_000,
  expect: { timeout: 30_000 },
  workers: 1,
  fullyParallel: false,
  forbidOnly: true,
  reporter: [['list']],
  outputDir: 'test-results',
  use: {
    baseURL: 'http://127.0.0.1:4173',
    browserName: 'chromium',
    viewport: { width: 1400, height: 1100 },
    acceptDownloads: true,
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: CHROMIUM_FLAGS,
    },
  },
  webServer: {
    command: 'npx vite build && npx vite preview --port 4173 --strictPort --host 127.0.0.1',
    url: 'http://127.0.0.1:4173',
    // Always build afresh: a server left running would test a stale page.
    reuseExistingServer: false,
    timeout: 180_000,
    stdout: 'ignore',
    stderr: 'pipe',
  },
});
