// The GPU training step against the float64 CPU reference step (Node/Dawn
// only: the browser project checks every kernel one by one): same initial
// weights, same batches (the trainer's own epoch order), same dropout masks
// (the reference implements the shader's hash), two Adam steps.
import { describe, expect, it } from 'vitest';
import { readBuffer } from '../../src/gpu/buffers';
import { ADAM_DEFAULTS } from '../../src/kernels/adam';
import { buildModel, PAPER_CNN, PRESETS, type ModelSpec } from '../../src/model/model';
import { Trainer } from '../../src/model/trainer';
import { referenceTrainStep, type ReferenceState } from '../../src/reference/model';
import { allclose } from '../util/allclose';
import { testDevice } from '../util/device';
import { randomSplit } from '../util/data';


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
    for (const p of model.params) {
      const maxAbs = (g: Float64Array) => g.reduce((a, b) => Math.max(a, Math.abs(b)), 0);
      const gRef = stepGrads[steps - 1].get(p.name)!;
      const gMax = maxAbs(gRef);
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
});
