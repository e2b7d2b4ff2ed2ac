// The benchmark harness: timing, validation and result rows. It runs the
// same in Node (Dawn) and in a browser page, so it imports nothing from Node.
//
// Timing. A sample is one submit holding one compute pass that encodes the
// measured dispatch(es) `inner` times back to back; the sample's time divided
// by `inner` is one dispatch. `inner` is chosen after the warm-up so that a
// sample lasts a few tens of milliseconds: long enough that timestamp
// quantization (Dawn rounds to 100 µs unless told otherwise) and the submit's
// own cost vanish, short enough to take several samples. Where the device has
// 'timestamp-query', the pass carries timestampWrites and the GPU's own clock
// gives the time; the wall time around submit -> onSubmittedWorkDone is
// recorded as well, and is the only clock without timestamps. Every row keeps
// the median, the min, the max and the spread (p90 - p10) / median.

import type { PreparedDispatch } from '../src/gpu/kernel';

export interface BenchOptions {
  quick: boolean;
  /** Log a progress line (stderr in Node, the console in the browser). */
  log: (line: string) => void;
}

export interface BenchContext extends BenchOptions {
  device: GPUDevice;
  adapterName: string;
  hasTimestamps: boolean;
}

export interface Timing {
  /** Per dispatch (or per step), milliseconds: median over samples. */
  ms: number;
  minMs: number;
  maxMs: number;
  /** (p90 - p10) / median of the samples. */
  spread: number;
  /** Median wall time per dispatch (submit to onSubmittedWorkDone / inner). */
  wallMs: number;
  samples: number;
  inner: number;
  clock: 'timestamp' | 'wall';
}

export interface Validation {
  maxAbs: number;
  maxRel: number;
  atol: number;
  rtol: number;
  /** What was compared, when not the whole output. */
  note?: string;
}

export interface PeerResult {
  /** What ran on the other side, e.g. 'tf.matMul'. */
  op: string;
  ms?: number;
  spread?: number;
  imagesPerSecond?: number;
  samples: number;
  error?: string;
}

export type Bound = 'compute' | 'memory' | 'ceiling' | 'end-to-end' | 'overhead';

export interface BenchRow {
  group: string;
  name: string;
  shape: string;
  bound: Bound;
  ours?: Timing;
  flops?: number;
  bytes?: number;
  gflops?: number;
  gbs?: number;
  /** GFLOP/s over the FMA ceiling (compute) or GB/s over the copy ceiling (memory). */
  fractionOfCeiling?: number;
  imagesPerSecond?: number;
  validation?: Validation;
  theirs?: PeerResult;
  /** Our speed over theirs (> 1: we are faster), from wall times measured back to back. */
  ratio?: number;
  error?: string;
}

export interface Ceilings {
  fmaGflops: number;
  copyGbs: number;
}

export class ValidationError extends Error {}

const median = (xs: number[]) => quantile(xs, 0.5);

export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

export function summarize(samples: number[]): { ms: number; minMs: number; maxMs: number; spread: number } {
  const ms = median(samples);
  return {
    ms,
    minMs: Math.min(...samples),
    maxMs: Math.max(...samples),
    spread: samples.length > 1 ? (quantile(samples, 0.9) - quantile(samples, 0.1)) / ms : 0,
  };
}

/**
 * Compares a GPU result with its float64 reference; throws a ValidationError
 * (the row is then reported, not timed) where |got - want| > atol + rtol |want|.
 */
export function validate(
  what: string,
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tol: { atol: number; rtol: number },
  note?: string,
): Validation {
  if (got.length !== want.length) {
    throw new ValidationError(`${what}: ${got.length} values, reference has ${want.length}`);
  }
  let maxAbs = 0;
  let maxRel = 0;
  let bad = -1;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= tol.atol + tol.rtol * Math.abs(want[i])) && bad < 0) bad = i;
    maxAbs = Math.max(maxAbs, Number.isFinite(d) ? d : Infinity);
    maxRel = Math.max(maxRel, d / Math.max(Math.abs(want[i]), 1e-6));
  }
  if (bad >= 0) {
    throw new ValidationError(
      `${what}: does not match the reference at [${bad}]: got ${got[bad]}, want ${want[bad]} ` +
        `(max_abs ${maxAbs.toExponential(2)}, atol ${tol.atol}, rtol ${tol.rtol})`,
    );
  }
  return { maxAbs, maxRel, ...tol, ...(note ? { note } : {}) };
}

