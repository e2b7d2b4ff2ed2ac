// CPU reference for one whole training step of a model, in float64, composed
// from the per-kernel references in the same order as the GPU step plan:
// forward, softmax cross-entropy, backward in reverse, then Adam. Tests run
// both from the same weights and batch and compare the updated weights.

import { type Model } from '../model/model';
import { batchNormShape, convShape, dropoutSeed, poolShape } from '../model/plan';
import { adamStep, type AdamHyper } from './adam';
import { avgPoolBackward, avgPoolForward } from './avgpool';
import { biasBackward } from './bias';
import { conv2dBackwardFilter, conv2dBackwardInput, conv2dForward } from './conv2d';
import { dropoutBackward, dropoutForward } from './dropout';
import { gemm } from './gemm';
import { maxPoolBackward, maxPoolForward } from './maxpool';
import { activationBackward } from './activation';
import { batchNormBackward, batchNormForward, batchNormMovingUpdate, batchNormStats } from './batchnorm';
import { softmaxCrossEntropy } from './softmax_cross_entropy';

export interface ReferenceState {
  params: Map<string, Float64Array>;
  m: Map<string, Float64Array>;
  v: Map<string, Float64Array>;
  /** Optimizer steps completed before this one (the GPU's step[0]). */
  step: number;
}

export interface ReferenceStepResult {
  loss: number;
  correct: number;
  grads: Map<string, Float64Array>;
  logits: Float64Array;
}

/**
 * One training step on `x` (batch, H*W*C) with `labels`; updates `state` in
 * place (weights, Adam moments, batchnorm's moving statistics) and returns
 * the mean loss and the gradients. With train: false, a forward pass in
 * evaluation mode (batchnorm on its moving statistics), nothing updated.
 */
export function referenceTrainStep(
  model: Model,
  state: ReferenceState,
  x: Float64Array,
  labels: ArrayLike<number>,
  batch: number,
  options: { seed: number; adam: AdamHyper; train?: boolean },
): ReferenceStepResult {
  const train = options.train ?? true;
  const P = state.params;
  const acts: Float64Array[] = [x];
  const argmax = new Map<number, Uint32Array>();
  const masks = new Map<number, Float64Array>();
  for (const l of model.layers) {
    const a = acts[acts.length - 1];
    switch (l.type) {
      case 'conv2d':
        acts.push(conv2dForward(a, P.get(`${l.name}/kernel`)!, P.get(`${l.name}/bias`)!, { ...convShape(l, batch), activation: l.activation }));
        break;
      case 'maxpool2d': {
        const r = maxPoolForward(a, poolShape(l, batch));
        argmax.set(l.index, r.argmax);
        acts.push(r.y);
        break;
      }
      case 'avgpool2d':
        acts.push(avgPoolForward(a, poolShape(l, batch)));
        break;
      case 'flatten':
        acts.push(a);
        break;
      case 'batchnorm': {
        const shape = batchNormShape(l, batch);
        const gamma = P.get(`${l.name}/gamma`)!;
        const beta = P.get(`${l.name}/beta`)!;
        const movingMean = P.get(`${l.name}/moving_mean`)!;
        const movingVariance = P.get(`${l.name}/moving_variance`)!;
        if (train) {
          const { mean, variance } = batchNormStats(a, shape);
          acts.push(batchNormForward(a, mean, variance, gamma, beta, { ...shape, activation: l.activation }));
          batchNormMovingUpdate(movingMean, mean, l.momentum);
          batchNormMovingUpdate(movingVariance, variance, l.momentum);
        } else {
          acts.push(batchNormForward(a, movingMean, movingVariance, gamma, beta, { ...shape, activation: l.activation }));
        }
        break;
      }
      case 'dropout':
        if (train && l.rate > 0) {
          const r = dropoutForward(a, l.rate, dropoutSeed(options.seed, l.index), state.step);
          masks.set(l.index, r.mask);
          acts.push(r.y);
        } else acts.push(a);
        break;
      case 'dense': {
        const y = gemm(a, P.get(`${l.name}/kernel`)!, P.get(`${l.name}/bias`)!, { m: batch, n: l.units, k: l.inShape[0], activation: l.activation });
        acts.push(y);
        break;
      }
    }
  }
  const logits = acts[acts.length - 1];
  const ce = softmaxCrossEntropy(logits, labels, batch, model.classes);
  const grads = new Map<string, Float64Array>();
  const preActivationOf = (l: Extract<Model['layers'][number], { type: 'conv2d' | 'dense' }>, a: Float64Array) =>
    l.type === 'conv2d'
      ? conv2dForward(a, P.get(`${l.name}/kernel`)!, P.get(`${l.name}/bias`)!, convShape(l, batch))
      : gemm(a, P.get(`${l.name}/kernel`)!, P.get(`${l.name}/bias`)!, { m: batch, n: l.units, k: l.inShape[0] });
  let grad: Float64Array = ce.dlogits;
  let preActivation = true;
  for (let k = model.layers.length - 1; k >= 0; k--) {
    const l = model.layers[k];
    const a = acts[k];
    if (l.type === 'conv2d' || l.type === 'dense') {
      // f'(u) at the pre-activation, recomputed from the layer's input (the GPU
      // takes it from the output where it can: an independent check).
      const dz = l.activation !== 'linear' && !preActivation ? activationBackward(grad, preActivationOf(l, a), l.activation, false) : grad;
      if (l.type === 'conv2d') {
        const shape = convShape(l, batch);
        const { dw, db } = conv2dBackwardFilter(a, dz, shape);
        grads.set(`${l.name}/kernel`, dw);
        grads.set(`${l.name}/bias`, db);
        grad = conv2dBackwardInput(dz, P.get(`${l.name}/kernel`)!, shape);
      } else {
        grads.set(`${l.name}/kernel`, gemm(a, dz, null, { m: l.inShape[0], n: l.units, k: batch, transA: true }));
        grads.set(`${l.name}/bias`, biasBackward(dz, { rows: batch, cols: l.units }));
        grad = gemm(dz, P.get(`${l.name}/kernel`)!, null, { m: batch, n: l.inShape[0], k: l.units, transB: true });
      }
      preActivation = false;
    } else if (l.type === 'avgpool2d') {
      grad = avgPoolBackward(grad, poolShape(l, batch));
    } else if (l.type === 'batchnorm') {
      const shape = { ...batchNormShape(l, batch), activation: preActivation ? 'linear' as const : l.activation };
      const r = batchNormBackward(grad, a, P.get(`${l.name}/gamma`)!, P.get(`${l.name}/beta`)!, shape);
      grads.set(`${l.name}/gamma`, r.dgamma);
      grads.set(`${l.name}/beta`, r.dbeta);
      grad = r.dx;
      preActivation = false;
    } else if (l.type === 'maxpool2d') {
      const prev = model.layers[k - 1];
      const fuse = prev !== undefined && 'activation' in prev && prev.activation === 'relu';
      grad = maxPoolBackward(grad, argmax.get(l.index)!, acts[k + 1], { ...poolShape(l, batch), relu: fuse });
      preActivation = fuse;
    } else if (l.type === 'dropout') {
      const mask = masks.get(l.index);
      if (mask) grad = dropoutBackward(grad, mask);
    }
  }
  if (train) {
    for (const p of model.params.filter((q) => q.trainable ?? true)) {
      adamStep(state.params.get(p.name)!, state.m.get(p.name)!, state.v.get(p.name)!, grads.get(p.name)!, state.step + 1, options.adam);
    }
    state.step += 1;
  }
  return { loss: ce.metrics[0] / batch, correct: ce.metrics[1], grads, logits };
}
