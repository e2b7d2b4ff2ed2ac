// End to end: training and inference images/s of the paper's CNN, ours (the
// training plan the Trainer runs, many steps per submit) against TF.js's
// trainOnBatch / predict on the same adapter, batch and model, back to back.
// Also the profile of one step, dispatch by dispatch, which is what explains
// where the time goes when a target is missed.

import { readBuffer, uploadStorage } from '../src/gpu/buffers';
import { variantOf } from '../src/gpu/tune';
import { ADAM_DEFAULTS } from '../src/kernels/adam';
import { packBytes } from '../src/kernels/mnist_batch';
import { convShape, StepPlan, type GpuDataset } from '../src/model/plan';
import { buildModel, PAPER_CNN, type Model } from '../src/model/model';
import { ParamStore } from '../src/model/params';
import { conv2dGeometry } from '../src/kernels/conv2d';
import { referenceTrainStep, type ReferenceState } from '../src/reference/model';
import { Rng } from '../src/util/rng';
import {
  guarded,
  quantile,
  rates,
  summarize,
  timeDispatches,
  timeGpu,
  validate,
  wallSampler,
  wallTiming,
  type BenchContext,
  type BenchRow,
  type Ceilings,
  type Validation,
} from './harness';
import type { Stepper, TfjsPeer } from './tfjs';

export interface StepProfile {
  mode: 'train' | 'predict';
  batch: number;
  /** The plan was built with tune: 'auto' (bench/tune.bench.ts). */
  tuned?: boolean;
  /** The whole step, timed as in the end-to-end row (ms). */
  stepMs: number;
  /** `kernel` names the variant where the plan was tuned (gemm_blocked 8x8 wg16x16 k16, ...). */
  dispatches: { label: string; kernel: string; ms: number; share: number }[];
}

const IMAGES = 2048;
const PIXELS = 784;
/** Steps one submit may hold: the perm covers this many batches. */
export const MAX_STEPS_PER_SUBMIT = 64;
const f32 = Math.fround;

/** Sparse bright strokes on black, roughly like MNIST; fixed by the seed. */
function syntheticImages(seed: number) {
  const rng = new Rng(seed);
  const images = new Uint8Array(IMAGES * PIXELS);
  for (let i = 0; i < images.length; i++) images[i] = rng.next() < 0.2 ? rng.int(256) : 0;
  const labels = Uint8Array.from({ length: IMAGES }, () => rng.int(10));
  return { images, labels };
}

/** FLOPs of one training step (forward, backward) or one forward pass. */
export function stepFlops(model: Model, batch: number, train: boolean): number {
  let flops = 0;
  const firstParam = model.layers.findIndex((l) => l.params.length > 0);
  for (const l of model.layers) {
    let f = 0;
    if (l.type === 'conv2d') {
      const s = convShape(l, batch);
      const g = conv2dGeometry(s);
      f = 2 * batch * g.outH * g.outW * l.filters * l.kernelH * l.kernelW * s.inC;
    } else if (l.type === 'dense') {
      f = 2 * batch * l.inShape[0] * l.units;
    } else continue;
    flops += f;
    // Backward: the weight gradient always, the input gradient where a layer
    // before has parameters.
    if (train) flops += f * (l.index > firstParam ? 2 : 1);
  }
  return flops;
}

export interface Setup {
  model: Model;
  store: ParamStore;
  data: GpuDataset;
  host: ReturnType<typeof syntheticImages>;
  destroy(): void;
}

export function setup(ctx: BenchContext, batch: number): Setup {
  const { device } = ctx;
  const model = buildModel(PAPER_CNN);
  const store = new ParamStore(device, model.params);
  store.initialize(1);
  const host = syntheticImages(batch);
  const permLength = MAX_STEPS_PER_SUBMIT * batch;
  const data: GpuDataset = {
    images: uploadStorage(device, packBytes(host.images), 'bench images'),
    labelBytes: uploadStorage(device, packBytes(host.labels), 'bench labels'),
    perm: uploadStorage(device, Uint32Array.from({ length: permLength }, (_, i) => (i * 7919) % IMAGES), 'bench perm'),
    count: IMAGES,
    pixels: PIXELS,
  };
  return {
    model,
    store,
    data,
    host,
    destroy() {
      store.destroy();
      data.images.destroy();
      data.labelBytes.destroy();
      data.perm.destroy();
    },
  };
}

/** The batch mnist_batch gathers at batch index 0, as the reference sees it. */
function firstBatch(s: Setup, batch: number) {
  const x = new Float64Array(batch * PIXELS);
  const labels = new Uint32Array(batch);
  for (let r = 0; r < batch; r++) {
    const img = (r * 7919) % IMAGES;
    labels[r] = s.host.labels[img];
    // The shader multiplies by f32(1/255), rounded once.
    for (let p = 0; p < PIXELS; p++) x[r * PIXELS + p] = f32(s.host.images[img * PIXELS + p] * f32(1 / 255));
  }
  return { x, labels };
}

