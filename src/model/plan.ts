// The step plan. Built once for a model and a batch size: it allocates every
// activation and gradient buffer, prepares every dispatch (pipelines, bind
// groups, params uniforms), and then only encodes them, step after step.
//
// Forward: gather batch -> layers in order -> softmax cross-entropy.
// Backward, in reverse order; every backward kernel OVERWRITES its outputs, so
// nothing needs zeroing:
//   dense   dW = x^T . dz, db = colsum(dz), dx = dz . W^T
//   conv2d  dW, db = backward_filter(x, dz), dx = backward_input(dz, W)
//   maxpool dx = gather through the stored argmax; when a ReLU layer feeds the
//           pool, its gradient is fused here (route only where the max > 0)
//   avgpool dx = dy / window count, gathered over the windows covering x
//   dropout dx = dy * mask
//   batchnorm dgamma, dbeta, dx through the batch statistics (its activation's
//           gradient included), kernels/batchnorm.ts
// where dz is the gradient w.r.t. the pre-activation output: the incoming
// gradient itself, or activation_backward of it when the activation's
// gradient was not fused into the pool. Activations are fused into the
// layers' epilogues, except gelu in training: its gradient needs the
// pre-activation, so the layer writes that and activation_forward applies gelu.
// Then one Adam dispatch over the trainable part of the flat parameter buffer
// and step_advance. Batchnorm's moving statistics are updated in the forward
// pass of training (its stats kernel) and read by eval and predict plans.

import { createStorage, type BufferRef, type PlannedBuffer } from '../gpu/buffers';
import { sequence, type PreparedDispatch } from '../gpu/kernel';
import { prepareAdam } from '../kernels/adam';
import { prepareBatchNormBackward, prepareBatchNormForward, prepareBatchNormStats, type BatchNormShape } from '../kernels/batchnorm';
import { prepareAvgPoolBackward, prepareAvgPoolForward } from '../kernels/avgpool';
import { prepareBiasBackward } from '../kernels/bias';
import {
  prepareConv2dBackwardFilter,
  prepareConv2dBackwardInput,
  prepareConv2dForward,
  type Conv2dShape,
} from '../kernels/conv2d';
import { prepareDropoutBackward, prepareDropoutForward } from '../kernels/dropout';
import { prepareGemm } from '../kernels/gemm';
import type { TuneOptions } from '../gpu/tune';
import { prepareMaxPoolBackward, prepareMaxPoolForward, type MaxPoolShape } from '../kernels/maxpool';
import { prepareMnistBatch } from '../kernels/mnist_batch';
import { gradFromOutput, prepareActivationBackward, prepareActivationForward } from '../kernels/activation';
import { prepareSoftmaxCrossEntropy } from '../kernels/softmax_cross_entropy';
import { prepareStepAdvance } from '../kernels/step_advance';
import type { Model, ResolvedLayer } from './model';
import type { ParamStore } from './params';

const count = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** The dataset as it lives on the GPU: packed bytes plus a permutation. */
export interface GpuDataset {
  images: GPUBuffer;
  labelBytes: GPUBuffer;
  /** The order of samples: batch b reads perm[b*batch .. (b+1)*batch). */
  perm: GPUBuffer;
  count: number;
  pixels: number;
}

export interface AdamConfig {
  lr: number;
  beta1: number;
  beta2: number;
  epsilon: number;
}

export interface PlanOptions {
  batch: number;
  /** 'train': forward, backward, Adam. 'eval': forward + loss. 'predict': forward to logits from `input`. */
  mode: 'train' | 'eval' | 'predict';
  /** Gathers batches from this dataset (train and eval). */
  data?: GpuDataset;
  adam?: AdamConfig;
  /** Dropout seeds derive from it (with the step number, in the shader). */
  seed?: number;
  /**
   * Kernel tuning for the GEMMs (dense layers, conv backward-input): 'off'
   * (default) is the shape-based choice; see TuneMode in src/gpu/tune.ts.
   */
  tune?: TuneOptions['tune'];
  tuner?: TuneOptions['tuner'];
}

