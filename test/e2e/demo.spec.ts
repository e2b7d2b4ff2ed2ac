// The demo page, end to end, in headless Chromium on SwiftShader (WebGPU on
// the CPU): the built site is served by `vite preview` (playwright.config.ts).
// The tests share one page and run in order: one training run on a subset of
// MNIST, then the drawing pad, saving and loading weights, a corrupt file and
// a lost device all use the model it trained.

import { expect, test, type Page } from '@playwright/test';

/**
 * The subset and the bar. The paper's CNN, 1 epoch of the first 2,000
 * training images in batches of 32 (63 Adam steps), tested on the first 500
 * test images. The learning rate is 3x Keras' default so that 63 steps learn
 * more. Measured: seed 1 reaches 90.6% (seeds 3 and 4: 90.0%, 89.4%); with
 * the default 0.001 it is 77-83% over seeds 1-6. 80% leaves ~10 points for
 * other adapters' rounding while a network that does not learn stays near 10%.
 */
const TRAIN = 2000;
const TEST = 500;
const BATCH = 32;
const LEARNING_RATE = 0.003;
const ACCURACY_BAR = 0.8;
const MODEL = process.env.E2E_MODEL ?? 'paper-cnn';

const URL = `/?model=${MODEL}&train=${TRAIN}&test=${TEST}&epochs=1&batch=${BATCH}&lr=${LEARNING_RATE}&seed=1`;

test.describe.configure({ mode: 'serial' });

let page: Page;
const pageErrors: string[] = [];

test.beforeAll(async ({ browser }) => {
  // A context of its own, so that a second page can share its storage (IndexedDB).
  page = await (await browser.newContext()).newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(m.text());
  });
});

test.afterAll(async () => {
  await page.context().close();
});

const phase = () => page.locator('#state');

/** The ten probabilities the drawing pad shows, from the bars' data-p. */
async function padProbabilities(): Promise<number[]> {
  return page.locator('#probabilities .prob').evaluateAll((rows) => rows.map((r) => Number((r as HTMLElement).dataset.p)));
}

async function padUpdates(): Promise<number> {
  return Number((await page.locator('#probabilities').getAttribute('data-updates')) ?? 0);
}

async function predictTest(n: number): Promise<number[]> {
  return page.evaluate((k) => (window as unknown as { wgslnnDemo: { predictTest(n: number): Promise<number[]> } }).wgslnnDemo.predictTest(k), n);
}

/** A stroke through points given in pad units (0..1), drawn with the mouse. */
async function stroke(points: [number, number][]): Promise<void> {
  const box = (await page.locator('#pad').boundingBox())!;
  const at = ([x, y]: [number, number]) => [box.x + x * box.width, box.y + y * box.height] as const;
  await page.mouse.move(...at(points[0]));
  await page.mouse.down();
  for (const p of points.slice(1)) await page.mouse.move(...at(p), { steps: 8 });
  await page.mouse.up();
}

interface Hooks {
  pauseAtStep(step: number): void;
  loseDeviceAt(epoch: number, step: number): void;
  timeline(): { event: string; at: number; step?: number; ms?: number }[];
  maxSubmitMs(): number;
}

/**
 * How long the last pause took: from the request to the last training step
 * it let finish (the submits already queued) and to the 'paused' phase, in
 * page time; and the longest submit the run has measured so far.
 */
async function lastPause(): Promise<{ toLastStep: number; toPaused: number; lastStep: number; maxSubmitMs: number }> {
  return page.evaluate(() => {
    const h = (window as unknown as { wgslnnDemo: Hooks }).wgslnnDemo;
    const t = h.timeline();
    const asked = t.map((e) => e.event).lastIndexOf('pause');
    const paused = t.findIndex((e, i) => i > asked && e.event === 'phase:paused');
    const steps = t.slice(asked, paused).filter((e) => e.event === 'progress');
    const last = steps.length > 0 ? steps[steps.length - 1] : t[asked];
    return {
      toLastStep: last.at - t[asked].at,
      toPaused: t[paused].at - t[asked].at,
      lastStep: last.step ?? -1,
      maxSubmitMs: h.maxSubmitMs(),
    };
  });
}