async function hostState(ctx: BenchContext, s: Setup): Promise<ReferenceState> {
  const read = async (b: GPUBuffer) => s.store.unpack(new Float32Array(await readBuffer(ctx.device, b)));
  const toF64 = (m: Map<string, Float32Array>) => new Map([...m].map(([k, v]) => [k, Float64Array.from(v)]));
  return { params: toF64(await read(s.store.params)), m: toF64(await read(s.store.m)), v: toF64(await read(s.store.v)), step: 0 };
}

/** One GPU training step against the float64 reference step: every gradient. */
export async function validateTrainStep(ctx: BenchContext, s: Setup, plan: StepPlan, batch: number): Promise<Validation> {
  const { device } = ctx;
  const state = await hostState(ctx, s);
  device.queue.writeBuffer(plan.step, 0, new Uint32Array(4));
  const enc = device.createCommandEncoder({ label: 'bench train validation' });
  const pass = enc.beginComputePass();
  plan.encode(pass);
  pass.end();
  device.queue.submit([enc.finish()]);
  const { x, labels } = firstBatch(s, batch);
  const ref = referenceTrainStep(s.model, state, x, labels, batch, { seed: 1, adam: ADAM_DEFAULTS });
  const grads = s.store.unpack(new Float32Array(await readBuffer(device, s.store.grads)));
  let worst: Validation | null = null;
  for (const p of s.model.params) {
    const want = ref.grads.get(p.name)!;
    const gMax = want.reduce((a, b) => Math.max(a, Math.abs(b)), 0);
    if (!(gMax > 0)) throw new Error(`${p.name}: the reference gradient is all zero, the check would be vacuous`);
    // As test/model/train_step.test.ts: f32 reductions over up to
    // batch * OH * OW * K terms leave errors ~1e-5 of the largest gradient.
    const v = validate(`training step ${p.name} gradient`, grads.get(p.name)!, want, { atol: 1e-4 * gMax, rtol: 1e-3 });
    if (!worst || v.maxAbs / (v.atol || 1) > worst.maxAbs / (worst.atol || 1)) worst = { ...v, note: `every gradient; worst ${p.name}` };
  }
  return worst!;
}

/** Logits of the predict plan against the reference forward pass. */
export async function validatePredict(ctx: BenchContext, s: Setup, plan: StepPlan, batch: number, images: Float32Array): Promise<Validation> {
  const { device } = ctx;
  const state = await hostState(ctx, s);
  const enc = device.createCommandEncoder({ label: 'bench predict validation' });
  const pass = enc.beginComputePass();
  plan.encode(pass);
  pass.end();
  device.queue.submit([enc.finish()]);
  const ref = referenceTrainStep(s.model, state, Float64Array.from(images), new Uint32Array(batch), batch, {
    seed: 1,
    adam: ADAM_DEFAULTS,
    train: false,
  });
  const got = new Float32Array(await readBuffer(device, plan.logits, batch * 10 * 4));
  // Logits sum ~1600 products after two convolutions of a few hundred terms.
  return validate('inference logits', got, ref.logits, { atol: 1e-4, rtol: 1e-4 });
}

export async function profile(ctx: BenchContext, plan: StepPlan, mode: StepProfile['mode'], batch: number, stepMs: number): Promise<StepProfile> {
  const dispatches: StepProfile['dispatches'] = [];
  for (const d of plan.dispatches) {
    const t = await timeDispatches(ctx, [d], { samples: 3, targetMs: 10 });
    dispatches.push({ label: d.label, kernel: variantOf(d), ms: t.ms, share: t.ms / stepMs });
  }
  return { mode, batch, stepMs, dispatches, ...(plan.options.tune === 'auto' ? { tuned: true } : {}) };
}

/**
 * Ours and TF.js's, interleaved: after both warm up, each round takes one
 * sample of ours (many steps in one submit, wall time per step) and one
 * TF.js step, and the ratio is the median of the rounds' ratios. On a busy
 * machine the load drifts over seconds; a pair measured together sees the
 * same load, two series measured one after the other do not.
 */
export async function interleaved(
  ctx: BenchContext,
  row: BenchRow,
  batch: number,
  ours: ReturnType<typeof wallSampler>,
  peer: TfjsPeer | null,
  mode: 'train' | 'predict',
): Promise<void> {
  await ours.warm();
  let theirs: Stepper | null = null;
  if (peer) {
    ctx.log(`  TF.js ${mode} warm-up`);
    try {
      theirs = await peer.stepper(mode, batch);
    } catch (e) {
      row.theirs = { op: mode, samples: 0, error: (e as Error).message };
    }
  }
  // TF.js takes seconds per training step on a CPU adapter: few rounds.
  const rounds = ctx.quick ? 3 : mode === 'train' ? 5 : 7;
  const oursMs: number[] = [];
  const theirsMs: number[] = [];
  const ratios: number[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      const o = await ours.sample();
      oursMs.push(o);
      if (theirs) {
        const t = await theirs.step();
        theirsMs.push(t);
        ratios.push(t / o);
      }
    }
  } finally {
    theirs?.dispose();
  }
  row.ours = wallTiming(oursMs, ours.inner);
  row.imagesPerSecond = (batch * 1000) / row.ours.ms;
  if (theirs) {
    const t = summarize(theirsMs);
    row.theirs = { op: theirs.op, ms: t.ms, spread: t.spread, samples: theirsMs.length, imagesPerSecond: (batch * 1000) / t.ms };
    row.ratio = quantile(ratios, 0.5);
  }
}

