// batchnorm_backward: the gradient w.r.t. batchnorm's input, through the
// batch statistics (training mode: mean and variance depend on x):
//   dx = gamma / sqrt(variance + epsilon) * (g - dbeta / R - xhat * dgamma / R)
// with R = rows, xhat, u and g = dy * f'(u) as in batchnorm_backward_sums, and
// dbeta = sum g, dgamma = sum g * xhat from batchnorm_backward_reduce.
//   dx:    (rows, C)  written (overwrites)
//   dy, x: (rows, C)
//   mean, variance, gamma, beta: (C)
//   sums:  (2, C)  [dbeta | dgamma]
// Elementwise, one invocation per element; c = i % C.

struct Params {
  n: u32,
  channels: u32,
  rows: u32,
  epsilon: f32,
}

@group(0) @binding(0) var<storage, read_write> dx: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> variance: array<f32>;
@group(0) @binding(5) var<storage, read> gamma: array<f32>;
@group(0) @binding(6) var<storage, read> beta: array<f32>;
@group(0) @binding(7) var<storage, read> sums: array<f32>;
@group(0) @binding(8) var<uniform> params: Params;

override WORKGROUP_SIZE: u32 = 256;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
) {
  let i = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
  if (i >= params.n) {
    return;
  }
  let c = i % params.channels;
  let inv = inverseSqrt(variance[c] + params.epsilon);
  let xhat = (x[i] - mean[c]) * inv;
  let grad = dy[i] * activate_grad(vec4(gamma[c] * xhat + beta[c])).x;
  let r = 1.0 / f32(params.rows);
  dx[i] = gamma[c] * inv * (grad - sums[c] * r - xhat * (sums[params.channels + c] * r));
}
