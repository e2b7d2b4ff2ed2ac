// The GPU training step against the float64 CPU reference step (Node/Dawn
// only: the browser project checks every kernel one by one): same initial
// weights, same batches (the trainer's own epoch order), same dropout masks
// (the reference implements the shader's hash), two Adam steps.
import { describe, expect, it } from 'vitest';
import { readBuffer } from '../../src/gpu/buffers';
import { ADAM_DEFAULTS } from '../../src/kernels/adam';
import { buildModel, PAPER_CNN, paperCnn, PRESETS, type ModelSpec } from '../../src/model/model';
import { Trainer } from '../../src/model/trainer';
import { referenceTrainStep, type ReferenceState } from '../../src/reference/model';
import { allclose } from '../util/allclose';
import { testDevice } from '../util/device';
import { randomSplit } from '../util/data';
import { Rng } from '../../src/util/rng';

const toF64 = (m: Map<string, Float32Array>) => new Map([...m].map(([k, v]) => [k, Float64Array.from(v)]));
const f32 = Math.fround;

async function compareSteps(spec: ModelSpec, batch: number, steps: number, seed: number) {
  const device = await testDevice();
  const model = buildModel(spec);
  const split = randomSplit(batch * steps, seed);
  const trainer = await Trainer.create(device, { model: spec, batchSize: batch, seed, stepsPerSubmit: 1 }, { train: split });
  try {
    const initial = await trainer.snapshot();
    const state: ReferenceState = {
      params: toF64(trainer.store.unpack(initial.params)),
      m: toF64(trainer.store.unpack(initial.m)),
      v: toF64(trainer.store.unpack(initial.v)),
      step: 0,
    };
    const order = trainer.epochOrder(0);
    const stepGrads: Map<string, Float64Array>[] = [];
    for (let s = 0; s < steps; s++) {
      const x = new Float64Array(batch * 784);
      const labels = new Uint32Array(batch);
      for (let r = 0; r < batch; r++) {
        const img = order[s * batch + r];
        labels[r] = split.labels[img];
        // The shader multiplies by f32(1/255) (exactly rounded), not divides.
        for (let p = 0; p < 784; p++) x[r * 784 + p] = f32(split.images[img * 784 + p] * f32(1 / 255));
      }
      stepGrads.push(referenceTrainStep(model, state, x, labels, batch, { seed, adam: ADAM_DEFAULTS }).grads);
    }
    const result = await trainer.trainEpoch();
    expect(result).not.toBeNull();
    const after = await trainer.snapshot();
    expect(after.step).toBe(steps);
    const gpuParams = trainer.store.unpack(after.params);
    const gpuGrads = trainer.store.unpack(new Float32Array(await readBuffer(device, trainer.store.grads)));
    const maxAbs = (g: Float64Array) => g.reduce((a, b) => Math.max(a, Math.abs(b)), 0);
    const globalMax = Math.max(...model.params.filter((p) => p.trainable !== false).map((p) => maxAbs(stepGrads[steps - 1].get(p.name)!)));
    for (const p of model.params) {
      if (p.trainable === false) {
        // Batchnorm's moving statistics: momentum updates from f32 batch
        // statistics (a few ulp), and from step 2 on, statistics of layers
        // whose bias had a zero gradient (see below) and so moved by Adam
        // noise, up to lr per step each side: the batch mean then differs by
        // up to 2 lr, the moving mean by (1 - momentum) of that per step.
        const bn = model.layers.find((l) => p.name.startsWith(`${l.name}/`));
        const momentum = bn?.type === 'batchnorm' ? bn.momentum : 0;
        const drift = (1 - momentum) * 2 * ADAM_DEFAULTS.lr * (steps - 1);
        allclose(`train step ${spec.name} ${p.name} after ${steps} steps`, gpuParams.get(p.name)!, state.params.get(p.name)!, { atol: 1e-6 + drift, rtol: 1e-5 });
        continue;
      }
      const gRef = stepGrads[steps - 1].get(p.name)!;
      const gMax = maxAbs(gRef);
      if (gMax < 1e-9 * globalMax) {
        // Zero in exact arithmetic, float64 rounding in the reference: a conv
        // bias before batchnorm (its mean subtraction removes any per-channel
        // shift), or a batchnorm's beta whose shift a later batchnorm removes.
        // On the GPU it is f32 noise: small next to the other gradients, and
        // Adam moves such a weight by at most lr per step, in either direction.
        expect(maxAbs(Float64Array.from(gpuGrads.get(p.name)!)), `${p.name}: gradient above f32 noise`).toBeLessThan(1e-4 * globalMax);
        const wRef = state.params.get(p.name)!;
        const wGpu = gpuParams.get(p.name)!;
        for (let i = 0; i < wRef.length; i++) expect(Math.abs(wGpu[i] - wRef[i])).toBeLessThanOrEqual(2 * steps * ADAM_DEFAULTS.lr);
        continue;
      }
      expect(gMax, `${p.name}: the reference gradient is all zero, the test would be vacuous`).toBeGreaterThan(0);
      // f32 reductions over up to batch*OH*OW*K terms: errors ~1e-5 of the
      // largest gradient; 1e-4 leaves room for the reduction order.
      allclose(`train step ${spec.name} ${p.name} gradient (last step)`, gpuGrads.get(p.name)!, gRef, { atol: 1e-4 * gMax, rtol: 1e-3 });
      // Adam moves each weight by about lr * g / (|g| + eps): where |g| is
      // well above the f32 noise of the gradient the step is determined to
      // ~1e-6; where g is tiny its sign (hence the step's) is noise, and only
      // the bound |step| <= lr per step holds.
      const wRef = state.params.get(p.name)!;
      const wGpu = gpuParams.get(p.name)!;
      const stepMax = stepGrads.map((g) => maxAbs(g.get(p.name)!));
      // Weights whose gradient is exactly zero at every step (inputs that are
      // always 0, dead units) must not move at all: 0 / (0 + eps) = 0.
      const determined: number[] = [];
      let touched = 0;
      for (let i = 0; i < wRef.length; i++) {
        if (stepGrads.every((g) => g.get(p.name)![i] === 0)) {
          expect(wGpu[i], `${p.name}[${i}] has zero gradient but moved`).toBe(wRef[i]);
          continue;
        }
        touched++;
        // A step with an exactly zero gradient is determined too (no update from it).
        const everyStepClear = stepGrads.every((g, s) => {
          const gi = Math.abs(g.get(p.name)![i]);
          return gi === 0 || gi >= 1e-3 * stepMax[s];
        });
        if (everyStepClear) determined.push(i);
        else expect(Math.abs(wGpu[i] - wRef[i])).toBeLessThanOrEqual(2 * steps * ADAM_DEFAULTS.lr);
      }
      expect(determined.length / touched, `${p.name}: too few well-determined weights`).toBeGreaterThan(0.3);
      allclose(
        `train step ${spec.name} ${p.name} weights after ${steps} Adam steps`,
        determined.map((i) => wGpu[i]),
        determined.map((i) => wRef[i]),
        // A few f32 ulps of weights of magnitude < 0.5 after two updates.
        { atol: 1e-7, rtol: 4e-7 },
      );
    }
  } finally {
    trainer.destroy();
  }
}