export class StepPlan {
  readonly dispatches: PreparedDispatch[] = [];
  /** (batch, H*W*C) network input; written by mnist_batch or by the host. */
  input!: GPUBuffer;
  labels!: GPUBuffer;
  logits!: GPUBuffer;
  /** Per-sample loss and predicted class (train and eval). */
  loss!: GPUBuffer;
  pred!: GPUBuffer;
  /** f32[3]: running sum of loss, correct predictions, samples. */
  metrics!: GPUBuffer;
  /** u32[2]: completed steps, batch index in the epoch (see step_advance). */
  step!: GPUBuffer;
  private owned: GPUBuffer[] = [];

  private constructor(
    readonly device: GPUDevice,
    readonly model: Model,
    readonly store: ParamStore,
    readonly options: PlanOptions,
  ) {}

  static async create(device: GPUDevice, model: Model, store: ParamStore, options: PlanOptions): Promise<StepPlan> {
    const plan = new StepPlan(device, model, store, options);
    try {
      await plan.build();
    } catch (e) {
      // Whatever was created before the failure goes, so a failed create
      // leaves nothing on the host's device.
      plan.destroy();
      throw e;
    }
    return plan;
  }

  /** The tuning options every tunable prepare* call of this plan gets. */
  private tuning(): TuneOptions {
    return { tune: this.options.tune, tuner: this.options.tuner };
  }

  private alloc(floats: number, label: string): GPUBuffer {
    const b = createStorage(this.device, floats * 4, label);
    this.owned.push(b);
    return b;
  }

