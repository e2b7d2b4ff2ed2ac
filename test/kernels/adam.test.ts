import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors';
import { createStorage, readF32, readU32, uploadStorage } from '../../src/gpu/buffers';
import type { PreparedDispatch } from '../../src/gpu/kernel';
import { ADAM_DEFAULTS, prepareAdam } from '../../src/kernels/adam';
import { prepareStepAdvance } from '../../src/kernels/step_advance';
import { adamStep, type AdamHyper } from '../../src/reference/adam';
import { Rng } from '../../src/util/rng';
import { allclose } from '../util/allclose';
import { runDispatches, testDevice } from '../util/device';

const ULP = 2 ** -24;

// The reference gets the hyperparameters as the f32 values the shader sees,
// so the comparison measures the kernel's arithmetic, not their rounding.
function asF32(h: AdamHyper): AdamHyper {
  return {
    lr: Math.fround(h.lr),
    beta1: Math.fround(h.beta1),
    beta2: Math.fround(h.beta2),
    epsilon: Math.fround(h.epsilon),
  };
}

/**
 * Tolerances after k steps with |grad| <= 1:
 * - m: each step rounds two products and a sum, at most ~4 ulp of max|g|;
 *   older errors decay by beta1, so k steps stay below 4k ulp.
 * - v: a sum of positive terms, ~3 ulp relative per step.
 * - param: each step rounds param -= u at 0.5 ulp of param (rtol), and u
 *   itself carries a relative error of ~20 ulp (alpha from the bit loop, a
 *   sqrt, a division, m's rounding amplified when m nearly cancels) on a size
 *   of ~lr (atol).
 */
function tolerances(k: number, lr: number) {
  return {
    m: { atol: 4 * k * ULP, rtol: 0 },
    v: { atol: 0, rtol: 3 * k * ULP },
    param: { atol: 32 * k * ULP * lr, rtol: k * ULP },
  };
}

interface Run {
  n: number;
  start: number;
  steps: number;
  hyper?: Partial<AdamHyper>;
  seed: number;
}

async function runAdam({ n, start, steps, hyper = {}, seed }: Run) {
  const device = await testDevice();
  const rng = new Rng(seed);
  const h = asF32({ ...ADAM_DEFAULTS, ...hyper });
  const param0 = rng.floats(n);
  // Moments from earlier training when we start late; zeros at step 0.
  const m0 = start > 0 ? rng.floats(n, -0.1, 0.1) : new Float32Array(n);
  const v0 = start > 0 ? rng.floats(n, 0, 0.1) : new Float32Array(n);
  const grads = Array.from({ length: steps }, () => rng.floats(n));
  const param = uploadStorage(device, param0, 'param');
  const m = uploadStorage(device, m0, 'm');
  const v = uploadStorage(device, v0, 'v');
  const step = uploadStorage(device, new Uint32Array([start, 0]), 'step');
  const advance = await prepareStepAdvance(device, { step });
  const dispatches: PreparedDispatch[] = [];
  for (let s = 0; s < steps; s++) {
    const grad = uploadStorage(device, grads[s], `grad ${s}`);
    dispatches.push(await prepareAdam(device, { param, m, v, grad, step }, { n, ...hyper }));
    dispatches.push(advance);
  }
  await runDispatches(device, dispatches);

  const want = { param: Float64Array.from(param0), m: Float64Array.from(m0), v: Float64Array.from(v0) };
  for (let s = 0; s < steps; s++) adamStep(want.param, want.m, want.v, grads[s], start + s + 1, h);
  return {
    param0,
    grads,
    want,
    got: {
      param: await readF32(device, param, n),
      m: await readF32(device, m, n),
      v: await readF32(device, v, n),
      step: await readU32(device, step, 2),
    },
  };
}

describe('adam', () => {
  const cases: Run[] = [
    { n: 1, start: 0, steps: 3, seed: 1 },
    { n: 1000, start: 0, steps: 3, seed: 2 },
    // One past a workgroup's 256 x 16 elements: the second group's tail.
    { n: 4097, start: 0, steps: 2, seed: 7 },
    { n: 30_001, start: 0, steps: 3, seed: 3 },
    // Far into training: bias corrections near 1, t = 100000..100002 has 17 bits.
    { n: 30_001, start: 99_999, steps: 3, seed: 4 },
    { n: 1_000_003, start: 0, steps: 2, seed: 5 },
    { n: 777, start: 5, steps: 4, seed: 6, hyper: { lr: 0.01, beta1: 0.8, beta2: 0.99, epsilon: 1e-3 } },
  ];
  for (const c of cases) {
    const name = `adam n=${c.n} start=${c.start} steps=${c.steps}${c.hyper ? ' custom' : ''}`;
    it(`matches the reference, ${name}`, async () => {
      const { want, got } = await runAdam(c);
      const tol = tolerances(c.steps, c.hyper?.lr ?? ADAM_DEFAULTS.lr);
      allclose(`${name} m`, got.m, want.m, tol.m);
      allclose(`${name} v`, got.v, want.v, tol.v);
      allclose(`${name} param`, got.param, want.param, tol.param);
      expect([...got.step]).toEqual([c.start + c.steps, c.steps]);
    });
  }

  it('moves each parameter by about lr * sign(g) on the first step', async () => {
    const { param0, grads, got } = await runAdam({ n: 4096, start: 0, steps: 1, seed: 9 });
    const lr = ADAM_DEFAULTS.lr;
    let checked = 0;
    for (let i = 0; i < param0.length; i++) {
      const g = grads[0][i];
      // With m = (1 - b1) g and v = (1 - b2) g^2 the bias-corrected step is
      // lr * g / (|g| + eps / sqrt(1 - b2)): lr * sign(g) within
      // lr * 3.2e-6 / |g| <= 3.2e-8 for |g| >= 0.1.
      if (Math.abs(g) < 0.1) continue;
      const moved = param0[i] - got.param[i];
      // Plus the f32 rounding of param - update: 0.5 ulp of |param| <= 1.
      expect(Math.abs(moved - lr * Math.sign(g))).toBeLessThan(3.2e-8 + 6e-8);
      checked++;
    }
    expect(checked).toBeGreaterThan(3500);
  });

  it('rejects bad shapes and hyperparameters before dispatching', async () => {
    const device = await testDevice();
    const big = createStorage(device, 4096, 'big');
    const small = createStorage(device, 64, 'small');
    const step = createStorage(device, 16, 'step');
    const buffers = { param: big, m: big, v: big, grad: small, step };
    await expect(prepareAdam(device, buffers, { n: 1000 })).rejects.toThrow(ShapeError);
    await expect(prepareAdam(device, buffers, { n: 1000 })).rejects.toThrow(/adam: grad/);
    const ok = { ...buffers, grad: big };
    await expect(prepareAdam(device, ok, { n: 1000, beta1: 1 })).rejects.toThrow(/adam: beta1/);
    await expect(prepareAdam(device, ok, { n: 1000, epsilon: 0 })).rejects.toThrow(/adam: epsilon/);
    await expect(prepareAdam(device, ok, { n: 0 })).rejects.toThrow(/adam: n/);
  });
});
