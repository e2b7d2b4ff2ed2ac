// activation_forward: y = f(u) elementwise, f chosen by ACTIVATION
// (shaders/common/activation.wgsl, included before this file).
//   y: (n)  written (overwrites)
//   u: (n)  the pre-activation
// Only where the activation cannot be fused into the layer's epilogue: a
// training step with gelu keeps u for the backward pass (gelu' is not a
// function of gelu's output), so the layer writes u and this kernel y.

struct Params {
  n: u32,
}

@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

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
  y[i] = activate(vec4(u[i])).x;
}
