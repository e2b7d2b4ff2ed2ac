// conv2d_backward_filter_reduce: adds up conv2d_backward_filter's partials.
//   dw:      (KH, KW, C, K)  written (overwrites)
//   db:      (K)             written (overwrites)
//   partial: the workspace conv2d_backward_filter wrote:
//     dw partials (dw_parts, KH*KW*C*K) at 0, db partials (db_parts, K) at
//     db_offset
// One thread per output value sums its partials in a fixed order, so the
// result does not depend on scheduling (no atomics).

struct Params {
  weights: u32, // KH * KW * C * K
  out_c: u32, // K
  dw_parts: u32,
  db_parts: u32,
  db_offset: u32,
}

@group(0) @binding(0) var<storage, read_write> dw: array<f32>;
@group(0) @binding(1) var<storage, read_write> db: array<f32>;
@group(0) @binding(2) var<storage, read> partial: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

override WORKGROUP_SIZE: u32 = 64u;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
) {
  // A 2-D grid covers more than 65535 workgroups.
  let i = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
  if (i < params.weights) {
    var sum = 0.0;
    for (var s = 0u; s < params.dw_parts; s++) {
      sum += partial[s * params.weights + i];
    }
    dw[i] = sum;
  } else if (i < params.weights + params.out_c) {
    let k = i - params.weights;
    var sum = 0.0;
    for (var s = 0u; s < params.db_parts; s++) {
      sum += partial[params.db_offset + s * params.out_c + k];
    }
    db[k] = sum;
  }
}