/** The step training last reported. */
async function currentStep(): Promise<number> {
  return page.evaluate(() => {
    const t = (window as unknown as { wgslnnDemo: Hooks }).wgslnnDemo.timeline().filter((e) => e.event === 'progress');
    return t.length > 0 ? t[t.length - 1].step! : 0;
  });
}

/**
 * A pause waits for the submits already queued (at most the trainer's queue
 * depth, 2) and nothing more: the time from the request to the last step it
 * lets finish is bounded by three submits (two queued, one for the page's
 * own event loop), whatever the adapter's speed, never by the epoch.
 */
const PAUSE_BOUND_SUBMITS = 3;

function maxAbsDiff(a: number[], b: number[]): number {
  expect(a.length).toBe(b.length);
  return Math.max(...a.map((v, i) => Math.abs(v - b[i])));
}

test('finds a WebGPU adapter and loads MNIST', async () => {
  await page.goto(URL);
  await expect(phase()).toHaveText('ready', { timeout: 90_000 });
  const adapter = (await page.locator('#adapter').textContent())!;
  console.log(`[e2e] adapter: ${adapter}; ${await page.locator('#timestamps').textContent()}`);
  expect(adapter).not.toMatch(/looking|no WebGPU/);
  await expect(page.locator('#data-progress')).toHaveJSProperty('value', 1);
  await expect(page.locator('#data-status')).toContainText('60,000 training and 10,000 test images');
  // The URL's subset and defaults are what the form shows.
  await expect(page.locator('#train-count')).toHaveValue(String(TRAIN));
  await expect(page.locator('#test-count')).toHaveValue(String(TEST));
  await expect(page.locator('#batch')).toHaveValue(String(BATCH));
  await expect(page.locator('#epochs')).toHaveValue('1');
  await expect(page.locator('#lr')).toHaveValue(String(LEARNING_RATE));
  await expect(page.locator('#url-note')).toContainText(`train=${TRAIN}`);
  // The form offers the paper's study: batch normalization and activations.
  await page.check('#batchnorm');
  await page.selectOption('#activation', 'elu');
  await expect(page.locator('#model-summary')).toContainText('batchnorm elu');
  await expect(page.locator('#layer-table tbody')).toContainText('batch_normalization');
  await page.uncheck('#batchnorm');
  await page.selectOption('#activation', 'relu');
  await expect(page.locator('#model-summary')).not.toContainText('batchnorm');
  await expect(page.locator('#banner')).toBeHidden();
});

test('the drawing pad reads digits on first load, with the shipped weights', async () => {
  await expect(page.locator('#pad-status')).toHaveAttribute('data-shipped', 'true', { timeout: 60_000 });
  await expect(page.locator('#pad-status')).toContainText('shipped weights');
  await stroke([
    [0.5, 0.15],
    [0.48, 0.85],
  ]);
  await expect(page.locator('#prediction')).toHaveText('1');
  await expect(page.locator('#pad-status')).toContainText('classified by the shipped weights');
  // A small 2 in the corner: drawn with the pad's marker at this size, it
  // would be a blob; the input's stroke is sized to the drawing.
  await page.click('#pad-clear');
  await stroke([
    [0.1, 0.12],
    [0.18, 0.06],
    [0.26, 0.12],
    [0.12, 0.3],
    [0.28, 0.3],
  ]);
  await expect(page.locator('#prediction')).toHaveText('2');
  await page.click('#pad-clear');
  await expect(page.locator('#prediction')).toHaveText('–');
});

