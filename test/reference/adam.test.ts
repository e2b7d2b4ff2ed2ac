import { describe, expect, it } from 'vitest';
import { ADAM_DEFAULTS } from '../../src/kernels/adam';
import { adamStep } from '../../src/reference/adam';
import { Rng } from '../../src/util/rng';
import { allclose } from '../util/allclose';

// Float64 on a handful of operations: a few ulp of 1.
const F64 = { atol: 1e-15, rtol: 1e-14 };

describe('adam reference', () => {
  it('matches a hand-computed single element over two steps', () => {
    const p = new Float64Array([1]);
    const m = new Float64Array([0]);
    const v = new Float64Array([0]);
    // Step 1, g = 0.5: m = 0.1 * 0.5 = 0.05, v = 0.001 * 0.25 = 2.5e-4,
    // alpha = 1e-3 * sqrt(0.001) / 0.1 = 3.16227766e-4. Since alpha * m =
    // 1e-3 * sqrt(v), the update is 1e-3 * sqrt(v) / (sqrt(v) + 1e-7) with
    // sqrt(v) = 0.0158113883, i.e. 1e-3 * (1 - 6.3245154e-6).
    adamStep(p, m, v, [0.5], 1, ADAM_DEFAULTS);
    allclose('hand step 1 m, v', [m[0], v[0]], [0.05, 2.5e-4], F64);
    allclose('hand step 1 param', p, [0.9990000063245154], F64);
    // Step 2, g = -0.25: m = 0.045 - 0.025 = 0.02, v = 2.4975e-4 + 6.25e-5 =
    // 3.1225e-4, alpha = 1e-3 * sqrt(1 - 0.998001) / (1 - 0.81) =
    // 2.353167253e-4, update = alpha * 0.02 / (0.01767059705 + 1e-7) =
    // 4.706334506e-6 / 0.01767069705 = 2.663355324e-4 (10 digits by hand).
    adamStep(p, m, v, [-0.25], 2, ADAM_DEFAULTS);
    allclose('hand step 2 m, v', [m[0], v[0]], [0.02, 3.1225e-4], F64);
    allclose('hand step 2 param', p, [0.9990000063245154 - 2.663355324e-4], { atol: 1e-12, rtol: 0 });
  });

  it('moves by lr * sign(g) on the first step (bias correction)', () => {
    const rng = new Rng(3);
    const n = 100;
    const g = Float64Array.from(rng.floats(n), (x) => (Math.abs(x) < 0.1 ? 0.5 : x));
    const p = new Float64Array(n);
    adamStep(p, new Float64Array(n), new Float64Array(n), g, 1, ADAM_DEFAULTS);
    // The move is lr * |g| / (|g| + eps / sqrt(1 - b2)): within
    // 3.2e-6 / |g| relative of lr, so 3.2e-5 for |g| >= 0.1.
    allclose('first step', p, Array.from(g, (x) => -1e-3 * Math.sign(x)), { atol: 0, rtol: 3.2e-5 });
  });

  it('leaves parameters alone for a zero gradient from zero moments', () => {
    const p = new Float64Array([0.5, -2]);
    adamStep(p, new Float64Array(2), new Float64Array(2), [0, 0], 1, ADAM_DEFAULTS);
    expect([...p]).toEqual([0.5, -2]);
  });
});
