// The float64 conv2d reference against hand-computed cases and against
// central finite differences of its own forward pass.
import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors';
import { conv2dGeometry, type Conv2dShape } from '../../src/kernels/conv2d';
import {
  conv2dBackwardFilter,
  conv2dBackwardInput,
  conv2dCol2im,
  conv2dForward,
} from '../../src/reference/conv2d';
import { Rng } from '../../src/util/rng';
import { allclose } from '../util/allclose';

// Hand-computed values are small integers: float64 must reproduce them exactly.
const EXACT = { atol: 0, rtol: 0 };

function randoms(rng: Rng, n: number): Float64Array {
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.uniform(-1, 1);
  return a;
}

describe('conv2dGeometry', () => {
  const base = { batch: 1, inC: 1, outC: 1 };
  it('follows the Keras rules for valid and same', () => {
    expect(
      conv2dGeometry({ ...base, inH: 28, inW: 28, kernelH: 4, kernelW: 4, padding: 'valid' }),
    ).toEqual({ outH: 25, outW: 25, padTop: 0, padLeft: 0 });
    expect(
      conv2dGeometry({ ...base, inH: 7, inW: 9, kernelH: 2, kernelW: 3, strideH: 2, strideW: 2, padding: 'valid' }),
    ).toEqual({ outH: 3, outW: 4, padTop: 0, padLeft: 0 });
    // same: out = ceil(in / s); padTotal = max((out - 1) * s + k - in, 0), top = floor(total / 2)
    expect(
      conv2dGeometry({ ...base, inH: 9, inW: 7, kernelH: 5, kernelW: 5, padding: 'same' }),
    ).toEqual({ outH: 9, outW: 7, padTop: 2, padLeft: 2 });
    expect(
      conv2dGeometry({ ...base, inH: 7, inW: 8, kernelH: 3, kernelW: 2, strideH: 2, strideW: 2, padding: 'same' }),
    ).toEqual({ outH: 4, outW: 4, padTop: 1, padLeft: 0 });
  });

  it('rejects a valid kernel larger than the input, naming the dimension', () => {
    const shape = { ...base, inH: 4, inW: 6, kernelH: 5, kernelW: 3, padding: 'valid' as const };
    expect(() => conv2dGeometry(shape, 'conv2d_forward')).toThrow(ShapeError);
    expect(() => conv2dGeometry(shape, 'conv2d_forward')).toThrow(/conv2d_forward: kernelH/);
  });

  it('rejects dimensions below 1', () => {
    const shape = { ...base, inH: 4, inW: 4, kernelH: 3, kernelW: 3, padding: 'same' as const };
    expect(() => conv2dGeometry({ ...shape, strideW: 0 }, 'c')).toThrow(/c: strideW/);
    expect(() => conv2dGeometry({ ...shape, batch: 0 }, 'c')).toThrow(/c: batch/);
  });
});

describe('conv2d reference, hand-computed', () => {
  it('valid 2x2 kernel, two output channels, bias and ReLU', () => {
    // x (1, 3, 3, 1) = 1..9; w[:, :, 0, 0] = [[1, 0], [0, -1]] (x[i][j] - x[i+1][j+1]),
    // w[:, :, 0, 1] = all ones (window sum).
    const x = [1, 2, 3, 4, 5, 6, 7, 8, 9];
    const w = [1, 1, 0, 1, 0, 1, -1, 1]; // (kh, kw, c, k) with k fastest
    const b = [10, -20];
    const shape = { batch: 1, inH: 3, inW: 3, inC: 1, outC: 2, kernelH: 2, kernelW: 2, padding: 'valid' as const };
    // channel 0: each output is x - x(+1,+1) = -4, plus 10 = 6
    // channel 1: window sums 12, 16, 24, 28, minus 20 = -8, -4, 4, 8
    allclose('hand valid', conv2dForward(x, w, b, { ...shape, relu: false }), [6, -8, 6, -4, 6, 4, 6, 8], EXACT);
    allclose('hand valid relu', conv2dForward(x, w, b, { ...shape, relu: true }), [6, 0, 6, 0, 6, 4, 6, 8], EXACT);
  });

  it("same 3x3 kernel with stride 2 pads one pixel at the bottom and right", () => {
    // x (1, 4, 4, 1) = 1..16, w = all ones: out 2x2, padTop = padLeft = 0,
    // the last row/column of each window at index 4 is padding.
    const x = Array.from({ length: 16 }, (_, i) => i + 1);
    const w = new Array(9).fill(1);
    const shape = { batch: 1, inH: 4, inW: 4, inC: 1, outC: 1, kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, padding: 'same' as const };
    // windows: rows 0-2 x cols 0-2 = 54; rows 0-2 x cols 2-3 = 3+4+7+8+11+12 = 45;
    // rows 2-3 x cols 0-2 = 9+10+11+13+14+15 = 72; rows 2-3 x cols 2-3 = 11+12+15+16 = 54
    allclose('hand same stride 2', conv2dForward(x, w, [0], { ...shape, relu: false }), [54, 45, 72, 54], EXACT);
  });
});