  private async build(): Promise<void> {
    const { device, model, store, options } = this;
    const B = options.batch;
    const train = options.mode === 'train';
    const add = (d: PreparedDispatch) => this.dispatches.push(d);
    const inputFloats = count(model.inputShape);

    this.step = this.alloc(4, 'step');
    this.metrics = this.alloc(4, 'metrics');
    this.input = this.alloc(B * inputFloats, 'input');
    this.labels = this.alloc(B, 'labels');

    if (options.mode !== 'predict') {
      const data = options.data;
      if (!data) throw new Error('StepPlan: train and eval plans need a dataset');
      add(
        await prepareMnistBatch(
          device,
          { x: this.input, labels: this.labels, images: data.images, labelBytes: data.labelBytes, perm: data.perm, step: this.step },
          { batch: B, imageCount: data.count, pixels: data.pixels },
        ),
      );
    }

    // Forward. acts[i] is the input of layer i; acts[L] the logits.
    const layers = model.layers;
    const acts: GPUBuffer[] = [this.input];
    const argmax = new Map<number, GPUBuffer>();
    const masks = new Map<number, GPUBuffer>();
    // Pre-activations kept for the backward pass (gelu in training).
    const preacts = new Map<number, GPUBuffer>();
    // Each batchnorm layer's batch mean and variance (training).
    const batchStats = new Map<number, { mean: GPUBuffer; variance: GPUBuffer }>();
    const w = (name: string) => store.slice(store.params, name);
    // Where a layer writes before its activation: y itself when the activation
    // is fused, else a kept pre-activation buffer that activation_forward reads.
    const unfused = (l: Extract<ResolvedLayer, { type: 'conv2d' | 'dense' }>) => train && !gradFromOutput(l.activation);
    const finish = async (l: Extract<ResolvedLayer, { type: 'conv2d' | 'dense' }>, y: GPUBuffer, z: GPUBuffer | null, n: number) => {
      if (!z) return;
      preacts.set(l.index, z);
      add(await prepareActivationForward(device, { y, u: z }, { n, activation: l.activation }, `${l.name} ${l.activation}`));
    };
    for (const l of layers) {
      const x = acts[acts.length - 1];
      const outFloats = B * count(l.outShape);
      const label = `${l.name} forward`;
      switch (l.type) {
        case 'conv2d': {
          const y = this.alloc(outFloats, l.name);
          const z = unfused(l) ? this.alloc(outFloats, `${l.name} preactivation`) : null;
          const activation = z ? 'linear' : l.activation;
          add(await prepareConv2dForward(device, { y: z ?? y, x, w: w(`${l.name}/kernel`), b: w(`${l.name}/bias`) }, { ...convShape(l, B), activation }, label, this.tuning()));
          await finish(l, y, z, outFloats);
          acts.push(y);
          break;
        }
        case 'maxpool2d': {
          const y = this.alloc(outFloats, l.name);
          const idx = this.alloc(outFloats, `${l.name} argmax`);
          argmax.set(l.index, idx);
          add(await prepareMaxPoolForward(device, { y, argmax: idx, x }, poolShape(l, B), label));
          acts.push(y);
          break;
        }
        case 'avgpool2d': {
          const y = this.alloc(outFloats, l.name);
          add(await prepareAvgPoolForward(device, { y, x }, poolShape(l, B), label));
          acts.push(y);
          break;
        }
        case 'flatten':
          acts.push(x); // NHWC is already (batch, H*W*C) in memory.
          break;
        case 'batchnorm': {
          const y = this.alloc(outFloats, l.name);
          const shape = batchNormShape(l, B);
          const gamma = w(`${l.name}/gamma`);
          const beta = w(`${l.name}/beta`);
          if (train) {
            const mean = this.alloc(l.channels, `${l.name} batch mean`);
            const variance = this.alloc(l.channels, `${l.name} batch variance`);
            batchStats.set(l.index, { mean, variance });
            const movingMean = w(`${l.name}/moving_mean`);
            const movingVariance = w(`${l.name}/moving_variance`);
            add(await prepareBatchNormStats(device, { mean, variance, movingMean, movingVariance, x }, shape, `${l.name} stats`));
            add(await prepareBatchNormForward(device, { y, x, mean, variance, gamma, beta }, shape, label));
          } else {
            const stats = { mean: w(`${l.name}/moving_mean`), variance: w(`${l.name}/moving_variance`) };
            add(await prepareBatchNormForward(device, { y, x, ...stats, gamma, beta }, shape, label));
          }
          acts.push(y);
          break;
        }
        case 'dropout': {
          if (train && l.rate > 0) {
            const y = this.alloc(outFloats, l.name);
            const mask = this.alloc(outFloats, `${l.name} mask`);
            masks.set(l.index, mask);
            const seed = dropoutSeed(options.seed ?? 0, l.index);
            add(await prepareDropoutForward(device, { y, mask, x, step: this.step }, { n: outFloats, rate: l.rate, seed }, label));
            acts.push(y);
          } else {
            acts.push(x); // identity at inference
          }
          break;
        }
        case 'dense': {
          const y = this.alloc(outFloats, l.name);
          const z = unfused(l) ? this.alloc(outFloats, `${l.name} preactivation`) : null;
          add(
            await prepareGemm(
              device,
              { c: z ?? y, a: x, b: w(`${l.name}/kernel`), bias: w(`${l.name}/bias`) },
              { m: B, n: l.units, k: l.inShape[0], bias: true, activation: z ? 'linear' : l.activation },
              label,
              this.tuning(),
            ),
          );
          await finish(l, y, z, outFloats);
          acts.push(y);
          break;
        }
      }
    }
    this.logits = acts[acts.length - 1];
    if (options.mode === 'predict') return;

    const classes = model.classes;
    const dlogits = this.alloc(B * classes, 'dlogits');
    this.loss = this.alloc(B, 'loss');
    this.pred = this.alloc(B, 'pred');
    add(
      await prepareSoftmaxCrossEntropy(
        device,
        { dlogits, loss: this.loss, pred: this.pred, metrics: this.metrics, logits: this.logits, labels: this.labels },
        { batch: B, classes },
      ),
    );

    if (train) {
      await this.buildBackward(layers, acts, argmax, masks, preacts, batchStats, dlogits);
      const adam = options.adam;
      if (!adam) throw new Error('StepPlan: a training plan needs Adam settings');
      add(
        await prepareAdam(
          device,
          { param: store.params, m: store.m, v: store.v, grad: store.grads, step: this.step },
          { n: store.trainableFloats, lr: adam.lr, beta1: adam.beta1, beta2: adam.beta2, epsilon: adam.epsilon },
        ),
      );
    }
    add(await prepareStepAdvance(device, { step: this.step }));
  }