/** Runs the dispatches once, in one pass, and waits (the validation run). */
export async function runOnce(device: GPUDevice, dispatches: PreparedDispatch[]): Promise<void> {
  device.pushErrorScope('validation');
  const enc = device.createCommandEncoder({ label: 'bench validation' });
  const pass = enc.beginComputePass({ label: 'bench validation' });
  for (const d of dispatches) d.encode(pass);
  pass.end();
  device.queue.submit([enc.finish()]);
  const err = await device.popErrorScope();
  await device.queue.onSubmittedWorkDone();
  if (err) throw new Error(`GPU error in ${dispatches.map((d) => d.label).join(', ')}: ${err.message}`);
}

export interface TimeOptions {
  /** Samples kept (after the warm-up). */
  samples?: number;
  /** A sample lasts about this long (ms); sets `inner`. */
  targetMs?: number;
  /** At most this many encodes per sample. */
  maxInner?: number;
  /** Called before every submit, outside the timed region (e.g. reset a counter). */
  beforeSubmit?: () => void;
  /**
   * Sleep through most of the expected time before waiting on the GPU. In
   * Node, Dawn's wait for onSubmittedWorkDone (or mapAsync) polls, keeping a
   * core busy that a CPU adapter's own threads then lack; sleeping first
   * measures what the adapter does when the host stays out of its way.
   */
  sleepWhileWaiting?: boolean;
}

/**
 * Times `encode` (one dispatch or one step) on the GPU. Returns the time of
 * one call of `encode`.
 */
