import { describe, expect, it } from 'vitest';
import type { ActivationName } from '../../src/kernels/activation';
import { batchNormBackward, batchNormForward, batchNormMovingUpdate, batchNormStats } from '../../src/reference/batchnorm';
import { Rng } from '../../src/util/rng';
import { allclose } from '../util/allclose';

const EPS = 1e-3;

/** L = sum(w * f(BN_train(x))): BN with x's own batch statistics. */
function loss(x: Float64Array, gamma: Float64Array, beta: Float64Array, w: Float64Array, rows: number, C: number, activation: ActivationName) {
  const { mean, variance } = batchNormStats(x, { rows, channels: C });
  const y = batchNormForward(x, mean, variance, gamma, beta, { rows, channels: C, epsilon: EPS, activation });
  return y.reduce((s, v, i) => s + v * w[i], 0);
}

/** Central differences of `loss` w.r.t. every element of `v` (perturbed in place). */
function numeric(v: Float64Array, f: () => number, h = 1e-6): Float64Array {
  const g = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const keep = v[i];
    v[i] = keep + h;
    const up = f();
    v[i] = keep - h;
    const down = f();
    v[i] = keep;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

describe('batchnorm reference', () => {
  it('normalises each channel to mean beta and variance gamma^2 var / (var + eps)', () => {
    const rows = 50;
    const C = 3;
    const rng = new Rng(1);
    const x = Float64Array.from(rng.floats(rows * C, -3, 5));
    const { mean, variance } = batchNormStats(x, { rows, channels: C });
    const gamma = [2, 0.5, -1];
    const beta = [0.25, -1, 3];
    const y = batchNormForward(x, mean, variance, gamma, beta, { rows, channels: C, epsilon: EPS, activation: 'linear' });
    const out = batchNormStats(y, { rows, channels: C });
    for (let c = 0; c < C; c++) {
      expect(out.mean[c]).toBeCloseTo(beta[c], 12);
      expect(out.variance[c]).toBeCloseTo((gamma[c] ** 2 * variance[c]) / (variance[c] + EPS), 12);
    }
  });

  it('moves the moving averages by 1 - momentum toward the batch', () => {
    const moving = Float64Array.from([0, 1]);
    batchNormMovingUpdate(moving, [10, 3], 0.99);
    expect(moving[0]).toBeCloseTo(0.1, 15);
    expect(moving[1]).toBeCloseTo(1.02, 15);
  });

  // Central differences with h = 1e-6 on O(1) values: truncation ~h^2, rounding
  // ~1e-16 * |L| / h ~ 1e-9; 1e-6 leaves margin and still catches a wrong term
  // (each is O(0.1) or more).
  const FD = { atol: 1e-6, rtol: 1e-5 };
  const cases: [string, number, number, ActivationName][] = [
    ['rows 6, C 3, linear', 6, 3, 'linear'],
    ['rows 7, C 2, tanh after', 7, 2, 'tanh'],
    ['rows 5, C 4, gelu after', 5, 4, 'gelu'],
    ['rows 1 (batch 1 of a dense layer), C 3, sigmoid after', 1, 3, 'sigmoid'],
  ];
  for (const [what, rows, C, activation] of cases) {
    it(`backward through the batch statistics matches finite differences: ${what}`, () => {
      const rng = new Rng(rows * 10 + C);
      const x = Float64Array.from(rng.floats(rows * C, -2, 2));
      const gamma = Float64Array.from(rng.floats(C, 0.5, 1.5));
      const beta = Float64Array.from(rng.floats(C, -0.5, 0.5));
      const w = Float64Array.from(rng.floats(rows * C));
      const f = () => loss(x, gamma, beta, w, rows, C, activation);
      const got = batchNormBackward(w, x, gamma, beta, { rows, channels: C, epsilon: EPS, activation });
      allclose(`bn dx ${what}`, got.dx, numeric(x, f), FD);
      allclose(`bn dgamma ${what}`, got.dgamma, numeric(gamma, f), FD);
      allclose(`bn dbeta ${what}`, got.dbeta, numeric(beta, f), FD);
      if (rows === 1) {
        // One row: xhat = 0, y = f(beta) whatever x is, so dx = 0 and dgamma = 0.
        expect(Array.from(got.dx)).toEqual(new Array(C).fill(0));
        expect(Array.from(got.dgamma)).toEqual(new Array(C).fill(0));
      }
    });
  }
});