test(`trains ${TRAIN} images for one epoch: live curves, pause/resume, table, test accuracy >= ${ACCURACY_BAR * 100}%`, async ({}, testInfo) => {
  // About 2 minutes on an idle 2-core machine; the limits allow for a busy one.
  test.setTimeout(480_000);
  const started = Date.now();
  await page.click('#train');
  await expect(phase()).toHaveText('training', { timeout: 60_000 });

  // The curves grow while the epoch runs.
  const loss = page.locator('#loss-chart');
  await expect.poll(async () => Number(await loss.getAttribute('data-train-points')), { timeout: 120_000 }).toBeGreaterThanOrEqual(2);
  await expect(page.locator('#epoch-table tbody tr')).toHaveCount(0);
  // Ten test digits are read again while the epoch runs.
  await expect(page.locator('#live-digits figure')).toHaveCount(10);
  await expect.poll(async () => Number(await page.locator('#live-digits').getAttribute('data-updates')), { timeout: 60_000 }).toBeGreaterThanOrEqual(2);

  // The page stays responsive: a 50 ms timer keeps firing while the GPU trains.
  const worstGap = await page.evaluate(
    () =>
      new Promise<number>((resolve) => {
        let last = performance.now();
        let worst = 0;
        const timer = setInterval(() => {
          const now = performance.now();
          worst = Math.max(worst, now - last);
          last = now;
        }, 50);
        setTimeout(() => {
          clearInterval(timer);
          resolve(worst);
        }, 3000);
      }),
  );
  console.log(`[e2e] longest gap between 50 ms timer ticks while training: ${worstGap.toFixed(0)} ms`);
  expect(worstGap).toBeLessThan(500);

  const steps = Math.ceil(TRAIN / BATCH);
  // Pause stops the steps within the queue; Resume carries on with the same
  // epoch. Early in the epoch (a real click), then in its last quarter (the
  // page clicks Pause from its progress callback at that step, so the test
  // does not race the GPU to get there).
  const checkPause = async (where: string) => {
    await expect(phase()).toHaveText('paused', { timeout: 120_000 });
    const p = await lastPause();
    console.log(
      `[e2e] pause ${where}: ${p.toLastStep.toFixed(0)} ms to the last step (step ${p.lastStep}), ` +
        `${p.toPaused.toFixed(0)} ms to 'paused'; longest submit ${p.maxSubmitMs.toFixed(0)} ms`,
    );
    expect(p.maxSubmitMs).toBeGreaterThan(0);
    expect(p.toLastStep).toBeLessThanOrEqual(PAUSE_BOUND_SUBMITS * p.maxSubmitMs);
    return p;
  };
  await page.focus('#pause');
  await page.keyboard.press('Enter');
  const early = await checkPause('early');
  // Pause disabled itself: the keyboard focus moved to Resume, not the page.
  await expect(page.locator('#resume')).toBeFocused();
  expect(early.toPaused).toBeLessThanOrEqual(PAUSE_BOUND_SUBMITS * early.maxSubmitMs);
  const pausedAt = await page.locator('#progress-text').textContent();
  await page.waitForTimeout(1500);
  await expect(page.locator('#progress-text')).toHaveText(pausedAt!);
  expect(await currentStep()).toBe(early.lastStep);
  await page.click('#resume');
  await expect(phase()).toHaveText('training');

  const lateStep = Math.max(Math.ceil(0.75 * steps), (await currentStep()) + 2);
  await page.evaluate((s) => (window as unknown as { wgslnnDemo: Hooks }).wgslnnDemo.pauseAtStep(s), lateStep);
  const late = await checkPause(`at step ${lateStep} of ${steps}`);
  expect(late.lastStep).toBeGreaterThanOrEqual(lateStep);
  if (late.lastStep < steps) expect(late.toPaused).toBeLessThanOrEqual(PAUSE_BOUND_SUBMITS * late.maxSubmitMs);
  await page.click('#resume');
  await expect(phase()).toHaveText('training');

  // A pause in the last steps of the last epoch: the epoch ends (evaluation
  // included) and the run stops at the boundary as 'paused', not 'done'.
  await page.evaluate((s) => (window as unknown as { wgslnnDemo: Hooks }).wgslnnDemo.pauseAtStep(s), steps - 1);
  const last = await checkPause(`at step ${steps - 1} of ${steps}, the last epoch`);
  expect(last.lastStep).toBe(steps);
  await expect(page.locator('#epoch-table tbody tr')).toHaveCount(1);
  await expect(page.locator('#progress-text')).toContainText(`step ${steps} of ${steps}`);
  await page.click('#resume');
  await expect(phase()).toHaveText('done', { timeout: 60_000 });
  await expect(page.locator('#progress-text')).toHaveText('finished 1 epoch');
  // The finished run is listed for comparison.
  await expect(page.locator('#runs-table tbody tr')).toHaveCount(1);
  await expect(page.locator('#runs-chart')).toHaveAttribute('data-series', '1');
  await expect(page.locator('#runs-loss-chart')).toHaveAttribute('data-series', '1');
  const seconds = (Date.now() - started) / 1000;

  const rows = page.locator('#epoch-table tbody tr');
  await expect(rows).toHaveCount(1);
  const cells = await rows.first().locator('td').allTextContents();
  expect(cells).toHaveLength(7);
  expect(cells[0]).toBe('1');
  for (const c of cells) expect(c).not.toBe('–');
  expect(Number(await loss.getAttribute('data-val-points'))).toBe(1);
  expect(Number(await page.locator('#accuracy-chart').getAttribute('data-val-points'))).toBe(1);
  expect(Number(await loss.getAttribute('data-train-points'))).toBeGreaterThanOrEqual(3);

  const accuracy = Number(await page.locator('#test-accuracy').getAttribute('data-value'));
  console.log(
    `[e2e] ${MODEL}: 1 epoch of ${TRAIN} images (batch ${BATCH}) in ${seconds.toFixed(1)} s incl. kernel timing; ` +
      `table: ${cells.join(' | ')}; test accuracy on ${TEST}: ${(100 * accuracy).toFixed(2)}%`,
  );
  expect(accuracy).toBeGreaterThanOrEqual(ACCURACY_BAR);
  await expect(page.locator('#test-accuracy')).toHaveText(`${(100 * accuracy).toFixed(2)}%`);

  // Row headers of the confusion matrix are row headers to a screen reader.
  await expect(page.locator('#confusion tbody th[scope="row"]')).toHaveCount(10);
  // The confusion matrix counts every test image once; the grid shows mistakes.
  const counts = await page.locator('#confusion tbody td').allTextContents();
  expect(counts).toHaveLength(100);
  expect(counts.reduce((a, c) => a + Number(c || 0), 0)).toBe(TEST);
  const wrong = Math.round((1 - accuracy) * TEST);
  await expect(page.locator('#misclassified figure')).toHaveCount(Math.min(wrong, 60));
  await expect(page.locator('#misclassified-count')).toContainText(`${wrong} of ${TEST}`);

  // SwiftShader offers timestamp queries, so every kernel has a time.
  const kernels = page.locator('#kernel-times tbody tr');
  expect(await kernels.count()).toBeGreaterThanOrEqual(8);
  await expect(page.locator('#kernel-times tfoot')).toContainText('ms');
  // The first run on this adapter tuned the kernels and says so.
  await expect(page.locator('#tune-status')).toContainText('Kernels tuned for your GPU');
  // Each row names the kernel variant the (tuned) plan runs.
  const variants = await page.locator('#kernel-times tbody .variant').allTextContents();
  expect(variants.length).toBe(await kernels.count());
  for (const v of variants) expect(v.trim()).toMatch(/^[a-z0-9_+ x]+$/);
  console.log(`[e2e] kernel variants: ${[...new Set(variants.map((v) => v.trim()))].join(', ')}`);

  const shot = testInfo.outputPath('trained-page.png');
  await page.screenshot({ path: shot, fullPage: true });
  await testInfo.attach('trained page', { path: shot, contentType: 'image/png' });
});