export async function timeGpu(
  ctx: BenchContext,
  encode: (pass: GPUComputePassEncoder) => void,
  options: TimeOptions = {},
): Promise<Timing> {
  const { device } = ctx;
  let samples = options.samples ?? (ctx.quick ? 5 : 11);
  const targetMs = options.targetMs ?? (ctx.quick ? 25 : 60);
  const maxInner = options.maxInner ?? 1000;

  const querySet = ctx.hasTimestamps
    ? device.createQuerySet({ label: 'bench timestamps', type: 'timestamp', count: 2 * samples })
    : null;
  const resolve = querySet
    ? device.createBuffer({
        label: 'bench timestamps resolve',
        size: 16 * samples,
        usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
      })
    : null;

  // Time of one call of encode, from the last submit (for sleepWhileWaiting).
  let perCallMs = 0;
  const submit = async (inner: number, sample: number | null) => {
    options.beforeSubmit?.();
    const enc = device.createCommandEncoder({ label: 'bench' });
    const pass = enc.beginComputePass({
      label: 'bench',
      timestampWrites:
        querySet && sample !== null
          ? { querySet, beginningOfPassWriteIndex: 2 * sample, endOfPassWriteIndex: 2 * sample + 1 }
          : undefined,
    });
    for (let i = 0; i < inner; i++) encode(pass);
    pass.end();
    const t0 = performance.now();
    device.queue.submit([enc.finish()]);
    if (options.sleepWhileWaiting && perCallMs * inner > 2) {
      await new Promise((resolve) => setTimeout(resolve, 0.85 * perCallMs * inner));
    }
    await device.queue.onSubmittedWorkDone();
    const ms = performance.now() - t0;
    perCallMs = ms / inner;
    return ms;
  };

  try {
    device.pushErrorScope('validation');
    // Warm-up: the first submit pays for lazy pipeline work; the second tells
    // how long one call takes, which sets inner.
    await submit(1, null);
    const one = await submit(1, null);
    const inner = Math.max(1, Math.min(maxInner, Math.ceil(targetMs / Math.max(one, 1e-3))));
    if (inner > 1) await submit(inner, null);
    // Calls of a second or more (GEMM 1024 on SwiftShader): fewer samples in
    // the quick run; their spread is small next to their length.
    if (ctx.quick && one > 1000) samples = Math.min(samples, 3);
    const wall: number[] = [];
    for (let s = 0; s < samples; s++) wall.push((await submit(inner, s)) / inner);
    const err = await device.popErrorScope();
    if (err) throw new Error(`GPU error while timing: ${err.message}`);

    let gpu: number[] | null = null;
    if (querySet && resolve) {
      const read = device.createBuffer({
        label: 'bench timestamps read',
        size: 16 * samples,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
      const enc = device.createCommandEncoder({ label: 'bench resolve' });
      enc.resolveQuerySet(querySet, 0, 2 * samples, resolve, 0);
      enc.copyBufferToBuffer(resolve, 0, read, 0, 16 * samples);
      device.queue.submit([enc.finish()]);
      await read.mapAsync(GPUMapMode.READ);
      const ticks = new BigUint64Array(read.getMappedRange().slice(0));
      read.unmap();
      read.destroy();
      gpu = [];
      for (let s = 0; s < samples; s++) gpu.push(Number(ticks[2 * s + 1] - ticks[2 * s]) / 1e6 / inner);
      // A clock that reads zero or runs backwards, or one far off the wall
      // clock, is not trusted: fall back to wall time for this row.
      const wallMedian = median(wall);
      const gpuMedian = median(gpu);
      if (!(gpu.every((t) => t > 0) && gpuMedian <= wallMedian * 1.05 && gpuMedian >= wallMedian * 0.2)) {
        ctx.log(`  (timestamps disagree with the wall clock: ${gpuMedian.toFixed(3)} vs ${wallMedian.toFixed(3)} ms; using wall time)`);
        gpu = null;
      }
    }
    const chosen = gpu ?? wall;
    return { ...summarize(chosen), wallMs: median(wall), samples, inner, clock: gpu ? 'timestamp' : 'wall' };
  } finally {
    querySet?.destroy();
    resolve?.destroy();
  }
}

/** Times prepared dispatches (encoded in order, as one call). */
export function timeDispatches(
  ctx: BenchContext,
  dispatches: PreparedDispatch[],
  options?: TimeOptions,
): Promise<Timing> {
  return timeGpu(ctx, (pass) => {
    for (const d of dispatches) d.encode(pass);
  }, options);
}

/** Wall-clock samples of an async operation (the peer library's side). */
export async function timeAsync(
  run: () => Promise<void>,
  options: { warmup: number; samples: number; inner?: number },
): Promise<{ ms: number; spread: number; samples: number }> {
  const inner = options.inner ?? 1;
  for (let i = 0; i < options.warmup; i++) await run();
  const xs: number[] = [];
  for (let s = 0; s < options.samples; s++) {
    const t0 = performance.now();
    for (let i = 0; i < inner; i++) await run();
    xs.push((performance.now() - t0) / inner);
  }
  const { ms, spread } = summarize(xs);
  return { ms, spread, samples: options.samples };
}

/** Fills in GFLOP/s, GB/s and the fraction of the adapter's ceiling. */
export function rates(row: BenchRow, ceilings: Ceilings | null): BenchRow {
  const t = row.ours;
  if (!t) return row;
  if (row.flops) row.gflops = row.flops / (t.ms * 1e6);
  if (row.bytes) row.gbs = row.bytes / (t.ms * 1e6);
  if (ceilings) {
    if (row.bound === 'compute' && row.gflops) row.fractionOfCeiling = row.gflops / ceilings.fmaGflops;
    if (row.bound === 'memory' && row.gbs) row.fractionOfCeiling = row.gbs / ceilings.copyGbs;
  }
  return row;
}

/** Runs one row's body; an exception becomes the row's error, not the run's end. */
export async function guarded(ctx: BenchContext, row: BenchRow, body: () => Promise<void>): Promise<BenchRow> {
  ctx.log(`- ${row.group}: ${row.name} ${row.shape}`);
  try {
    await body();
  } catch (e) {
    row.error = (e as Error).message ?? String(e);
    ctx.log(`  error: ${row.error}`);
  }
  return row;
}

/** What a kernel row sets up: its dispatches, their check, and cleanup. */
export interface KernelCase {
  dispatches: PreparedDispatch[];
  /** Reads the validation run's output back and compares it with the reference. */
  check: () => Promise<Validation>;
  destroy: () => void;
  /** Called before every timed submit (e.g. to reset a counter the kernel advances). */
  beforeSubmit?: () => void;
}

/**
 * The life of a kernel row: set up, run once, validate, and only then time;
 * then the peer library's same op, back to back, and the ratio of the wall
 * times (ours per dispatch in one submit, theirs per op between syncs).
 */
export async function measureKernel(
  ctx: BenchContext,
  row: BenchRow,
  ceilings: Ceilings | null,
  setup: () => Promise<KernelCase>,
  peer?: () => Promise<PeerResult>,
): Promise<BenchRow> {
  return guarded(ctx, row, async () => {
    const c = await setup();
    try {
      c.beforeSubmit?.();
      await runOnce(ctx.device, c.dispatches);
      row.validation = await c.check();
      row.ours = await timeDispatches(ctx, c.dispatches, { beforeSubmit: c.beforeSubmit });
      rates(row, ceilings);
    } finally {
      for (const d of c.dispatches) d.destroy();
      c.destroy();
    }
    if (peer) {
      row.theirs = await peer();
      if (row.theirs.ms && row.ours) row.ratio = row.theirs.ms / row.ours.wallMs;
    }
  });
}

/**
 * One wall-clock sample at a time, for measurements interleaved with the
 * peer's: warm() runs the warm-up and picks `inner`; each sample() submits
 * `inner` calls of encode in one pass and returns the time of one call.
 */
export function wallSampler(
  ctx: BenchContext,
  encode: (pass: GPUComputePassEncoder) => void,
  options: { targetMs: number; maxInner: number; beforeSubmit?: () => void; sleepWhileWaiting?: boolean },
) {
  const { device } = ctx;
  let inner = 1;
  // The fastest time per call seen so far sets how long to sleep: the last
  // one would ratchet (a slow sample, say the first with its pipeline
  // compiles, makes the next sleep past the GPU's end, which makes it slow
  // too, for as many samples as a quick run takes).
  let bestMs = Infinity;
  const submit = async (n: number) => {
    options.beforeSubmit?.();
    const enc = device.createCommandEncoder({ label: 'bench' });
    const pass = enc.beginComputePass({ label: 'bench' });
    for (let i = 0; i < n; i++) encode(pass);
    pass.end();
    const t0 = performance.now();
    device.queue.submit([enc.finish()]);
    if (options.sleepWhileWaiting && Number.isFinite(bestMs) && bestMs * n > 2) {
      await new Promise((resolve) => setTimeout(resolve, 0.85 * bestMs * n));
    }
    await device.queue.onSubmittedWorkDone();
    const perCallMs = (performance.now() - t0) / n;
    bestMs = Math.min(bestMs, perCallMs);
    return perCallMs;
  };
  return {
    get inner() {
      return inner;
    },
    async warm() {
      await submit(1);
      await submit(1);
      const one = await submit(1);
      inner = Math.max(1, Math.min(options.maxInner, Math.ceil(options.targetMs / Math.max(one, 1e-3))));
    },
    sample: () => submit(inner),
  };
}

/** A Timing from wall-clock samples (one call each). */
export function wallTiming(samples: number[], inner: number): Timing {
  const s = summarize(samples);
  return { ...s, wallMs: s.ms, samples: samples.length, inner, clock: 'wall' };
}
