// CPU reference for one Adam step (Keras form), in float64. There is no
// backward: this is the optimizer. Updates param, m and v in place, as the
// shader does.

export interface AdamHyper {
  lr: number;
  beta1: number;
  beta2: number;
  epsilon: number;
}

/**
 * Same argument order as the shader: the in-place tensors (param, m, v), then
 * grad, then t = step[0] + 1 (1 on the first step).
 */
export function adamStep(
  param: Float64Array,
  m: Float64Array,
  v: Float64Array,
  grad: ArrayLike<number>,
  t: number,
  hyper: AdamHyper,
): void {
  const { lr, beta1, beta2, epsilon } = hyper;
  const alpha = (lr * Math.sqrt(1 - Math.pow(beta2, t))) / (1 - Math.pow(beta1, t));
  for (let i = 0; i < param.length; i++) {
    const g = grad[i];
    m[i] = beta1 * m[i] + (1 - beta1) * g;
    v[i] = beta2 * v[i] + (1 - beta2) * g * g;
    param[i] -= (alpha * m[i]) / (Math.sqrt(v[i]) + epsilon);
  }
}
