// batchnorm_forward: y = f(gamma * (x - mean) / sqrt(variance + epsilon) + beta)
// per channel, f the ACTIVATION of shaders/common/activation.wgsl (included
// before this file): a standalone activation after batchnorm is fused here.
//   y:        (rows, C)  written (overwrites)
//   x:        (rows, C)
//   mean:     (C)  the batch mean in training (batchnorm_stats_reduce), the
//   variance: (C)    moving averages in evaluation and prediction
//   gamma, beta: (C)
// Layout as batchnorm_stats: workgroup (x, g) owns WORKGROUP_COLS adjacent
// channels of the rows of chunk g, invocation (c, r) rows r, r + WORKGROUP_ROWS,
// ... of channel c. A thread's channel is fixed, so its scale and shift are
// computed once, and no thread divides by C (an integer division per element
// runs lane by lane on the CPU adapters: 5x slower at conv1 of the paper CNN).

struct Params {
  rows: u32,
  channels: u32,
  chunk_rows: u32,
  epsilon: f32,
}

@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> variance: array<f32>;
@group(0) @binding(4) var<storage, read> gamma: array<f32>;
@group(0) @binding(5) var<storage, read> beta: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;

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
  let scale = gamma[c] * inverseSqrt(variance[c] + params.epsilon);
  let shift = beta[c] - mean[c] * scale;
  for (var r = start + lid.y; r < end; r += WORKGROUP_ROWS) {
    let i = r * C + c;
    y[i] = activate(vec4(x[i] * scale + shift)).x;
  }
}
