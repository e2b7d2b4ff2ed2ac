import { describe, expect, it } from 'vitest';
import { ACTIVATIONS } from '../../src/kernels/activation';
import { activate, activateGrad, activateGradFromOutput, activationBackward } from '../../src/reference/activation';
import { Rng } from '../../src/util/rng';

describe('activation reference', () => {
  it('has the textbook values at a few points', () => {
    expect(activate(-2, 'relu')).toBe(0);
    expect(activate(-2, 'leaky_relu')).toBeCloseTo(-0.6, 15);
    expect(activate(-1, 'elu')).toBeCloseTo(Math.exp(-1) - 1, 15);
    expect(activate(0, 'sigmoid')).toBe(0.5);
    expect(activate(0.5, 'tanh')).toBeCloseTo(0.46211715726000974, 15);
    // The tanh form of gelu at 1 (the erf form gives 0.8413447460685429).
    expect(activate(1, 'gelu')).toBeCloseTo(0.8411919906082768, 15);
    expect(activate(3.25, 'linear')).toBe(3.25);
  });

  // Central differences in float64 with h = 1e-5 err by ~h^2 f''' / 6 plus
  // rounding ~1e-16 / h: below 1e-9 for these smooth pieces. Points closer
  // than 1e-3 to the kink at 0 are skipped (relu, leaky_relu, elu).
  for (const a of ACTIVATIONS) {
    it(`${a}: the derivative matches central differences`, () => {
      const rng = new Rng(a.length);
      const h = 1e-5;
      for (let i = 0; i < 200; i++) {
        const u = rng.uniform(-6, 6);
        if (Math.abs(u) < 1e-3) continue;
        const fd = (activate(u + h, a) - activate(u - h, a)) / (2 * h);
        expect(Math.abs(activateGrad(u, a) - fd), `${a}'(${u})`).toBeLessThan(1e-8);
      }
    });
  }

  for (const a of ACTIVATIONS.filter((n) => n !== 'gelu')) {
    it(`${a}: the derivative from the output equals the one from the input`, () => {
      const rng = new Rng(a.length + 100);
      for (let i = 0; i < 200; i++) {
        const u = rng.uniform(-6, 6);
        expect(activateGradFromOutput(activate(u, a), a)).toBeCloseTo(activateGrad(u, a), 12);
      }
    });
  }

  it('refuses gelu from the output, and routes no gradient through a zero slope', () => {
    expect(() => activationBackward([1], [0.5], 'gelu', true)).toThrow(/pre-activation/);
    expect(Array.from(activationBackward([Infinity, 2], [-1, 1], 'relu', false))).toEqual([0, 2]);
  });
});