test('classifies a digit on the drawing pad as it is drawn, stroke by stroke', async () => {
  await expect(page.locator('#prediction')).toHaveText('–');
  // A 7: the top bar first, then the downstroke.
  await stroke([
    [0.25, 0.2],
    [0.75, 0.2],
  ]);
  await expect.poll(padUpdates).toBeGreaterThanOrEqual(1);
  const afterFirst = await padUpdates();
  const p1 = await padProbabilities();
  expect(p1.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
  await expect(page.locator('#prediction')).toHaveText(/^\d$/);

  await stroke([
    [0.75, 0.2],
    [0.55, 0.5],
    [0.42, 0.85],
  ]);
  await expect.poll(padUpdates).toBeGreaterThan(afterFirst);
  const p2 = await padProbabilities();
  expect(maxAbsDiff(p1, p2)).toBeGreaterThan(1e-4);
  console.log(`[e2e] drawn 7 classified as ${await page.locator('#prediction').textContent()} (p7 = ${p2[7].toFixed(3)})`);

  // A plain vertical stroke is a 1 to any network that learned MNIST.
  await page.click('#pad-clear');
  await expect(page.locator('#prediction')).toHaveText('–');
  await stroke([
    [0.5, 0.15],
    [0.48, 0.85],
  ]);
  await expect(page.locator('#prediction')).toHaveText('1');
});

test('saves a screenshot of the trained page with a drawn digit', async ({}, testInfo) => {
  await page.click('#pad-clear');
  await expect(page.locator('#prediction')).toHaveText('–');
  // A 2 in one stroke; the later tests classify it again after reloading.
  await stroke([
    [0.3, 0.25],
    [0.5, 0.15],
    [0.7, 0.3],
    [0.35, 0.8],
    [0.75, 0.8],
  ]);
  await expect(page.locator('#prediction')).toHaveText(/^\d$/);
  console.log(`[e2e] drawn 2 classified as ${await page.locator('#prediction').textContent()}`);
  const shot = testInfo.outputPath('trained-page-with-digit.png');
  await page.screenshot({ path: shot, fullPage: true });
  await testInfo.attach('trained page with a drawn digit', { path: shot, contentType: 'image/png' });
});

test('saving the weights and loading them back gives the same predictions', async ({}, testInfo) => {
  const padBefore = await padProbabilities();
  const testBefore = await predictTest(16);
  const accuracyBefore = await page.locator('#test-accuracy').textContent();

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#save')]);
  expect(download.suggestedFilename()).toMatch(/\.safetensors$/);
  const file = testInfo.outputPath(download.suggestedFilename());
  await download.saveAs(file);
  await expect(page.locator('#weights-status')).toContainText('Saved');
  expect(download.suggestedFilename()).toContain('epoch1');

  // Loading over the finished run shows the file's state, not the run's:
  // no epoch rows or curves of that run, and the file's epoch.
  await page.locator('#load').setInputFiles(file);
  await expect(page.locator('#weights-status')).toContainText('Loaded', { timeout: 120_000 });
  await expect(page.locator('#epoch-table tbody tr')).toHaveCount(0);
  await expect(page.locator('#loss-chart')).toHaveAttribute('data-train-points', '0');
  await expect(page.locator('#progress-text')).toHaveText(`loaded from ${download.suggestedFilename()}: 1 epoch of training`);
  await expect(page.locator('#test-accuracy')).toHaveText(accuracyBefore!);
  // Saved again, it is still the epoch-1 model.
  const [again] = await Promise.all([page.waitForEvent('download'), page.click('#save')]);
  expect(again.suggestedFilename()).toBe(download.suggestedFilename());

  // Reset drops the model: the pad goes back to the shipped weights.
  await page.click('#reset');
  await expect(phase()).toHaveText('ready');
  await expect(page.locator('#pad-status')).toContainText('classified by the shipped weights');

  const updates = await padUpdates();
  // Load weights is reachable from the keyboard: the file input takes focus.
  await page.focus('#load');
  await expect(page.locator('#load')).toBeFocused();
  await page.locator('#load').setInputFiles(file);
  await expect(page.locator('#weights-status')).toContainText('Loaded', { timeout: 120_000 });
  await expect(phase()).toHaveText('done');
  await expect(page.locator('#test-accuracy')).toHaveText(accuracyBefore!);
  await expect(page.locator('#progress-text')).toHaveText(`loaded from ${download.suggestedFilename()}: 1 epoch of training`);
  // The pad's drawing is classified again with the loaded weights.
  await expect.poll(padUpdates).toBeGreaterThan(updates);
  // Same weights, same kernels: the same numbers, to rounding at most.
  expect(maxAbsDiff(await padProbabilities(), padBefore)).toBeLessThan(1e-5);
  expect(maxAbsDiff(await predictTest(16), testBefore)).toBeLessThan(1e-5);
});

test('a corrupt weights file shows an error and leaves the model as it was', async () => {
  const before = await predictTest(16);
  const status = page.locator('#weights-status');
  const corrupt = [
    { name: 'garbage.safetensors', bytes: Buffer.from('this is not a safetensors file at all') },
    // A plausible header length pointing past the end of the file.
    { name: 'truncated.safetensors', bytes: Buffer.from([0x40, 0x1f, 0, 0, 0, 0, 0, 0, 0x7b, 0x22]) },
  ];
  for (const { name, bytes } of corrupt) {
    await page.locator('#load').setInputFiles({ name, mimeType: 'application/octet-stream', buffer: bytes });
    await expect(status).toContainText(`Could not load ${name}`);
    await expect(status).toContainText('The current model is unchanged.');
    const text = (await status.textContent())!;
    expect(text.split(name).length - 1, text).toBe(1);
    expect(text, text).toMatch(/[.!?] The current model is unchanged\.$/);
    expect(text).toContain('not a safetensors weights file');
    await expect(status).toHaveClass(/error/);
    await expect(phase()).toHaveText('done');
    expect(maxAbsDiff(await predictTest(16), before)).toBe(0);
  }
});

test('a GPU device lost mid-training resumes from the end of the last epoch', async () => {
  test.setTimeout(420_000);
  // A short second run: 2 epochs of 384 images (12 steps each); the page
  // destroys its device from the progress callback at step 3 of epoch 2, so
  // the loss strikes while epoch 2 runs, with epoch 1 checkpointed in memory.
  await page.fill('#train-count', '384');
  await page.fill('#test-count', '100');
  await page.fill('#epochs', '2');
  await page.evaluate(() => (window as unknown as { wgslnnDemo: Hooks }).wgslnnDemo.loseDeviceAt(1, 3));
  await page.click('#train');
  await expect(phase()).toHaveText('device lost', { timeout: 240_000 });
  await expect(page.locator('#epoch-table tbody tr')).toHaveCount(1);
  const epoch1 = await page.locator('#epoch-table tbody tr').first().textContent();
  await expect(page.locator('#banner')).toContainText('The GPU device was lost');
  await expect(page.locator('#banner')).toContainText('end of epoch 1');
  await expect(page.locator('#lost-resume')).toBeVisible();
  await expect(page.locator('#train')).toBeDisabled();

  await page.click('#lost-resume');
  await expect(page.locator('#banner')).toContainText('Resumed on a new GPU device from the end of epoch 1', { timeout: 120_000 });
  await expect(phase()).toHaveText('done', { timeout: 180_000 });
  const rows = page.locator('#epoch-table tbody tr');
  await expect(rows).toHaveCount(2);
  await expect(rows.first()).toHaveText(epoch1!);
  // Both finished runs stay in the runs table and on its two charts (validation accuracy and loss); each can be hidden on both.
  await expect(page.locator('#runs-table tbody tr')).toHaveCount(2);
  await expect(page.locator('#runs-table tbody tr').nth(1)).toContainText('run 2');
  await expect(page.locator('#runs-chart')).toHaveAttribute('data-series', '2');
  await expect(page.locator('#runs-loss-chart')).toHaveAttribute('data-series', '2');
  await page.locator('#runs-table tbody tr').first().locator('input[type=checkbox]').uncheck();
  await expect(page.locator('#runs-chart')).toHaveAttribute('data-shown', '1');
  await expect(page.locator('#runs-loss-chart')).toHaveAttribute('data-shown', '1');
  await expect(rows.nth(1).locator('td').first()).toHaveText('2');
  expect(Number(await page.locator('#loss-chart').getAttribute('data-val-points'))).toBe(2);
  // The new device classifies the drawing too.
  const updates = await padUpdates();
  await page.click('#pad-clear');
  await stroke([
    [0.5, 0.15],
    [0.48, 0.85],
  ]);
  await expect.poll(padUpdates).toBeGreaterThan(updates);

  // The page keeps its last model in IndexedDB: the same page opened again
  // (same browser profile) comes back with it, its epochs and its curves.
  const again = await page.context().newPage();
  await again.goto(URL);
  await expect(again.locator('body')).toHaveAttribute('data-restore', 'restored', { timeout: 120_000 });
  await expect(again.locator('#state')).toHaveText('done');
  await expect(again.locator('#progress-text')).toHaveText('restored from this browser: 2 epochs of training');
  await expect(again.locator('#epoch-table tbody tr')).toHaveCount(2);
  await expect(again.locator('#epoch-table tbody tr').first()).toHaveText(epoch1!);
  await expect(again.locator('#loss-chart')).toHaveAttribute('data-val-points', '2');
  await again.close();

  // This run's model was never saved: Reset asks first, and "no" keeps it.
  const dialogs: string[] = [];
  const answer = (accept: boolean) => page.once('dialog', (d) => {
    dialogs.push(d.message());
    void (accept ? d.accept() : d.dismiss());
  });
  answer(false);
  await page.click('#reset');
  await expect(phase()).toHaveText('done');
  await expect(rows).toHaveCount(2);
  answer(true);
  await page.click('#reset');
  await expect(phase()).toHaveText('ready');
  expect(dialogs).toHaveLength(2);
  expect(dialogs[0]).toContain('discards the model trained so far');
  // Reset also forgot the kept model.
  const fresh = await page.context().newPage();
  await fresh.goto(URL);
  await expect(fresh.locator('body')).toHaveAttribute('data-restore', 'none', { timeout: 120_000 });
  await expect(fresh.locator('#state')).toHaveText('ready');
  await fresh.close();
});

test('the page logged no errors', async () => {
  // A validation error or an exception anywhere above would show up here.
  expect(pageErrors).toEqual([]);
});

test('lays out for a laptop screen and a phone', async ({ browser }) => {
  // 1280x800: the drawing pad starts on the first screen. 390 px (a phone):
  // nothing makes the page itself scroll sideways; the epoch table's header
  // stays on one line (the table scrolls inside its box instead).
  for (const viewport of [
    { width: 1280, height: 800 },
    { width: 390, height: 844 },
  ]) {
    const context = await browser.newContext({ viewport });
    const p = await context.newPage();
    await p.goto(URL);
    await expect(p.locator('#state')).toHaveText('ready', { timeout: 90_000 });
    const m = await p.evaluate(() => ({
      padTop: document.getElementById('pad')!.getBoundingClientRect().top,
      pageWidth: document.documentElement.scrollWidth,
      headerHeights: Array.from(document.querySelectorAll('#epoch-table th')).map((th) => th.getBoundingClientRect().height),
    }));
    console.log(`[e2e] ${viewport.width}x${viewport.height}: pad top ${m.padTop.toFixed(0)} px, page width ${m.pageWidth} px`);
    expect(m.pageWidth).toBeLessThanOrEqual(viewport.width);
    expect(Math.max(...m.headerHeights)).toBeLessThan(2 * Math.min(...m.headerHeights));
    if (viewport.width >= 1280) expect(m.padTop).toBeLessThan(viewport.height - 100);
    await context.close();
  }
});

test('explains when the browser has no WebGPU', async ({ browser }) => {
  const p = await browser.newPage();
  await p.addInitScript(() => {
    delete (Navigator.prototype as { gpu?: unknown }).gpu;
  });
  await p.goto('/');
  await expect(p.locator('#state')).toHaveText('no WebGPU');
  await expect(p.locator('#banner')).toContainText('does not offer WebGPU');
  await expect(p.locator('#train')).toBeDisabled();
  await p.close();
});

test('explains when the adapter is too weak', async ({ browser }) => {
  const p = await browser.newPage();
  await p.addInitScript(() => {
    const request = GPU.prototype.requestAdapter;
    GPU.prototype.requestAdapter = async function (this: GPU, options?: GPURequestAdapterOptions) {
      const adapter = await request.call(this, options);
      if (!adapter) return adapter;
      const limits = new Proxy(adapter.limits, {
        get: (t, k) => (k === 'maxComputeWorkgroupStorageSize' ? 4096 : Reflect.get(t, k)),
      });
      return new Proxy(adapter, { get: (t, k) => (k === 'limits' ? limits : Reflect.get(t, k)) });
    };
  });
  await p.goto('/');
  await expect(p.locator('#state')).toHaveText('no WebGPU');
  await expect(p.locator('#banner')).toContainText('too limited');
  await expect(p.locator('#banner')).toContainText('maxComputeWorkgroupStorageSize');
  await p.close();
});
