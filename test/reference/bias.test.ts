import { describe, expect, it } from 'vitest';
import { biasBackward, biasForward } from '../../src/reference/bias';
import { Rng } from '../../src/util/rng';
import { allclose } from '../util/allclose';

describe('bias reference', () => {
  it('matches a hand-computed column sum', () => {
    // dy = [1 2 3; 4 5 6; -1 0 10] -> db = [1+4-1, 2+5+0, 3+6+10] = [4, 7, 19].
    const dy = [1, 2, 3, 4, 5, 6, -1, 0, 10];
    expect(Array.from(biasBackward(dy, { rows: 3, cols: 3 }))).toEqual([4, 7, 19]);
    expect(Array.from(biasForward([0, 0, 0, 1, 1, 1], [1, 2, 3], { rows: 2, cols: 3 }))).toEqual([1, 2, 3, 2, 3, 4]);
  });

  it('backward matches finite differences of sum(g ⊙ (x + b))', () => {
    // The loss is linear in b, so central differences are exact up to
    // float64 rounding of the loss (~1e-14 here): tolerance 1e-8.
    const rng = new Rng(4);
    const rows = 6;
    const cols = 5;
    const x = Float64Array.from(rng.floats(rows * cols));
    const g = Float64Array.from(rng.floats(rows * cols));
    const b = Float64Array.from(rng.floats(cols));
    const loss = () => biasForward(x, b, { rows, cols }).reduce((s, v, i) => s + v * g[i], 0);
    const h = 1e-3;
    const numeric = Float64Array.from(b, (_, i) => {
      const keep = b[i];
      b[i] = keep + h;
      const up = loss();
      b[i] = keep - h;
      const down = loss();
      b[i] = keep;
      return (up - down) / (2 * h);
    });
    allclose('bias db vs finite differences', biasBackward(g, { rows, cols }), numeric, { atol: 1e-8, rtol: 0 });
  });
});