describe('GPU training step vs CPU reference', () => {
  it('paper CNN, batch 4, two steps (dropout active)', async () => {
    await compareSteps(PAPER_CNN, 4, 2, 11);
  });
  it('MLP (dense ReLU, dropout 0.2, dense), batch 4, two steps', async () => {
    await compareSteps(PRESETS.mlp, 4, 2, 7);
  });
  it('small CNN with a hidden dense ReLU (stride 2, relu_backward path), batch 3', async () => {
    await compareSteps(PRESETS['small-cnn'], 3, 2, 5);
  });
  it('CNN with leaky_relu, average pooling (same), gelu (unfused in training), elu and tanh hidden layers, batch 3', async () => {
    const spec: ModelSpec = {
      name: 'activations-cnn',
      inputShape: [28, 28, 1],
      layers: [
        { type: 'conv2d', filters: 4, kernelSize: 5, strides: 2, activation: 'leaky_relu' },
        { type: 'avgpool2d', poolSize: 3, strides: 2, padding: 'same' },
        { type: 'conv2d', filters: 6, kernelSize: 3, padding: 'same', activation: 'gelu' },
        { type: 'flatten' },
        { type: 'dense', units: 12, activation: 'elu' },
        { type: 'dense', units: 8, activation: 'tanh' },
        { type: 'dense', units: 10, activation: 'softmax' },
      ],
    };
    await compareSteps(spec, 3, 2, 13);
  });
  it('paper CNN with batchnorm after each convolution (ReLU fused into BN and the pools), batch 4', async () => {
    await compareSteps(paperCnn({ batchNorm: true }), 4, 2, 19);
  });
  it('batchnorm after a ReLU conv (per channel) and a dense layer (per unit, gelu after it), batch 3', async () => {
    const spec: ModelSpec = {
      name: 'batchnorm-mix',
      inputShape: [28, 28, 1],
      layers: [
        { type: 'conv2d', filters: 5, kernelSize: 4, strides: 2, activation: 'relu' },
        { type: 'batchnorm' },
        { type: 'maxpool2d', poolSize: 2, padding: 'same' },
        { type: 'flatten' },
        { type: 'dense', units: 16 },
        { type: 'batchnorm', momentum: 0.9 },
        { type: 'activation', activation: 'gelu' },
        { type: 'dense', units: 10, activation: 'softmax' },
      ],
    };
    await compareSteps(spec, 3, 2, 23);
  });
  it('MLP with sigmoid and gelu hidden layers, batch 4', async () => {
    const spec: ModelSpec = {
      name: 'activations-mlp',
      inputShape: [28, 28, 1],
      layers: [
        { type: 'flatten' },
        { type: 'dense', units: 16, activation: 'sigmoid' },
        { type: 'dense', units: 12, activation: 'gelu' },
        { type: 'dense', units: 10, activation: 'softmax' },
      ],
    };
    await compareSteps(spec, 4, 2, 17);
  });
});

