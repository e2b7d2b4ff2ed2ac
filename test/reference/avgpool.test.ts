import { describe, expect, it } from 'vitest';
import type { AvgPoolShape } from '../../src/kernels/avgpool';
import { avgPoolBackward, avgPoolForward } from '../../src/reference/avgpool';
import { Rng } from '../../src/util/rng';
import { allclose } from '../util/allclose';

describe('avgpool reference', () => {
  it('averages a hand-computed 3x3 input with 2x2 windows, same padding (padding not counted)', () => {
    // 1 2 3 / 4 5 6 / 7 8 9, 'same' at stride 2: out 2x2; the right and bottom
    // windows hang over the edge and average only what they cover.
    const shape: AvgPoolShape = { batch: 1, inH: 3, inW: 3, channels: 1, poolH: 2, poolW: 2, padding: 'same' };
    expect(Array.from(avgPoolForward([1, 2, 3, 4, 5, 6, 7, 8, 9], shape))).toEqual([3, 4.5, 7.5, 9]);
  });

  // The forward is linear, so central differences are exact up to rounding:
  // 1e-9 on O(1) values.
  const cases: [string, AvgPoolShape][] = [
    ['2x2 valid, odd sizes', { batch: 2, inH: 5, inW: 7, channels: 3, poolH: 2, poolW: 2 }],
    ['3x3 stride 2 overlapping, same', { batch: 1, inH: 6, inW: 5, channels: 2, poolH: 3, poolW: 3, strideH: 2, strideW: 2, padding: 'same' }],
    ['2x3 stride 1', { batch: 1, inH: 4, inW: 5, channels: 1, poolH: 2, poolW: 3, strideH: 1, strideW: 1 }],
  ];
  for (const [what, shape] of cases) {
    it(`backward matches finite differences: ${what}`, () => {
      const rng = new Rng(what.length);
      const x = Float64Array.from(rng.floats(shape.batch * shape.inH * shape.inW * shape.channels));
      const w = Float64Array.from(rng.floats(avgPoolForward(x, shape).length));
      const loss = () => avgPoolForward(x, shape).reduce((s, v, i) => s + v * w[i], 0);
      const fd = new Float64Array(x.length);
      const h = 1e-5;
      for (let i = 0; i < x.length; i++) {
        const keep = x[i];
        x[i] = keep + h;
        const up = loss();
        x[i] = keep - h;
        fd[i] = (up - loss()) / (2 * h);
        x[i] = keep;
      }
      allclose(`avgpool backward ${what}`, avgPoolBackward(w, shape), fd, { atol: 1e-9, rtol: 1e-9 });
    });
  }
});
