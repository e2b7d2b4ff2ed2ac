// batchnorm_backward: the gradient w.r.t. batchnorm's input, through the
// batch statistics (training mode: mean and variance depend on x):
//   dx = gamma / sqrt(variance + epsilon) * (g - dbeta / R - xhat * dgamma / R)
// with R = rows, xhat, u and g = dy * f'(u) as in batchnorm_backward_sums, and
// dbeta = sum g, dgamma = sum g * xhat from batchnorm_backward_reduce.
//   dx:    (rows, C)  written (overwrites)
//   dy, x: (rows, C)
//   mean, variance, gamma, beta: (C)
//   sums:  (2, C)  [dbeta | dgamma]
// Layout as batchnorm_forward (chunks of rows x channel groups, no division).

struct Params {
  rows: u32,
  channels: u32,
  chunk_rows: u32,
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

override WORKGROUP_COLS: u32 = 32;
override WORKGROUP_ROWS: u32 = 4;

@compute @workgroup_size(WORKGROUP_COLS, WORKGROUP_ROWS)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
) {
  let C = params.channels;
  let c = wid.x * WORKGROUP_COLS + lid.x;
  if (c >= C) {
    return;
  }
  let start = wid.y * params.chunk_rows;
  let end = min(start + params.chunk_rows, params.rows);
  let mu = mean[c];
  let inv = inverseSqrt(variance[c] + params.epsilon);
  let ga = gamma[c];
  let be = beta[c];
  let per_row = 1.0 / f32(params.rows);
  let mean_g = sums[c] * per_row;
  let mean_gx = sums[C + c] * per_row;
  let k = ga * inv;
  for (var r = start + lid.y; r < end; r += WORKGROUP_ROWS) {
    let i = r * C + c;
    let xhat = (x[i] - mu) * inv;
    let grad = dy[i] * activate_grad(vec4(ga * xhat + be)).x;
    dx[i] = k * (grad - mean_g - xhat * mean_gx);
  }
}
