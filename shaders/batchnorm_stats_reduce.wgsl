// batchnorm_stats_reduce: the batch mean and biased variance of each channel
// from batchnorm_stats's chunks, and (training) the moving averages.
//   mean:            (C)  written (overwrites)
//   variance:        (C)  written (overwrites): biased, M2 / rows, as Keras
//   moving_mean:     (C)  updated in place when UPDATE_MOVING:
//   moving_variance: (C)    moving = momentum * moving + (1 - momentum) * batch
//   partial:         (chunks, 2, C) from batchnorm_stats
// One invocation per channel folds the chunks in order with Chan et al.'s
// update (n, mean, M2) + (n_g, mean_g, M2_g), which is exact in exact
// arithmetic and does not cancel.

struct Params {
  rows: u32,
  channels: u32,
  chunk_rows: u32,
  chunks: u32,
  momentum: f32,
}

@group(0) @binding(0) var<storage, read_write> mean: array<f32>;
@group(0) @binding(1) var<storage, read_write> variance: array<f32>;
@group(0) @binding(2) var<storage, read_write> moving_mean: array<f32>;
@group(0) @binding(3) var<storage, read_write> moving_variance: array<f32>;
@group(0) @binding(4) var<storage, read> partial: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

override WORKGROUP_SIZE: u32 = 64;
override UPDATE_MOVING: bool = true;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let C = params.channels;
  let c = gid.x;
  if (c >= C) {
    return;
  }
  var n = 0.0;
  var m = 0.0;
  var m2 = 0.0;
  for (var g = 0u; g < params.chunks; g++) {
    let start = g * params.chunk_rows;
    let ng = f32(min(start + params.chunk_rows, params.rows) - start);
    let mg = partial[g * 2u * C + c];
    let delta = mg - m;
    let total = n + ng;
    m += delta * (ng / total);
    m2 += partial[g * 2u * C + C + c] + delta * delta * (n * ng / total);
    n = total;
  }
  let v = m2 / f32(params.rows);
  mean[c] = m;
  variance[c] = v;
  if (UPDATE_MOVING) {
    let keep = params.momentum;
    moving_mean[c] = keep * moving_mean[c] + (1.0 - keep) * m;
    moving_variance[c] = keep * moving_variance[c] + (1.0 - keep) * v;
  }
}
