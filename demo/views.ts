// DOM rendering for the page's panels: the per-epoch table (the paper's
// Table 1), the confusion matrix, the misclassified digits, GPU time per
// kernel and the drawing pad's probabilities. Plain DOM, no framework.

import type { MnistSplit } from '../src/data/mnist';
import type { EpochResult } from '../src/model/trainer';
import type { StepProfile } from './profiler';

export const pct = (v: number, digits = 2) => (Number.isFinite(v) ? `${(100 * v).toFixed(digits)}%` : '–');
export const num = (v: number, digits = 4) => (Number.isFinite(v) ? v.toFixed(digits) : '–');
export const int = (v: number) => Math.round(v).toLocaleString('en-US');

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, className?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (className) e.className = className;
  return e;
}

export function addEpochRow(tbody: HTMLTableSectionElement, r: EpochResult): void {
  const tr = el('tr');
  tr.dataset.epoch = String(r.epoch);
  for (const text of [
    String(r.epoch),
    `${r.seconds.toFixed(1)} s`,
    num(r.loss),
    pct(r.accuracy),
    num(r.valLoss),
    pct(r.valAccuracy),
    int(r.imagesPerSecond),
  ]) {
    tr.append(el('td', text));
  }
  tbody.append(tr);
}

/** Removes the rows of epochs after `epoch` (after resuming from a snapshot). */
export function truncateEpochRows(tbody: HTMLTableSectionElement, epoch: number): void {
  for (const tr of Array.from(tbody.rows)) {
    if (Number(tr.dataset.epoch) > epoch) tr.remove();
  }
}

/** confusion[true][predicted], shaded by the share of each true class. */
export function renderConfusion(container: HTMLElement, confusion: number[][]): void {
  const table = el('table', undefined, 'confusion');
  const head = el('tr');
  head.append(el('th', 'true ↓ / predicted →', 'corner'));
  confusion.forEach((_, c) => {
    const th = el('th', String(c));
    th.scope = 'col';
    head.append(th);
  });
  table.append(el('thead'));
  table.tHead!.append(head);
  const body = el('tbody');
  confusion.forEach((row, t) => {
    const tr = el('tr');
    const rowHead = el('th', String(t));
    rowHead.scope = 'row';
    tr.append(rowHead);
    const total = row.reduce((a, b) => a + b, 0) || 1;
    row.forEach((count, p) => {
      const td = el('td', count === 0 ? '' : String(count));
      const share = count / total;
      if (count > 0) {
        // Diagonal cells in green, confusions in red; strength shows the share.
        const alpha = t === p ? 0.15 + 0.6 * share : Math.min(0.85, 0.12 + 3 * share);
        td.style.background = t === p ? `rgba(22, 163, 74, ${alpha})` : `rgba(220, 38, 38, ${alpha})`;
      }
      td.title = `true ${t}, predicted ${p}: ${count} (${pct(share, 1)} of the ${t}s)`;
      tr.append(td);
    });
    body.append(tr);
  });
  table.append(body);
  container.replaceChildren(table);
}

/** Draws a 28x28 digit (bytes 0..255 or floats 0..1, ink bright) as dark ink on white. */
export function drawDigit(canvas: HTMLCanvasElement, pixels: ArrayLike<number>, scale255: boolean): void {
  const size = Math.round(Math.sqrt(pixels.length));
  canvas.width = size;
  canvas.height = size;
  const ctx = canvas.getContext('2d')!;
  const img = ctx.createImageData(size, size);
  for (let i = 0; i < pixels.length; i++) {
    const v = scale255 ? pixels[i] : Math.round(pixels[i] * 255);
    img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = 255 - v;
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

export function renderMisclassified(
  container: HTMLElement,
  test: MnistSplit,
  predictions: Uint32Array,
  limit: number,
): number {
  const pixels = test.rows * test.cols;
  const wrong: number[] = [];
  for (let i = 0; i < test.count; i++) if (predictions[i] !== test.labels[i]) wrong.push(i);
  const items = wrong.slice(0, limit).map((i) => {
    const fig = el('figure', undefined, 'digit');
    fig.dataset.index = String(i);
    const canvas = el('canvas');
    drawDigit(canvas, test.images.subarray(i * pixels, (i + 1) * pixels), true);
    const cap = el('figcaption');
    cap.append(el('span', String(predictions[i]), 'pred'), el('span', ` / ${test.labels[i]}`, 'true'));
    fig.title = `test image ${i}: predicted ${predictions[i]}, true ${test.labels[i]}`;
    fig.append(canvas, cap);
    return fig;
  });
  container.replaceChildren(...items);
  return wrong.length;
}

export function renderKernelTimes(container: HTMLElement, profile: StepProfile, batch: number): void {
  const max = Math.max(...profile.kernels.map((k) => k.ms), 1e-9);
  const table = el('table', undefined, 'kernels');
  const body = el('tbody');
  for (const k of profile.kernels) {
    const tr = el('tr');
    tr.title = `kernel: ${k.kernel}`;
    const bar = el('td', undefined, 'bar');
    const fill = el('div');
    fill.style.width = `${(100 * k.ms) / max}%`;
    bar.append(fill);
    const name = el('td', k.label, 'name');
    name.append(el('span', ` ${k.kernel}`, 'variant'));
    tr.append(name, bar, el('td', `${k.ms.toFixed(2)} ms`, 'ms'));
    body.append(tr);
  }
  const foot = el('tfoot');
  const tr = el('tr');
  tr.append(
    el('td', `one step, batch ${batch}`, 'name'),
    el('td', `${int((1000 * batch) / Math.max(profile.totalMs, 1e-9))} img/s GPU-bound`, 'bar-note'),
    el('td', `${profile.totalMs.toFixed(2)} ms`, 'ms'),
  );
  foot.append(tr);
  table.append(body, foot);
  container.replaceChildren(table);
}

export function renderProbabilities(container: HTMLElement, probabilities: Float32Array | null): void {
  let best = -1;
  if (probabilities) {
    for (let d = 0; d < probabilities.length; d++) if (best < 0 || probabilities[d] > probabilities[best]) best = d;
  }
  const rows = Array.from({ length: 10 }, (_, d) => {
    const p = probabilities ? probabilities[d] : NaN;
    const row = el('div', undefined, d === best ? 'prob best' : 'prob');
    row.dataset.digit = String(d);
    row.dataset.p = Number.isFinite(p) ? p.toPrecision(6) : '';
    const bar = el('div', undefined, 'track');
    const fill = el('div', undefined, 'fill');
    fill.style.width = Number.isFinite(p) ? `${100 * p}%` : '0';
    bar.append(fill);
    row.append(el('span', String(d), 'digit-label'), bar, el('span', Number.isFinite(p) ? pct(p, 1) : '', 'value'));
    return row;
  });
  container.replaceChildren(...rows);
}
