// relu_backward: dx = dy where the forward output y > 0, else 0.
//   dx: (n)  written (overwrites)
//   dy: (n)  gradient w.r.t. the ReLU output
//   y:  (n)  the forward output (ReLU(x) > 0 exactly where x > 0)
// Only needed where ReLU is not fused into a backward kernel's prologue.

struct Params {
  n: u32,
}

@group(0) @binding(0) var<storage, read_write> dx: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

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
  dx[i] = select(0.0, dy[i], y[i] > 0.0);
}
