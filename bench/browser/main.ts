// The benchmark page: the same suite as in Node, on the browser's WebGPU.
// bench/run.ts --browser serves it with Vite, opens it in headless Chromium
// and reads window.__bench when the suite is done. It also works opened by
// hand (http://127.0.0.1:<port>/bench/browser/index.html?quick=1).

import { acquireDevice } from '../../src/gpu/device';
import { GROUPS, runSuite, type Group, type SuiteResult } from '../suite';

declare global {
  interface Window {
    __bench?: { result?: SuiteResult; error?: string };
  }
}

const query = new URLSearchParams(location.search);
const logElement = document.getElementById('log')!;
const log = (line: string) => {
  console.log(line);
  logElement.textContent += '\n' + line;
};

async function main() {
  const only = query.get('only')?.split(',').filter((g): g is Group => GROUPS.includes(g as Group));
  const acquired = await acquireDevice({ label: 'wgsl-nn bench' });
  log(`adapter: ${acquired.adapterName}`);
  const result = await runSuite(acquired, {
    quick: query.get('quick') === '1',
    only,
    tfjs: query.get('tfjs') !== '0',
    log,
  });
  acquired.device.destroy();
  window.__bench = { result };
  log('done');
}

main().catch((e: Error) => {
  log(`failed: ${e.message}`);
  window.__bench = { error: `${e.name}: ${e.message}` };
});
