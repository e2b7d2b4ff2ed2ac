// dropout_backward: dx = dy * mask.
//   dx:   (n)  written (overwrites)
//   dy:   (n)  gradient w.r.t. the dropout output
//   mask: (n)  the mask dropout_forward wrote (0 or 1 / (1 - rate))

struct Params {
  n: u32,
}

@group(0) @binding(0) var<storage, read_write> dx: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> mask: array<f32>;
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
  dx[i] = dy[i] * mask[i];
}