// loss = sum(y * r) with y the pre-activation forward output; dL/dy = r.
function loss(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number>, r: Float64Array, shape: Conv2dShape) {
  const y = conv2dForward(x, w, b, { ...shape, relu: false });
  let s = 0;
  for (let i = 0; i < y.length; i++) s += y[i] * r[i];
  return s;
}

/** Central differences of `loss` w.r.t. every element of `v` (mutated and restored). */
function numericGradient(v: Float64Array, f: () => number): Float64Array {
  // The loss is linear in each input, so central differences have no
  // truncation error; h = 0.5 keeps rounding at ~1e-16 * |L| / h.
  const h = 0.5;
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

// float64 rounding of a loss of ~100 terms of magnitude ~1, divided by 2h = 1.
const FD = { atol: 1e-12, rtol: 1e-12 };

const gradShapes: [string, Conv2dShape][] = [
  ['valid 3x3, C=3, K=5', { batch: 2, inH: 6, inW: 5, inC: 3, outC: 5, kernelH: 3, kernelW: 3, padding: 'valid' }],
  ['same 5x5', { batch: 1, inH: 6, inW: 7, inC: 2, outC: 3, kernelH: 5, kernelW: 5, padding: 'same' }],
  ['stride 2 valid, 2x3 kernel', { batch: 2, inH: 7, inW: 9, inC: 2, outC: 3, kernelH: 2, kernelW: 3, strideH: 2, strideW: 2, padding: 'valid' }],
  ['stride 2 same, 3x2 kernel', { batch: 1, inH: 7, inW: 8, inC: 3, outC: 2, kernelH: 3, kernelW: 2, strideH: 2, strideW: 2, padding: 'same' }],
  ['1x1 kernel', { batch: 2, inH: 3, inW: 4, inC: 3, outC: 4, kernelH: 1, kernelW: 1, padding: 'valid' }],
];

describe('conv2d reference backward vs finite differences', () => {
  for (const [name, shape] of gradShapes) {
    it(name, () => {
      const g = conv2dGeometry(shape);
      const rng = new Rng(name.length * 7919);
      const x = randoms(rng, shape.batch * shape.inH * shape.inW * shape.inC);
      const w = randoms(rng, shape.kernelH * shape.kernelW * shape.inC * shape.outC);
      const b = randoms(rng, shape.outC);
      const r = randoms(rng, shape.batch * g.outH * g.outW * shape.outC);
      const f = () => loss(x, w, b, r, shape);

      allclose(`${name} dx`, conv2dBackwardInput(r, w, shape), numericGradient(x, f), FD);
      // The GPU's GEMM path: dcol = dy · wᵀ per output pixel, then col2im.
      const taps = shape.kernelH * shape.kernelW * shape.inC;
      const pixels = shape.batch * g.outH * g.outW;
      const dcol = new Float64Array(pixels * taps);
      for (let p = 0; p < pixels; p++) {
        for (let t = 0; t < taps; t++) {
          for (let k = 0; k < shape.outC; k++) dcol[p * taps + t] += r[p * shape.outC + k] * w[t * shape.outC + k];
        }
      }
      allclose(`${name} dx by col2im`, conv2dCol2im(dcol, shape), numericGradient(x, f), FD);
      const { dw, db } = conv2dBackwardFilter(x, r, shape);
      allclose(`${name} dw`, dw, numericGradient(w, f), FD);
      allclose(`${name} db`, db, numericGradient(b, f), FD);
    });
  }
});
