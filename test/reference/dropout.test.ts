import { describe, expect, it } from 'vitest';
import {
  dropoutBackward,
  dropoutForward,
  dropoutHash,
  dropoutMask,
  dropoutUniform,
} from '../../src/reference/dropout';
import { Rng } from '../../src/util/rng';
import { allclose } from '../util/allclose';

describe('dropout reference', () => {
  it('the hash is XXH32 of (step, index) as little-endian words, seeded', () => {
    // Expected values from the system libxxhash 0.8.1, XXH32(bytes, 8, seed),
    // called through Python ctypes with bytes = struct.pack('<II', step, index).
    const vectors: [number, number, number, number][] = [
      [0, 0, 0, 0xdeb39513],
      [1234, 0, 0, 0x81852239],
      [1234, 7, 0, 0x37dff972],
      [1234, 7, 1, 0xdbf01467],
      [0xdeadbeef, 0xffffffff, 123456789, 0x8bd83ca6],
      [42, 3, 1599999, 0xdc750219],
    ];
    for (const [seed, step, index, want] of vectors) {
      expect(dropoutHash(seed, step, index).toString(16)).toBe(want.toString(16));
    }
  });

  it('u is on the 2^-24 grid in [0, 1) and looks uniform', () => {
    const n = 100_000;
    const bins = new Array(16).fill(0);
    let lagProduct = 0;
    let previous = 0;
    let offGrid = 0;
    for (let i = 0; i < n; i++) {
      const u = dropoutUniform(7, 3, i);
      if (!(u >= 0 && u < 1 && Number.isInteger(u * 2 ** 24))) offGrid++;
      bins[Math.floor(u * 16)]++;
      if (i > 0) lagProduct += (u - 0.5) * (previous - 0.5);
      previous = u;
    }
    expect(offGrid).toBe(0);
    // Chi-square with 15 degrees of freedom: mean 15, sd 5.5; 50 has p < 1e-5.
    const expected = n / 16;
    const chi2 = bins.reduce((s, b) => s + (b - expected) ** 2 / expected, 0);
    expect(chi2).toBeLessThan(50);
    // Lag-1 correlation of neighbouring indices: sd 1/sqrt(n) = 0.0032; 5 sd.
    const correlation = lagProduct / (n - 1) / (1 / 12);
    expect(Math.abs(correlation)).toBeLessThan(5 / Math.sqrt(n));
  });

  it('keeps a fraction 1 - rate of 100k elements, within 5 standard deviations', () => {
    const n = 100_000;
    for (const rate of [0.25, 0.5, 0.9]) {
      const mask = dropoutMask(n, rate, 99, 0);
      const kept = mask.reduce((s, m) => s + (m > 0 ? 1 : 0), 0) / n;
      // Binomial: sd of the kept fraction = sqrt(rate * (1 - rate) / n) <= 0.0016.
      expect(Math.abs(kept - (1 - rate))).toBeLessThan(5 * Math.sqrt((rate * (1 - rate)) / n));
      expect(mask.every((m) => m === 0 || m === 1 / (1 - rate))).toBe(true);
    }
  });

  it('rate 0 keeps everything with scale 1', () => {
    expect(dropoutMask(1000, 0, 5, 5).every((m) => m === 1)).toBe(true);
  });

  it('a different step or seed gives an unrelated mask', () => {
    const n = 100_000;
    const rate = 0.25;
    const a = dropoutMask(n, rate, 1, 0);
    for (const b of [dropoutMask(n, rate, 1, 1), dropoutMask(n, rate, 2, 0)]) {
      const differ = a.reduce((s, m, i) => s + (m !== b[i] ? 1 : 0), 0) / n;
      // Independent masks differ with probability 2 * rate * (1 - rate) = 0.375
      // per element; sd over 100k is 0.0015.
      expect(Math.abs(differ - 0.375)).toBeLessThan(0.01);
    }
  });

  it('hand-computed forward and backward', () => {
    // u for seed 3, step 2, i = 0..3 (from libxxhash as above):
    // 0.5294, 0.5395, 0.7411, 0.6364. With rate 0.6 the first two are dropped.
    const rate = 0.6;
    const scale = 1 / (1 - rate); // 2.5
    expect([0, 1, 2, 3].map((i) => dropoutUniform(3, 2, i).toFixed(4))).toEqual([
      '0.5294',
      '0.5395',
      '0.7411',
      '0.6364',
    ]);
    const { y, mask } = dropoutForward([1, -2, 3, -4], rate, 3, 2);
    expect([...mask]).toEqual([0, 0, scale, scale]);
    // x * 0 keeps the sign of x, as IEEE multiplication (and the GPU) does.
    expect([...y]).toEqual([0, -0, 3 * scale, -4 * scale]);
    expect([...dropoutBackward([10, 20, 30, 40], mask)]).toEqual([0, 0, 30 * scale, 40 * scale]);
  });

  it('backward matches finite differences', () => {
    // y is linear in x for a fixed mask, so the central difference is exact up
    // to float64 rounding: ~ 1e-16 * |L| / h ~ 1e-12 for |L| ~ 10, h = 1e-3.
    const n = 200;
    const rng = new Rng(11);
    const x = Array.from(rng.floats(n));
    const g = Array.from(rng.floats(n));
    const loss = (v: number[]) =>
      dropoutForward(v, 0.25, 8, 4).y.reduce((s, yi, i) => s + g[i] * yi, 0);
    const analytic = dropoutBackward(g, dropoutForward(x, 0.25, 8, 4).mask);
    const h = 1e-3;
    const numeric = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const plus = x.slice();
      const minus = x.slice();
      plus[i] += h;
      minus[i] -= h;
      numeric[i] = (loss(plus) - loss(minus)) / (2 * h);
    }
    allclose('dropout reference vs finite differences', analytic, numeric, { atol: 1e-9, rtol: 0 });
  });
});
