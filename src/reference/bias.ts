// CPU reference for the bias gradient, in float64.

/** y(rows, cols) = x + bias(cols) broadcast over rows. */
export function biasForward(
  x: ArrayLike<number>,
  bias: ArrayLike<number>,
  shape: { rows: number; cols: number },
): Float64Array {
  const { rows, cols } = shape;
  const y = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) y[r * cols + c] = x[r * cols + c] + bias[c];
  }
  return y;
}

/** db(cols) = sum over rows of dy(rows, cols) (same argument order as the shader). */
export function biasBackward(
  dy: ArrayLike<number>,
  shape: { rows: number; cols: number },
): Float64Array {
  const { rows, cols } = shape;
  const db = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) db[c] += dy[r * cols + c];
  }
  return db;
}
