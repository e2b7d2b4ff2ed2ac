// Live training curves (the paper's Figure 7) with uPlot: one chart for loss,
// one for accuracy, each with the training curve (the running average of the
// epoch so far, as Keras reports it), the value over each GPU submit's own
// batches (noisier, but it moves at once), and the validation points at
// epoch ends.
// x is in epochs, fractional while an epoch runs.

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

const TRAIN_COLOUR = '#2563eb';
const VAL_COLOUR = '#ea580c';
const BATCH_COLOUR = 'rgba(37, 99, 235, 0.35)';

export interface CurveOptions {
  title: string;
  /** Formats a y value for the axis and legend. */
  format: (v: number) => string;
  /** Fixed y range, e.g. accuracy in [0, 1]; omitted: fit the data. */
  range?: [number, number];
}

export class CurveChart {
  private xs: number[] = [];
  private train: (number | null)[] = [];
  private val: (number | null)[] = [];
  private batch: (number | null)[] = [];
  private readonly plot: uPlot;
  private pending = false;

  constructor(
    private readonly el: HTMLElement,
    options: CurveOptions,
  ) {
    const fmt = (_: uPlot, v: number | null) => (v === null || v === undefined ? '–' : options.format(v));
    this.plot = new uPlot(
      {
        title: options.title,
        width: Math.max(200, el.clientWidth),
        height: 190,
        scales: {
          x: { time: false, range: (_u, min, max) => [0, Math.max(1, Math.ceil(max ?? min ?? 1))] },
          y: options.range ? { range: options.range } : { auto: true },
        },
        axes: [
          { label: 'epoch', size: 40, values: (_u, ticks) => ticks.map((t) => (Number.isInteger(t) ? String(t) : '')) },
          { size: 56, values: (_u, ticks) => ticks.map((t) => options.format(t)) },
        ],
        series: [
          { label: 'epoch', value: (_u, v) => (v === null ? '–' : v.toFixed(2)) },
          { label: 'training', stroke: TRAIN_COLOUR, width: 2, value: fmt, points: { show: false } },
          { label: 'per batch', stroke: BATCH_COLOUR, width: 1, value: fmt, spanGaps: true, points: { show: false } },
          {
            label: 'validation',
            stroke: VAL_COLOUR,
            width: 2,
            value: fmt,
            spanGaps: true,
            points: { show: true, size: 7, fill: VAL_COLOUR },
          },
        ],
        legend: { live: false },
      },
      [[], [], [], []],
      el,
    );
    new ResizeObserver(() => {
      const width = Math.max(200, this.el.clientWidth);
      if (Math.abs(width - this.plot.width) > 1) this.plot.setSize({ width, height: 190 });
    }).observe(el);
  }

  /** Points plotted so far (training and validation), for tests and status. */
  get trainPoints(): number {
    return this.train.filter((v) => v !== null).length;
  }

  get valPoints(): number {
    return this.val.filter((v) => v !== null).length;
  }

  /** A training point: the running average, and the latest submit's own value. */
  addTrain(x: number, y: number, batchY: number = NaN): void {
    this.xs.push(x);
    this.train.push(y);
    this.batch.push(Number.isFinite(batchY) ? batchY : null);
    this.val.push(null);
    this.redraw();
  }

  /** The epoch-end point: training value and validation value at x = epoch. */
  addEpoch(epoch: number, trainY: number, valY: number): void {
    const last = this.xs.length - 1;
    if (last >= 0 && Math.abs(this.xs[last] - epoch) < 1e-9) {
      this.train[last] = trainY;
      this.val[last] = Number.isFinite(valY) ? valY : null;
    } else {
      this.xs.push(epoch);
      this.train.push(trainY);
      this.batch.push(null);
      this.val.push(Number.isFinite(valY) ? valY : null);
    }
    this.redraw();
  }

  /** Drops everything after epoch `epoch` (after resuming from a snapshot). */
  truncate(epoch: number): void {
    const keep = this.xs.findIndex((x) => x > epoch + 1e-9);
    if (keep < 0) return;
    this.xs.length = keep;
    this.train.length = keep;
    this.batch.length = keep;
    this.val.length = keep;
    this.redraw();
  }