  private async buildBackward(
    layers: ResolvedLayer[],
    acts: GPUBuffer[],
    argmax: Map<number, GPUBuffer>,
    masks: Map<number, GPUBuffer>,
    preacts: Map<number, GPUBuffer>,
    batchStats: Map<number, { mean: GPUBuffer; variance: GPUBuffer }>,
    dlogits: GPUBuffer,
  ): Promise<void> {
    const { device, store } = this;
    const B = this.options.batch;
    const add = (d: PreparedDispatch) => this.dispatches.push(d);
    const g = (name: string) => store.slice(store.grads, name);
    const w = (name: string) => store.slice(store.params, name);
    // A layer needs its input gradient only if some layer before it has parameters.
    const firstParam = layers.findIndex((l) => l.params.length > 0);

    // gradient w.r.t. the current layer's output, and whether the activation
    // gradient of the layer that produced it has already been applied (ReLU
    // fused into a pool).
    let grad: GPUBuffer = dlogits;
    let preActivation = true; // softmax cross-entropy gives d loss / d logits
    for (let k = layers.length - 1; k >= 0; k--) {
      const l = layers[k];
      const x = acts[k];
      const needInput = k > firstParam;
      const outFloats = B * count(l.outShape);
      const inFloats = B * count(l.inShape);
      const label = `${l.name} backward`;
      if (l.type === 'flatten') continue;
      if (!needInput && l.params.length === 0) break;
      if (l.type === 'conv2d' || l.type === 'dense') {
        let dz: BufferRef = grad;
        if (l.activation !== 'linear' && !preActivation) {
          const z = this.alloc(outFloats, `${l.name} dz`);
          const saved = preacts.get(l.index) ?? acts[k + 1];
          const fromOutput = !preacts.has(l.index);
          add(
            await prepareActivationBackward(
              device,
              { dx: z, dy: grad, saved },
              { n: outFloats, activation: l.activation, fromOutput },
              `${l.name} ${l.activation}_backward`,
            ),
          );
          dz = z;
        }
        const dx = needInput ? this.alloc(inFloats, `${l.name} dx`) : null;
        if (l.type === 'conv2d') {
          const shape = convShape(l, B);
          add(await prepareConv2dBackwardFilter(device, { dw: g(`${l.name}/kernel`), db: g(`${l.name}/bias`), x, dy: dz }, shape, `${label} filter`, this.tuning()));
          if (dx) add(await prepareConv2dBackwardInput(device, { dx, dy: dz, w: w(`${l.name}/kernel`) }, shape, `${label} input`, this.tuning()));
        } else {
          const inUnits = l.inShape[0];
          add(
            sequence(`${label} weights`, [
              await prepareGemm(device, { c: g(`${l.name}/kernel`), a: x, b: dz }, { m: inUnits, n: l.units, k: B, transA: true }, `${label} dW`, this.tuning()),
              await prepareBiasBackward(device, { db: g(`${l.name}/bias`), dy: dz }, { rows: B, cols: l.units }, `${label} db`),
            ]),
          );
          if (dx) add(await prepareGemm(device, { c: dx, a: dz, b: w(`${l.name}/kernel`) }, { m: B, n: inUnits, k: l.units, transB: true }, `${label} dx`, this.tuning()));
        }
        if (!dx) break;
        grad = dx;
        preActivation = false;
      } else if (l.type === 'avgpool2d') {
        const dx = this.alloc(inFloats, `${l.name} dx`);
        add(await prepareAvgPoolBackward(device, { dx, dy: grad }, poolShape(l, B), label));
        grad = dx;
      } else if (l.type === 'batchnorm') {
        const dx = this.alloc(inFloats, `${l.name} dx`);
        const stats = batchStats.get(l.index)!;
        add(
          await prepareBatchNormBackward(
            device,
            {
              dx, dgamma: g(`${l.name}/gamma`), dbeta: g(`${l.name}/beta`), dy: grad, x,
              ...stats, gamma: w(`${l.name}/gamma`), beta: w(`${l.name}/beta`),
            },
            // A gradient that arrives pre-activation (ReLU fused into a pool) skips f'.
            { ...batchNormShape(l, B), activation: preActivation ? 'linear' : l.activation },
            label,
          ),
        );
        grad = dx;
        preActivation = false;
      } else if (l.type === 'maxpool2d') {
        const prev = layers[k - 1];
        const fuseRelu = prev !== undefined && 'activation' in prev && prev.activation === 'relu';
        const dx = this.alloc(inFloats, `${l.name} dx`);
        add(
          await prepareMaxPoolBackward(
            device,
            { dx, dy: grad, argmax: argmax.get(l.index)!, y: acts[k + 1] },
            { ...poolShape(l, B), relu: fuseRelu },
            label,
          ),
        );
        grad = dx;
        preActivation = fuseRelu;
      } else if (l.type === 'dropout') {
        const mask = masks.get(l.index);
        if (mask) {
          const dx = this.alloc(inFloats, `${l.name} dx`);
          add(await prepareDropoutBackward(device, { dx, dy: grad, mask }, { n: inFloats }, label));
          grad = dx;
        }
        // (rate 0: identity, the gradient passes through unchanged)
      }
    }
  }

