// activation: the activation functions of conv2d, dense and batchnorm, chosen
// per pipeline by the ACTIVATION override (the codes are ACTIVATIONS in
// src/kernels/activation.ts). An override rather than a params field: the
// compilers fold the unused branches away, so a ReLU kernel carries none of
// the exp/tanh code (the tiled epilogues inline store_block 16 times, and
// pipeline build time on the CPU adapters grows with code size).
//   0 linear      u
//   1 relu        max(u, 0)
//   2 leaky_relu  u, or 0.3 u below 0 (Keras's default alpha)
//   3 elu         u, or exp(u) - 1 below 0 (alpha 1)
//   4 tanh
//   5 sigmoid     1 / (1 + exp(-u))
//   6 gelu        the tanh approximation: 0.5 u (1 + tanh(sqrt(2/pi) (u + 0.044715 u^3)))
//                 (Keras gelu(approximate=True), PyTorch GELU(approximate='tanh'))

override ACTIVATION: u32 = 0u;

const LEAKY_ALPHA: f32 = 0.3;
const GELU_K: f32 = 0.7978845608028654; // sqrt(2 / pi)
const GELU_C: f32 = 0.044715;

// tanh from exp(-2|u|) <= 1: no inf / inf for large |u| (the builtin's
// accuracy and overflow behaviour differ between implementations).
fn act_tanh(u: vec4<f32>) -> vec4<f32> {
  let e = exp(-2.0 * abs(u));
  return sign(u) * (1.0 - e) / (1.0 + e);
}

fn act_sigmoid(u: vec4<f32>) -> vec4<f32> {
  return 1.0 / (1.0 + exp(-u));
}

fn activate(u: vec4<f32>) -> vec4<f32> {
  if (ACTIVATION == 1u) {
    return max(u, vec4(0.0));
  }
  if (ACTIVATION == 2u) {
    return select(LEAKY_ALPHA * u, u, u > vec4(0.0));
  }
  if (ACTIVATION == 3u) {
    return select(exp(min(u, vec4(0.0))) - 1.0, u, u > vec4(0.0));
  }
  if (ACTIVATION == 4u) {
    return act_tanh(u);
  }
  if (ACTIVATION == 5u) {
    return act_sigmoid(u);
  }
  if (ACTIVATION == 6u) {
    return 0.5 * u * (1.0 + act_tanh(GELU_K * (u + GELU_C * u * u * u)));
  }
  return u;
}

// f'(u), from the pre-activation u.
fn activate_grad(u: vec4<f32>) -> vec4<f32> {
  let positive = u > vec4(0.0);
  if (ACTIVATION == 1u) {
    return select(vec4(0.0), vec4(1.0), positive);
  }
  if (ACTIVATION == 2u) {
    return select(vec4(LEAKY_ALPHA), vec4(1.0), positive);
  }
  if (ACTIVATION == 3u) {
    return select(exp(min(u, vec4(0.0))), vec4(1.0), positive);
  }
  if (ACTIVATION == 4u) {
    let t = act_tanh(u);
    return 1.0 - t * t;
  }
  if (ACTIVATION == 5u) {
    let s = act_sigmoid(u);
    return s * (1.0 - s);
  }
  if (ACTIVATION == 6u) {
    let t = act_tanh(GELU_K * (u + GELU_C * u * u * u));
    return 0.5 * (1.0 + t) + 0.5 * u * (1.0 - t * t) * GELU_K * (1.0 + 3.0 * GELU_C * u * u);
  }
  return vec4(1.0);
}

// f'(u) from the output y = f(u), for the activations where y determines it
// (all but gelu, which is not monotonic: its backward needs u).
fn activate_grad_from_output(y: vec4<f32>) -> vec4<f32> {
  let positive = y > vec4(0.0);
  if (ACTIVATION == 1u) {
    return select(vec4(0.0), vec4(1.0), positive);
  }
  if (ACTIVATION == 2u) {
    return select(vec4(LEAKY_ALPHA), vec4(1.0), positive);
  }
  if (ACTIVATION == 3u) {
    return select(y + 1.0, vec4(1.0), positive);
  }
  if (ACTIVATION == 4u) {
    return 1.0 - y * y;
  }
  if (ACTIVATION == 5u) {
    return y * (1.0 - y);
  }
  return vec4(1.0);
}
