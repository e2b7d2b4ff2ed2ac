// CPU reference for batch normalization, in float64, Keras semantics:
//   x: (rows, C)  rows = N*H*W for a conv output (NHWC), N for a dense one
//   training:   mean, biased variance over the rows; y = f(gamma xhat + beta)
//               with xhat = (x - mean) / sqrt(var + eps); moving averages
//               moving = momentum * moving + (1 - momentum) * batch
//   evaluation: the same with the moving mean and variance
// The backward is the closed form through the batch statistics, written out
// so the finite-difference test checks its algebra.

import type { ActivationName } from '../kernels/activation';
import { activate, activateGrad } from './activation';

export interface BatchNormRefShape {
  rows: number;
  channels: number;
  epsilon: number;
  activation: ActivationName;
}

/** mean and biased variance of each channel (two passes). */
export function batchNormStats(x: ArrayLike<number>, shape: { rows: number; channels: number }) {
  const { rows, channels: C } = shape;
  const mean = new Float64Array(C);
  const variance = new Float64Array(C);
  for (let r = 0; r < rows; r++) for (let c = 0; c < C; c++) mean[c] += x[r * C + c];
  for (let c = 0; c < C; c++) mean[c] /= rows;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < C; c++) {
      const d = x[r * C + c] - mean[c];
      variance[c] += d * d;
    }
  }
  for (let c = 0; c < C; c++) variance[c] /= rows;
  return { mean, variance };
}

/** moving = momentum * moving + (1 - momentum) * batch, in place. */
export function batchNormMovingUpdate(moving: Float64Array, batch: ArrayLike<number>, momentum: number): void {
  for (let c = 0; c < moving.length; c++) moving[c] = momentum * moving[c] + (1 - momentum) * batch[c];
}

/** y = f(gamma (x - mean) / sqrt(variance + eps) + beta), with given statistics. */
export function batchNormForward(
  x: ArrayLike<number>,
  mean: ArrayLike<number>,
  variance: ArrayLike<number>,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  shape: BatchNormRefShape,
): Float64Array {
  const { rows, channels: C, epsilon } = shape;
  const y = new Float64Array(rows * C);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < C; c++) {
      const xhat = (x[r * C + c] - mean[c]) / Math.sqrt(variance[c] + epsilon);
      y[r * C + c] = activate(gamma[c] * xhat + beta[c], shape.activation);
    }
  }
  return y;
}

/**
 * Gradients of y = f(BN_train(x)) from dy (same order as the shader's
 * outputs: dx, dgamma, dbeta), where mean and variance are x's own batch
 * statistics: dx = gamma / sigma * (g - mean(g) - xhat * mean(g * xhat)),
 * g = dy * f'(u).
 */
export function batchNormBackward(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  shape: BatchNormRefShape,
): { dx: Float64Array; dgamma: Float64Array; dbeta: Float64Array } {
  const { rows, channels: C, epsilon } = shape;
  const { mean, variance } = batchNormStats(x, shape);
  const xhat = new Float64Array(rows * C);
  const g = new Float64Array(rows * C);
  const dgamma = new Float64Array(C);
  const dbeta = new Float64Array(C);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < C; c++) {
      const i = r * C + c;
      xhat[i] = (x[i] - mean[c]) / Math.sqrt(variance[c] + epsilon);
      g[i] = dy[i] * activateGrad(gamma[c] * xhat[i] + beta[c], shape.activation);
      dbeta[c] += g[i];
      dgamma[c] += g[i] * xhat[i];
    }
  }
  const dx = new Float64Array(rows * C);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < C; c++) {
      const i = r * C + c;
      dx[i] = (gamma[c] / Math.sqrt(variance[c] + epsilon)) * (g[i] - dbeta[c] / rows - (xhat[i] * dgamma[c]) / rows);
    }
  }
  return { dx, dgamma, dbeta };
}
