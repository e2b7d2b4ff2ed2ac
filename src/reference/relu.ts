// CPU reference for ReLU, forward and backward, in float64.

/** y = max(x, 0). */
export function reluForward(x: ArrayLike<number>): Float64Array {
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = Math.max(x[i], 0);
  return y;
}

/** dx = dy where y > 0, else 0 (same argument order as the shader). */
export function reluBackward(dy: ArrayLike<number>, y: ArrayLike<number>): Float64Array {
  const dx = new Float64Array(dy.length);
  for (let i = 0; i < dy.length; i++) dx[i] = y[i] > 0 ? dy[i] : 0;
  return dx;
}
