// CPU reference for GEMM with an optional bias and activation, in float64, plus the
// dense layer's backward products written as the same GEMM with transposes.

import { shapeActivation, type ActivationName } from '../kernels/activation';
import { activate } from './activation';

export interface GemmRefShape {
  m: number;
  n: number;
  k: number;
  transA?: boolean;
  transB?: boolean;
  activation?: ActivationName;
  relu?: boolean;
}

/**
 * c(m, n) = f(op(a)·op(b) [+ bias(n) per row]). a is stored (m, k),
 * or (k, m) when transA; b is stored (k, n), or (n, k) when transB.
 */
export function gemm(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  bias: ArrayLike<number> | null,
  shape: GemmRefShape,
): Float64Array {
  const { m, n, k } = shape;
  const activation = shapeActivation(shape);
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let p = 0; p < k; p++) {
        const av = shape.transA ? a[p * m + i] : a[i * k + p];
        const bv = shape.transB ? b[j * k + p] : b[p * n + j];
        sum += av * bv;
      }
      if (bias) sum += bias[j];
      c[i * n + j] = activate(sum, activation);
    }
  }
  return c;
}

/** The (cols, rows) transpose of a row-major (rows, cols) matrix. */
export function transpose(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const t = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) t[j * rows + i] = x[i * cols + j];
  }
  return t;
}

/**
 * Backward of y = x·w (+ bias) before any activation: dx = dy·wᵀ (NT) and
 * dw = xᵀ·dy (TN). x: (m, k), w: (k, n), dy: (m, n).
 */
export function gemmBackward(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  shape: { m: number; n: number; k: number },
): { dx: Float64Array; dw: Float64Array } {
  const { m, n, k } = shape;
  return {
    dx: gemm(dy, w, null, { m, n: k, k: n, transB: true }),
    dw: gemm(x, dy, null, { m: k, n, k: m, transA: true }),
  };
}
