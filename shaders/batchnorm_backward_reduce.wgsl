// batchnorm_backward_reduce: dbeta and dgamma from batchnorm_backward_sums's
// chunks, added in chunk order (deterministic).
//   dgamma: (C)  written (overwrites): sum over rows of g * xhat
//   dbeta:  (C)  written (overwrites): sum over rows of g
//   sums:   (2, C) written (overwrites): [dbeta | dgamma] again, in a private
//           buffer for batchnorm_backward (whose bindings would otherwise
//           exceed the 8 storage buffers a stage may have by default)
//   partial: (chunks, 2, C)

struct Params {
  channels: u32,
  chunks: u32,
}

@group(0) @binding(0) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(1) var<storage, read_write> dbeta: array<f32>;
@group(0) @binding(2) var<storage, read_write> sums: array<f32>;
@group(0) @binding(3) var<storage, read> partial: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

override WORKGROUP_SIZE: u32 = 64;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let C = params.channels;
  let c = gid.x;
  if (c >= C) {
    return;
  }
  var sg = 0.0;
  var sgx = 0.0;
  for (var g = 0u; g < params.chunks; g++) {
    sg += partial[g * 2u * C + c];
    sgx += partial[g * 2u * C + C + c];
  }
  dbeta[c] = sg;
  dgamma[c] = sgx;
  sums[c] = sg;
  sums[C + c] = sgx;
}
