// `npm run bench`: the benchmark suite on Dawn in Node, or in headless
// Chromium with --browser. Prints the Markdown report on stdout (progress on
// stderr) and writes every number as JSON to bench/results/.
//
//   npm run bench -- [--quick] [--adapter lavapipe|swiftshader] [--browser]
//                    [--only gemm,conv2d,...] [--no-tfjs] [--no-save]

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { toMarkdown, type BenchEnv, type BenchReport } from './report';
import { GROUPS, type Group, type SuiteResult } from './suite';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

interface Args {
  quick: boolean;
  adapter: 'lavapipe' | 'swiftshader';
  browser: boolean;
  only?: Group[];
  tfjs: boolean;
  save: boolean;
}

function usage(message?: string): never {
  if (message) console.error(`bench: ${message}`);
  console.error(
    'usage: npm run bench -- [--quick] [--adapter lavapipe|swiftshader] [--browser] ' +
      `[--only ${GROUPS.filter((g) => g !== 'ceiling').join(',')}] [--no-tfjs] [--no-save]`,
  );
  process.exit(message ? 2 : 0);
}

function parseArgs(argv: string[]): Args {
  const args: Args = { quick: false, adapter: 'lavapipe', browser: false, tfjs: true, save: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => argv[++i] ?? usage(`${a} needs a value`);
    if (a === '--quick') args.quick = true;
    else if (a === '--browser') args.browser = true;
    else if (a === '--no-tfjs') args.tfjs = false;
    else if (a === '--no-save') args.save = false;
    else if (a === '--adapter') {
      const v = value();
      if (v !== 'lavapipe' && v !== 'swiftshader') usage(`--adapter must be lavapipe or swiftshader, got ${v}`);
      args.adapter = v;
    } else if (a === '--only') {
      const groups = value().split(',');
      for (const g of groups) if (!GROUPS.includes(g as Group)) usage(`unknown group ${g}`);
      args.only = groups as Group[];
    } else if (a === '--help' || a === '-h') usage();
    else usage(`unknown argument ${a}`);
  }
  return args;
}

const log = (line: string) => process.stderr.write(line + '\n');

async function runInNode(args: Args): Promise<{ result: SuiteResult; env: Partial<BenchEnv> }> {
  // Dawn picks its Vulkan driver from VK_ICD_FILENAMES when the instance is
  // created: set it before anything touches the GPU.
  const { ICD_FILES, nodeGpu } = await import('../src/node/gpu');
  process.env.VK_ICD_FILENAMES = ICD_FILES[args.adapter];
  const gpu = await nodeGpu();
  // TF.js looks for navigator.gpu; Node 20 has no navigator at all.
  const g = globalThis as unknown as { navigator?: { gpu?: GPU } };
  if (!g.navigator) Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true, writable: true });
  if (!g.navigator!.gpu) Object.defineProperty(g.navigator!, 'gpu', { value: gpu, configurable: true });
  const { acquireDevice } = await import('../src/gpu/device');
  const { runSuite } = await import('./suite');
  const acquired = await acquireDevice({ gpu, label: 'wgsl-nn bench' });
  log(`adapter: ${acquired.adapterName} (VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES})`);
  const result = await runSuite(acquired, { quick: args.quick, only: args.only, tfjs: args.tfjs, log });
  acquired.device.destroy();
  const dawn = JSON.parse(readFileSync(`${repoRoot}node_modules/webgpu/package.json`, 'utf8')).version as string;
  const name = args.adapter === 'lavapipe' ? 'lavapipe' : 'SwiftShader';
  return { result, env: { slug: `dawn-${args.adapter}`, label: `Dawn + ${name} (Node)`, dawn } };
}

async function runInBrowser(args: Args): Promise<{ result: SuiteResult; env: Partial<BenchEnv> }> {
  const { createServer } = await import('vite');
  const { chromium } = await import('playwright');
  const { CHROMIUM_FLAGS } = await import('../vitest.config');
  // The page imports the same suite; Vite serves it (and the ?raw shaders)
  // from the repository root.
  const server = await createServer({
    configFile: false,
    root: repoRoot,
    logLevel: 'warn',
    server: { host: '127.0.0.1', port: 5199, strictPort: false },
    optimizeDeps: {
      entries: ['bench/browser/index.html'],
      include: ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-webgpu'],
    },
  });
  await server.listen();
  const address = server.resolvedUrls?.local[0] ?? 'http://127.0.0.1:5199/';
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: CHROMIUM_FLAGS,
    headless: true,
  });
  try {
    const page = await browser.newPage();
    page.on('console', (m) => log(`[page] ${m.text()}`));
    page.on('pageerror', (e) => log(`[page error] ${e.message}`));
    const params = new URLSearchParams();
    if (args.quick) params.set('quick', '1');
    if (args.only) params.set('only', args.only.join(','));
    if (!args.tfjs) params.set('tfjs', '0');
    await page.goto(`${address}bench/browser/index.html?${params}`);
    const handle = await page.waitForFunction(() => (window as unknown as { __bench?: unknown }).__bench, undefined, {
      timeout: 0,
      polling: 1000,
    });
    const outcome = (await handle.jsonValue()) as { result?: SuiteResult; error?: string };
    if (!outcome.result) throw new Error(`the benchmark page failed: ${outcome.error}`);
    return {
      result: outcome.result,
      env: { slug: 'chromium-swiftshader', label: 'Chromium + SwiftShader (headless)', chromium: browser.version() },
    };
  } finally {
    await browser.close();
    await server.close();
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const started = performance.now();
  const loadStart = loadavg()[0];
  const { result, env } = args.browser ? await runInBrowser(args) : await runInNode(args);
  const date = new Date().toISOString();
  const report: BenchReport = {
    env: {
      slug: env.slug!,
      label: env.label!,
      date,
      command: ['npm run bench --', ...process.argv.slice(2)].join(' '),
      node: process.versions.node,
      chromium: env.chromium,
      dawn: env.dawn,
      cpu: cpus()[0]?.model ?? 'unknown CPU',
      cores: cpus().length,
      loadAverage: { start: loadStart, end: loadavg()[0] },
      quick: args.quick,
      seconds: (performance.now() - started) / 1000,
    },
    ...result,
  };
  process.stdout.write(toMarkdown(report) + '\n');
  if (args.save) {
    const dir = `${repoRoot}bench/results`;
    mkdirSync(dir, { recursive: true });
    const file = `${dir}/${env.slug}-${date.slice(0, 10)}${args.quick ? '-quick' : ''}${args.only ? '-partial' : ''}.json`;
    writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
    log(`wrote ${file.slice(repoRoot.length)}`);
  }
  const failed = result.rows.filter((r) => r.error);
  if (failed.length) log(`${failed.length} row(s) failed: ${failed.map((r) => r.name).join(', ')}`);
  // Dawn keeps threads alive; the run is over.
  process.exit(failed.length ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
