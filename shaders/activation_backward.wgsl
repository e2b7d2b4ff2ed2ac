// activation_backward: dx = dy * f'(u) elementwise, f chosen by ACTIVATION
// (shaders/common/activation.wgsl, included before this file).
//   dx:    (n)  written (overwrites)
//   dy:    (n)  gradient w.r.t. the activation's output
//   saved: (n)  what the forward pass kept: its output y = f(u) when
//               FROM_OUTPUT (every activation but gelu), else u itself
// Only needed where the activation's gradient is not fused into another
// backward kernel (ReLU before a max pool is fused into maxpool_backward).

struct Params {
  n: u32,
}

@group(0) @binding(0) var<storage, read_write> dx: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> saved: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

override WORKGROUP_SIZE: u32 = 256;
override FROM_OUTPUT: bool = true;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
) {
  let i = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
  if (i >= params.n) {
    return;
  }
  let s = vec4(saved[i]);
  var g: vec4<f32>;
  if (FROM_OUTPUT) {
    g = activate_grad_from_output(s);
  } else {
    g = activate_grad(s);
  }
  // ReLU: a select, so a zero slope passes exactly 0 (not 0 * inf = NaN).
  dx[i] = select(dy[i] * g.x, 0.0, g.x == 0.0);
}
