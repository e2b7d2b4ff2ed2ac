import { describe, expect, it } from 'vitest';
import { gemm, gemmBackward, transpose } from '../../src/reference/gemm';
import { Rng } from '../../src/util/rng';
import { allclose } from '../util/allclose';

// The reference runs in float64; comparisons between two float64 evaluations
// of the same sums in different orders differ by a few ulps of ~k: 1e-12.
const F64 = { atol: 1e-12, rtol: 1e-12 };

describe('gemm reference', () => {
  // [1 2 3; 4 5 6] · [7 8; 9 10; 11 12] = [58 64; 139 154], worked by hand.
  const a = [1, 2, 3, 4, 5, 6];
  const b = [7, 8, 9, 10, 11, 12];
  const ab = [58, 64, 139, 154];

  it('matches a hand-computed 2x3 · 3x2 product', () => {
    expect(Array.from(gemm(a, b, null, { m: 2, n: 2, k: 3 }))).toEqual(ab);
  });

  it('adds the bias per column, then applies ReLU', () => {
    // [58 64; 139 154] + [-100, 1] = [-42 65; 39 155]; ReLU zeroes -42.
    expect(Array.from(gemm(a, b, [-100, 1], { m: 2, n: 2, k: 3 }))).toEqual([-42, 65, 39, 155]);
    expect(Array.from(gemm(a, b, [-100, 1], { m: 2, n: 2, k: 3, relu: true }))).toEqual([0, 65, 39, 155]);
  });

  it('transposes: the same product from Aᵀ and Bᵀ storage', () => {
    const at = transpose(a, 2, 3); // (3, 2)
    const bt = transpose(b, 3, 2); // (2, 3)
    expect(Array.from(at)).toEqual([1, 4, 2, 5, 3, 6]);
    expect(Array.from(gemm(at, b, null, { m: 2, n: 2, k: 3, transA: true }))).toEqual(ab);
    expect(Array.from(gemm(a, bt, null, { m: 2, n: 2, k: 3, transB: true }))).toEqual(ab);
    expect(Array.from(gemm(at, bt, null, { m: 2, n: 2, k: 3, transA: true, transB: true }))).toEqual(ab);
  });

  it('transposed variants equal explicit transposes on random shapes', () => {
    const rng = new Rng(3);
    for (const [m, n, k] of [
      [1, 1, 1],
      [3, 5, 7],
      [17, 4, 9],
    ]) {
      const x = rng.floats(m * k);
      const y = rng.floats(k * n);
      const want = gemm(x, y, null, { m, n, k });
      allclose(`TN ${m}x${n}x${k}`, gemm(transpose(x, m, k), y, null, { m, n, k, transA: true }), want, F64);
      allclose(`NT ${m}x${n}x${k}`, gemm(x, transpose(y, k, n), null, { m, n, k, transB: true }), want, F64);
    }
  });

  it('backward products match finite differences of sum(g ⊙ x·w)', () => {
    // L(x, w) = sum(g ⊙ (x·w)) is linear, so central differences are exact up
    // to float64 rounding of L (~1e-15 relative to |L| ~ 1): tolerance 1e-8.
    const rng = new Rng(9);
    const [m, n, k] = [3, 4, 5];
    const x = Float64Array.from(rng.floats(m * k));
    const w = Float64Array.from(rng.floats(k * n));
    const g = Float64Array.from(rng.floats(m * n));
    const loss = () => gemm(x, w, null, { m, n, k }).reduce((s, v, i) => s + v * g[i], 0);
    const { dx, dw } = gemmBackward(g, x, w, { m, n, k });
    const h = 1e-3;
    const numeric = (t: Float64Array) =>
      Float64Array.from(t, (_, i) => {
        const keep = t[i];
        t[i] = keep + h;
        const up = loss();
        t[i] = keep - h;
        const down = loss();
        t[i] = keep;
        return (up - down) / (2 * h);
      });
    allclose('gemm dx vs finite differences', dx, numeric(x), { atol: 1e-8, rtol: 0 });
    allclose('gemm dw vs finite differences', dw, numeric(w), { atol: 1e-8, rtol: 0 });
  });
});