  /** Records one step: every dispatch, in order, into an open compute pass. */
  encode(pass: GPUComputePassEncoder): void {
    for (const d of this.dispatches) d.encode(pass);
  }

  destroy(): void {
    for (const d of this.dispatches) d.destroy();
    for (const b of this.owned) b.destroy();
  }
}

/**
 * The activation and gradient buffers a plan of this model and batch size
 * will create, with their sizes: what Trainer.create checks against the
 * device's limits before creating anything. Backward buffers have the size of
 * the forward activation at the same place. (Kernel workspaces are sized by
 * the kernels to fit; createStorage checks those as they are made.)
 */
export function planBuffers(model: Model, options: Pick<PlanOptions, 'batch' | 'mode'>): PlannedBuffer[] {
  const B = options.batch;
  const train = options.mode === 'train';
  const out: PlannedBuffer[] = [];
  const add = (label: string, perSampleFloats: number) =>
    out.push({ label, bytes: B * perSampleFloats * 4, perSampleBytes: perSampleFloats * 4 });
  add('input', count(model.inputShape));
  add('labels', 1);
  const firstParam = model.layers.findIndex((l) => l.params.length > 0);
  model.layers.forEach((l, k) => {
    const outFloats = count(l.outShape);
    if (l.type === 'conv2d' || l.type === 'dense') add(l.name, outFloats);
    if (l.type === 'maxpool2d') {
      add(l.name, outFloats);
      add(`${l.name} argmax`, outFloats);
    }
    if (l.type === 'dropout' && train && l.rate > 0) {
      add(l.name, outFloats);
      add(`${l.name} mask`, outFloats);
    }
    if (train && k > firstParam && l.type !== 'flatten') add(`${l.name} dx`, count(l.inShape));
    if (train && (l.type === 'conv2d' || l.type === 'dense') && l.relu) add(`${l.name} dz`, outFloats);
  });
  if (options.mode !== 'predict') {
    add('dlogits', model.classes);
    add('loss', 1);
    add('pred', 1);
  }
  return out;
}

/** Each dropout layer's RNG seed, from the run's seed and the layer's index. */
export function dropoutSeed(seed: number, layerIndex: number): number {
  return (Math.imul(seed, 1000003) + Math.imul(layerIndex + 1, 7919)) >>> 0;
}

export function convShape(l: Extract<ResolvedLayer, { type: 'conv2d' }>, batch: number): Conv2dShape {
  return {
    batch,
    inH: l.inShape[0],
    inW: l.inShape[1],
    inC: l.inShape[2],
    outC: l.filters,
    kernelH: l.kernelH,
    kernelW: l.kernelW,
    strideH: l.strideH,
    strideW: l.strideW,
    padding: l.padding,
  };
}

export function batchNormShape(
  l: Extract<ResolvedLayer, { type: 'batchnorm' }>,
  batch: number,
): Required<BatchNormShape> {
  const rows = (batch * l.inShape.reduce((a, b) => a * b, 1)) / l.channels;
  return { rows, channels: l.channels, momentum: l.momentum, epsilon: l.epsilon, activation: l.activation };
}

export function poolShape(l: Extract<ResolvedLayer, { type: 'maxpool2d' | 'avgpool2d' }>, batch: number): MaxPoolShape {
  return {
    batch,
    inH: l.inShape[0],
    inW: l.inShape[1],
    channels: l.inShape[2],
    poolH: l.poolH,
    poolW: l.poolW,
    strideH: l.strideH,
    strideW: l.strideW,
    padding: l.padding,
  };
}