describe('batchnorm in evaluation and prediction', () => {
  it('predict() normalises with the moving statistics, as the reference forward in eval mode', async () => {
    const device = await testDevice();
    const spec: ModelSpec = {
      name: 'batchnorm-eval',
      inputShape: [28, 28, 1],
      layers: [
        { type: 'conv2d', filters: 5, kernelSize: 4, strides: 2 },
        { type: 'batchnorm' },
        { type: 'activation', activation: 'relu' },
        { type: 'maxpool2d', poolSize: 2 },
        { type: 'flatten' },
        { type: 'dense', units: 16 },
        { type: 'batchnorm' },
        { type: 'activation', activation: 'tanh' },
        { type: 'dense', units: 10, activation: 'softmax' },
      ],
    };
    const model = buildModel(spec);
    const batch = 3;
    const trainer = await Trainer.create(device, { model: spec, batchSize: batch, seed: 3 }, { train: randomSplit(batch, 3) });
    try {
      // Moving statistics far from the initial (0, 1) and from any batch's.
      const rng = new Rng(29);
      const weights = await trainer.getWeights();
      for (const p of model.params) {
        if (p.name.endsWith('/moving_mean')) weights.set(p.name, rng.floats(p.size, -0.5, 0.5));
        if (p.name.endsWith('/moving_variance')) weights.set(p.name, rng.floats(p.size, 0.2, 3));
        if (p.name.endsWith('/gamma') || p.name.endsWith('/beta')) weights.set(p.name, rng.floats(p.size, 0.5, 1.5));
      }
      trainer.setWeights(weights);
      const images = Float32Array.from(rng.floats(batch * 784, 0, 1));
      const { logits } = await trainer.predict(images);
      const state: ReferenceState = { params: toF64(weights), m: new Map(), v: new Map(), step: 0 };
      const ref = referenceTrainStep(model, state, Float64Array.from(images), [0, 1, 2], batch, { seed: 3, adam: ADAM_DEFAULTS, train: false });
      const scale = ref.logits.reduce((a, b) => Math.max(a, Math.abs(b)), 0);
      // An f32 forward pass: sums of up to 784 products, normalised twice;
      // a few 1e-6 relative to the largest logit. Batch statistics instead of
      // moving ones change logits by O(1).
      allclose('predict logits with batchnorm (moving statistics)', logits, ref.logits, { atol: 1e-5 * scale, rtol: 1e-4 });
    } finally {
      trainer.destroy();
    }
  });
});
