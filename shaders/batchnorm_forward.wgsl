// batchnorm_forward: y = f(gamma * (x - mean) / sqrt(variance + epsilon) + beta)
// per channel, f the ACTIVATION of shaders/common/activation.wgsl (included
// before this file): a standalone activation after batchnorm is fused here.
//   y:        (rows, C)  written (overwrites)
//   x:        (rows, C)
//   mean:     (C)  the batch mean in training (batchnorm_stats_reduce), the
//   variance: (C)    moving averages in evaluation and prediction
//   gamma, beta: (C)
// Elementwise, one invocation per element; c = i % C (NHWC / (N, units)).

struct Params {
  n: u32,
  channels: u32,
  epsilon: f32,
}

@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> variance: array<f32>;
@group(0) @binding(4) var<storage, read> gamma: array<f32>;
@group(0) @binding(5) var<storage, read> beta: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;

override WORKGROUP_SIZE: u32 = 256;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
) {
  // A 2-D grid covers n beyond 65535 workgroups.
  let i = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
  if (i >= params.n) {
    return;
  }
  let c = i % params.channels;
  let scale = gamma[c] * inverseSqrt(variance[c] + params.epsilon);
  y[i] = activate(vec4((x[i] - mean[c]) * scale + beta[c])).x;
}
