import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors';
import { maxPoolGeometry, type MaxPoolShape } from '../../src/kernels/maxpool';
import { maxPoolBackward, maxPoolForward } from '../../src/reference/maxpool';
import { Rng } from '../../src/util/rng';
import { allclose } from '../util/allclose';

describe('maxpool geometry (Keras MaxPooling2D)', () => {
  const base = { batch: 1, channels: 1 };
  it.each([
    // [in, pool, stride, padding, out, padBefore], worked by hand from Keras'
    // rules: valid = floor((in - pool) / stride) + 1; same = ceil(in / stride)
    // with pad = max((out - 1) * stride + pool - in, 0), floor(pad / 2) before.
    [25, 2, 2, 'valid', 12, 0],
    [10, 2, 2, 'valid', 5, 0],
    [7, 3, 2, 'valid', 3, 0],
    [7, 3, 2, 'same', 4, 1],
    [5, 3, 2, 'same', 3, 1],
    [25, 2, 2, 'same', 13, 0],
    [6, 3, 1, 'same', 6, 1],
    [4, 4, 4, 'valid', 1, 0],
  ] as const)(
    'in %i pool %i stride %i %s -> out %i, pad before %i',
    (n, pool, stride, padding, out, pad) => {
      const shape: MaxPoolShape = {
        ...base,
        inH: n,
        inW: 3,
        poolH: pool,
        poolW: 1,
        strideH: stride,
        padding,
      };
      const g = maxPoolGeometry(shape);
      expect([g.outH, g.padTop]).toEqual([out, pad]);
    },
  );

  it('strides default to the pool size and padding to valid', () => {
    expect(maxPoolGeometry({ ...base, inH: 25, inW: 25, poolH: 2, poolW: 2 })).toEqual({
      outH: 12,
      outW: 12,
      padTop: 0,
      padLeft: 0,
    });
  });

  it('throws a ShapeError naming the dimension when the pool is larger than the input', () => {
    expect(() => maxPoolGeometry({ ...base, inH: 3, inW: 5, poolH: 4, poolW: 2 }, 'pool1')).toThrow(
      /pool1: poolH/,
    );
    expect(() => maxPoolGeometry({ ...base, inH: 5, inW: 3, poolH: 2, poolW: 4 }, 'pool1')).toThrow(
      ShapeError,
    );
  });
});

describe('maxpool reference', () => {
  it('hand-computed 4x4 example with a tie', () => {
    // x (1, 4, 4, 1):
    //   1 3 | 0 5
    //   3 2 | 5 4
    //   ----+----
    //  -1 -2| 7 7
    //  -3 -1| 7 0
    const x = [1, 3, 0, 5, 3, 2, 5, 4, -1, -2, 7, 7, -3, -1, 7, 0];
    const shape: MaxPoolShape = { batch: 1, inH: 4, inW: 4, channels: 1, poolH: 2, poolW: 2 };
    const { y, argmax } = maxPoolForward(x, shape);
    expect([...y]).toEqual([3, 5, -1, 7]);
    // Every window has a tie; the first in row-major window order wins:
    // 3 at (0,1), 5 at (0,3), -1 at (2,0), 7 at (2,2).
    expect([...argmax]).toEqual([1, 3, 8, 10]);
    const dx = maxPoolBackward([10, 20, 30, 40], argmax, y, { ...shape, relu: false });
    expect([...dx]).toEqual([0, 10, 0, 20, 0, 0, 0, 0, 30, 0, 40, 0, 0, 0, 0, 0]);
    // With the ReLU fused, the window whose max is -1 passes nothing.
    const dxRelu = maxPoolBackward([10, 20, 30, 40], argmax, y, { ...shape, relu: true });
    expect([...dxRelu]).toEqual([0, 10, 0, 20, 0, 0, 0, 0, 0, 0, 40, 0, 0, 0, 0, 0]);
  });

  it('overlapping windows: the element that wins several windows gets their summed gradient', () => {
    const x = new Array(25).fill(0);
    x[12] = 1; // the centre of a 5x5 input lies in all four 3x3 stride-2 windows
    const shape: MaxPoolShape = {
      batch: 1,
      inH: 5,
      inW: 5,
      channels: 1,
      poolH: 3,
      poolW: 3,
      strideH: 2,
      strideW: 2,
    };
    const { y, argmax } = maxPoolForward(x, shape);
    expect([...argmax]).toEqual([12, 12, 12, 12]);
    const dx = maxPoolBackward([1, 2, 3, 4], argmax, y, { ...shape, relu: false });
    expect(dx[12]).toBe(10);
    expect(dx.reduce((a, b) => a + Math.abs(b), 0)).toBe(10);
  });

  it("'same' padding never lets the padding win, even over negative inputs", () => {
    const shape: MaxPoolShape = {
      batch: 1,
      inH: 3,
      inW: 3,
      channels: 1,
      poolH: 2,
      poolW: 2,
      padding: 'same',
    };
    const x = [-9, -8, -7, -6, -5, -4, -3, -2, -1];
    const { y, argmax } = maxPoolForward(x, shape);
    expect([...y]).toEqual([-5, -4, -2, -1]);
    expect([...argmax]).toEqual([4, 5, 7, 8]);
  });

  // Max pooling is piecewise linear: with distinct inputs spaced by `gap` and
  // a step h < gap / 2, no window changes its argmax, so the central difference
  // of L = sum(g * y) equals the gradient up to float64 rounding,
  // ~ 1e-16 * |L| / h ~ 1e-12. Inputs are also kept >= gap / 2 away from 0 so
  // the ReLU does not switch either.
  const gap = 0.01;
  const h = 1e-3;
  const FD = { atol: 1e-9, rtol: 0 };
  const shapes: MaxPoolShape[] = [
    { batch: 2, inH: 7, inW: 5, channels: 3, poolH: 2, poolW: 2 },
    { batch: 1, inH: 7, inW: 5, channels: 3, poolH: 3, poolW: 3, strideH: 2, strideW: 2 },
    {
      batch: 1,
      inH: 7,
      inW: 5,
      channels: 2,
      poolH: 3,
      poolW: 3,
      strideH: 2,
      strideW: 2,
      padding: 'same',
    },
    {
      batch: 1,
      inH: 6,
      inW: 6,
      channels: 2,
      poolH: 3,
      poolW: 2,
      strideH: 1,
      strideW: 1,
      padding: 'same',
    },
  ];
  for (const shape of shapes) {
    for (const relu of [false, true]) {
      it(`backward matches finite differences: ${JSON.stringify(shape)} relu=${relu}`, () => {
        const size = shape.batch * shape.inH * shape.inW * shape.channels;
        const rng = new Rng(size + (relu ? 1 : 0));
        const perm = rng.permutation(size);
        const x = Array.from(perm, (p) => (p - size / 2 + 0.5) * gap);
        const forward = (v: number[]) =>
          maxPoolForward(relu ? v.map((a) => Math.max(a, 0)) : v, shape);
        const { y, argmax } = forward(x);
        const g = Array.from(rng.floats(y.length));
        const loss = (v: number[]) => forward(v).y.reduce((s, yi, i) => s + g[i] * yi, 0);
        const analytic = maxPoolBackward(g, argmax, y, { ...shape, relu });
        const numeric = new Float64Array(size);
        for (let i = 0; i < size; i++) {
          const plus = x.slice();
          const minus = x.slice();
          plus[i] += h;
          minus[i] -= h;
          numeric[i] = (loss(plus) - loss(minus)) / (2 * h);
        }
        allclose(`maxpool reference vs finite differences relu=${relu}`, analytic, numeric, FD);
      });
    }
  }
});