export async function benchEndToEnd(
  ctx: BenchContext,
  ceilings: Ceilings,
  peer: TfjsPeer | null,
): Promise<{ rows: BenchRow[]; profiles: StepProfile[] }> {
  const { device } = ctx;
  const rows: BenchRow[] = [];
  const profiles: StepProfile[] = [];
  const model = buildModel(PAPER_CNN);
  const target = ctx.quick ? 400 : 1500;

  for (const batch of [32, 128]) {
    const row: BenchRow = {
      group: 'train',
      name: 'training',
      shape: `paper CNN, batch ${batch}`,
      bound: 'end-to-end',
      flops: stepFlops(model, batch, true),
    };
    const extra: BenchRow[] = [];
    rows.push(
      await guarded(ctx, row, async () => {
        const s = setup(ctx, batch);
        const plan = await StepPlan.create(device, s.model, s.store, { batch, mode: 'train', data: s.data, adam: ADAM_DEFAULTS, seed: 1 });
        try {
          // Validation is a float64 CPU step: seconds at batch 128, so the
          // quick run checks batch 32 only (the same kernels and plan).
          if (!ctx.quick || batch === 32) row.validation = await validateTrainStep(ctx, s, plan, batch);
          // Every submit restarts the batch index so the perm never runs out.
          const reset = () => device.queue.writeBuffer(plan.step, 0, new Uint32Array([1, 0, 0, 0]));
          const encode = (pass: GPUComputePassEncoder) => plan.encode(pass);
          // The host sleeps through most of each submit, as the Trainer does
          // (Dawn's wait polls, taking a core from a CPU adapter).
          const sampler = wallSampler(ctx, encode, { targetMs: target, maxInner: MAX_STEPS_PER_SUBMIT, beforeSubmit: reset, sleepWhileWaiting: true });
          await interleaved(ctx, row, batch, sampler, peer, 'train');
          rates(row, ceilings);
          row.fractionOfCeiling = row.gflops! / ceilings.fmaGflops;
          if (batch === 128) {
            // The same steps awaited at once, the host polling: what the
            // sleeping wait is worth on this machine.
            const polling: BenchRow = { ...row, name: 'training (host polls while waiting)', theirs: undefined, ratio: undefined, validation: undefined };
            polling.ours = await timeGpu(ctx, encode, { targetMs: target, maxInner: MAX_STEPS_PER_SUBMIT, beforeSubmit: reset });
            rates(polling, ceilings);
            polling.fractionOfCeiling = polling.gflops! / ceilings.fmaGflops;
            polling.imagesPerSecond = (batch * 1000) / polling.ours.wallMs;
            extra.push(polling);
          }
          profiles.push(await profile(ctx, plan, 'train', batch, row.ours!.ms));
        } finally {
          plan.destroy();
          s.destroy();
        }
      }),
      ...extra,
    );
  }

  for (const batch of ctx.quick ? [32, 128] : [32, 128, 256]) {
    const row: BenchRow = {
      group: 'train',
      name: 'inference',
      shape: `paper CNN, batch ${batch}`,
      bound: 'end-to-end',
      flops: stepFlops(model, batch, false),
    };
    rows.push(
      await guarded(ctx, row, async () => {
        const s = setup(ctx, batch);
        const plan = await StepPlan.create(device, s.model, s.store, { batch, mode: 'predict' });
        try {
          const images = new Rng(batch + 1).floats(batch * PIXELS, 0, 1);
          device.queue.writeBuffer(plan.input, 0, images as Float32Array<ArrayBuffer>);
          if (!ctx.quick || batch === 32) row.validation = await validatePredict(ctx, s, plan, batch, images);
          await interleaved(ctx, row, batch, wallSampler(ctx, (pass) => plan.encode(pass), { targetMs: target / 2, maxInner: 256 }), peer, 'predict');
          rates(row, ceilings);
          row.fractionOfCeiling = row.gflops! / ceilings.fmaGflops;
          if (batch === 128) profiles.push(await profile(ctx, plan, 'predict', batch, row.ours!.ms));
        } finally {
          plan.destroy();
          s.destroy();
        }
      }),
    );
  }
  return { rows, profiles };
}
