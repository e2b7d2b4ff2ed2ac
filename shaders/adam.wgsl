// adam: one Adam step, in place, over n elements (Keras form).
//   param: (n)  updated in place: param -= alpha * m / (sqrt(v) + epsilon)
//   m:     (n)  updated in place: m = beta1 * m + (1 - beta1) * grad
//   v:     (n)  updated in place: v = beta2 * v + (1 - beta2) * grad^2
//   grad:  (n)
//   step:  (>= 1) u32, step[0] = optimizer steps completed before this one
// with t = step[0] + 1 and alpha = lr * sqrt(1 - beta2^t) / (1 - beta1^t).
// The parameters, gradients and moments of a whole model are each one buffer,
// so one dispatch updates every tensor.
//
// Each thread derives alpha itself (a loop over the bits of t, below), then
// updates ELEMENTS_PER_THREAD elements spaced WORKGROUP_SIZE apart, so that
// neighbouring threads touch neighbouring elements on every iteration. Sharing
// alpha through workgroup memory instead costs a barrier, which the CPU
// adapters make expensive (SwiftShader took 0.75 s for 1M elements that way,
// against 25-45 ms with 16 elements per thread).

struct Params {
  n: u32,
  lr: f32,
  beta1: f32,
  beta2: f32,
  epsilon: f32,
}

@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read_write> m: array<f32>;
@group(0) @binding(2) var<storage, read_write> v: array<f32>;
@group(0) @binding(3) var<storage, read> grad: array<f32>;
@group(0) @binding(4) var<storage, read> step: array<u32>;
@group(0) @binding(5) var<uniform> params: Params;

override WORKGROUP_SIZE: u32 = 256;
override ELEMENTS_PER_THREAD: u32 = 16;

// 1 - beta^t, computed without the cancellation of 1 - pow(beta, t): with
// q(k) = 1 - beta^k, q(a + b) = q(a) + q(b) * (1 - q(a)) and q(1) = 1 - beta
// (exact in f32 for beta in [0.5, 1]), so square-and-multiply over the bits
// of t only ever adds positive terms and the result stays within a few ulps
// for any t. WGSL lets pow() err by up to 2^-21 absolute in its log2 near 1,
// which at t = 1, beta2 = 0.999 would be a relative error near 3e-4.
fn one_minus_pow(beta: f32, t: u32) -> f32 {
  var result = 0.0;
  var power = 1.0 - beta; // q(2^k) for the current bit k
  var e = t;
  loop {
    if ((e & 1u) != 0u) {
      result += power * (1.0 - result);
    }
    e >>= 1u;
    if (e == 0u) {
      break;
    }
    power *= 2.0 - power;
  }
  return result;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_index) lid: u32,
  @builtin(num_workgroups) groups: vec3u,
) {
  let t = step[0] + 1u;
  let alpha = params.lr * sqrt(one_minus_pow(params.beta2, t)) /
    one_minus_pow(params.beta1, t);
  // A 2-D grid covers n beyond 65535 workgroups.
  let group = wid.x + wid.y * groups.x;
  let first = group * (WORKGROUP_SIZE * ELEMENTS_PER_THREAD) + lid;
  for (var k = 0u; k < ELEMENTS_PER_THREAD; k++) {
    let i = first + k * WORKGROUP_SIZE;
    if (i >= params.n) {
      return;
    }
    let g = grad[i];
    let m_new = params.beta1 * m[i] + (1.0 - params.beta1) * g;
    let v_new = params.beta2 * v[i] + (1.0 - params.beta2) * (g * g);
    m[i] = m_new;
    v[i] = v_new;
    param[i] -= alpha * m_new / (sqrt(v_new) + params.epsilon);
  }
}
