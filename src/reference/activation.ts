// CPU reference for the activations, forward and backward, in float64, the
// same formulas as shaders/common/activation.wgsl (gelu: the tanh
// approximation; leaky_relu: alpha 0.3; elu: alpha 1).

import type { ActivationName } from '../kernels/activation';

const LEAKY_ALPHA = 0.3;
const GELU_K = Math.sqrt(2 / Math.PI);
const GELU_C = 0.044715;

/** f(u) for one value. */
export function activate(u: number, a: ActivationName): number {
  switch (a) {
    case 'linear':
      return u;
    case 'relu':
      return Math.max(u, 0);
    case 'leaky_relu':
      return u > 0 ? u : LEAKY_ALPHA * u;
    case 'elu':
      return u > 0 ? u : Math.expm1(u);
    case 'tanh':
      return Math.tanh(u);
    case 'sigmoid':
      return 1 / (1 + Math.exp(-u));
    case 'gelu':
      return 0.5 * u * (1 + Math.tanh(GELU_K * (u + GELU_C * u * u * u)));
  }
}

/** f'(u) for one value (at u = 0 the kinked ones take the left slope, as TF). */
export function activateGrad(u: number, a: ActivationName): number {
  switch (a) {
    case 'linear':
      return 1;
    case 'relu':
      return u > 0 ? 1 : 0;
    case 'leaky_relu':
      return u > 0 ? 1 : LEAKY_ALPHA;
    case 'elu':
      return u > 0 ? 1 : Math.exp(u);
    case 'tanh': {
      const t = Math.tanh(u);
      return 1 - t * t;
    }
    case 'sigmoid': {
      const s = 1 / (1 + Math.exp(-u));
      return s * (1 - s);
    }
    case 'gelu': {
      const t = Math.tanh(GELU_K * (u + GELU_C * u * u * u));
      return 0.5 * (1 + t) + 0.5 * u * (1 - t * t) * GELU_K * (1 + 3 * GELU_C * u * u);
    }
  }
}

/** f'(u) from y = f(u); every activation but gelu. */
export function activateGradFromOutput(y: number, a: ActivationName): number {
  switch (a) {
    case 'linear':
      return 1;
    case 'relu':
      return y > 0 ? 1 : 0;
    case 'leaky_relu':
      return y > 0 ? 1 : LEAKY_ALPHA;
    case 'elu':
      return y > 0 ? 1 : y + 1;
    case 'tanh':
      return 1 - y * y;
    case 'sigmoid':
      return y * (1 - y);
    case 'gelu':
      throw new Error("gelu's gradient needs the pre-activation");
  }
}

/** y = f(u) elementwise. */
export function activationForward(u: ArrayLike<number>, a: ActivationName): Float64Array {
  const y = new Float64Array(u.length);
  for (let i = 0; i < u.length; i++) y[i] = activate(u[i], a);
  return y;
}

/**
 * dx = dy * f'(u) (same argument order as the shader): `saved` is y = f(u)
 * when fromOutput, else u.
 */
export function activationBackward(
  dy: ArrayLike<number>,
  saved: ArrayLike<number>,
  a: ActivationName,
  fromOutput: boolean,
): Float64Array {
  const dx = new Float64Array(dy.length);
  for (let i = 0; i < dy.length; i++) {
    const g = fromOutput ? activateGradFromOutput(saved[i], a) : activateGrad(saved[i], a);
    dx[i] = g === 0 ? 0 : dy[i] * g;
  }
  return dx;
}