  clear(): void {
    this.truncate(-1);
  }

  private sync(): void {
    this.el.dataset.trainPoints = String(this.trainPoints);
    this.el.dataset.valPoints = String(this.valPoints);
    this.plot.setData([this.xs, this.train, this.batch, this.val]);
  }

  // Progress arrives several times a second; redrawing once per frame at
  // most keeps the main thread free for the UI.
  private redraw(): void {
    if (this.pending) return;
    this.pending = true;
    setTimeout(() => {
      this.pending = false;
      this.sync();
    }, 100);
  }
}

const RUN_COLOURS = ['#2563eb', '#ea580c', '#16a34a', '#9333ea', '#db2777', '#0891b2', '#ca8a04', '#4b5565'];

/** What a RunsChart plots: its title, y range and value format. */
export interface RunsMetric {
  title: string;
  /** Fixed y range; omitted: fitted to the data (from 0). */
  range?: [number, number];
  format: (v: number) => string;
}

/** Validation accuracy as a RunsChart shows it (the default). */
export const VAL_ACCURACY: RunsMetric = { title: 'Validation accuracy by run', range: [0, 1], format: (v) => `${(100 * v).toFixed(2)}%` };
/** Validation loss as a RunsChart shows it. */
export const VAL_LOSS: RunsMetric = { title: 'Validation loss by run', format: (v) => v.toFixed(4) };

/**
 * One metric per epoch of every finished run (validation accuracy or loss),
 * one line each, so that runs with different settings can be compared; each
 * can be hidden.
 */
export class RunsChart {
  private runs: { label: string; epochs: number[]; values: number[]; show: boolean }[] = [];
  private plot: uPlot | null = null;

  constructor(
    private readonly el: HTMLElement,
    private readonly metric: RunsMetric = VAL_ACCURACY,
  ) {
    new ResizeObserver(() => {
      const width = Math.max(200, this.el.clientWidth);
      if (this.plot && Math.abs(width - this.plot.width) > 1) this.plot.setSize({ width, height: 220 });
    }).observe(el);
  }

  /** Adds a run; returns its index (for show()). */
  add(label: string, epochs: number[], values: number[]): number {
    this.runs.push({ label, epochs, values, show: true });
    this.rebuild();
    return this.runs.length - 1;
  }

  show(index: number, visible: boolean): void {
    this.runs[index].show = visible;
    this.plot?.setSeries(index + 1, { show: visible });
    this.el.dataset.shown = String(this.runs.filter((r) => r.show).length);
  }

  // Runs have their own epochs: uPlot wants one x array, so they are joined
  // (a run without a value at some x gets a gap there).
  private rebuild(): void {
    this.plot?.destroy();
    const data = uPlot.join(this.runs.map((r) => [r.epochs, r.values] as [number[], number[]]));
    this.plot = new uPlot(
      {
        title: this.metric.title,
        width: Math.max(200, this.el.clientWidth),
        height: 220,
        scales: { x: { time: false }, y: this.metric.range ? { range: this.metric.range } : { range: (_u, _min, max) => [0, max > 0 ? max * 1.05 : 1] } },
        axes: [
          { label: 'epoch', size: 40, values: (_u, ticks) => ticks.map((t) => (Number.isInteger(t) ? String(t) : '')) },
          {
            size: 56,
            values: (_u, ticks) => ticks.map((t) => (this.metric.range ? `${Math.round(t * 100)}%` : t.toPrecision(2))),
          },
        ],
        series: [
          { label: 'epoch' },
          ...this.runs.map((r, i) => ({
            label: r.label,
            show: r.show,
            stroke: RUN_COLOURS[i % RUN_COLOURS.length],
            width: 2,
            spanGaps: true,
            points: { show: true, size: 6 },
            value: (_u: uPlot, v: number | null) => (v === null || v === undefined ? '–' : this.metric.format(v)),
          })),
        ],
        legend: { live: false },
      },
      data as uPlot.AlignedData,
      this.el,
    );
    this.el.dataset.series = String(this.runs.length);
    this.el.dataset.shown = String(this.runs.filter((r) => r.show).length);
  }
}
