// batchnorm_backward_sums: per-chunk sums for batchnorm's backward pass
// through the batch statistics.
//   partial: (chunks, 2, C)  written (overwrites): over the rows of chunk g,
//            partial[g][0][c] = sum of g_rc, partial[g][1][c] = sum of g_rc * xhat_rc
//   dy:      (rows, C)  gradient w.r.t. the layer's output y = f(u)
//   x:       (rows, C)  the layer's input
//   mean, variance: (C) the batch statistics of the forward pass
//   gamma, beta:    (C)
// where xhat = (x - mean) / sqrt(variance + epsilon), u = gamma xhat + beta
// (recomputed, so any activation f, gelu too, needs nothing kept) and
// g = dy * f'(u) (ACTIVATION of shaders/common/activation.wgsl; linear when
// the gradient arrives pre-activation, ReLU fused into a max pool).
// batchnorm_backward_reduce adds the chunks into dbeta and dgamma.
// Workgroup layout and reduction as batchnorm_stats.

struct Params {
  rows: u32,
  channels: u32,
  chunk_rows: u32,
  epsilon: f32,
}

@group(0) @binding(0) var<storage, read_write> partial: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> variance: array<f32>;
@group(0) @binding(5) var<storage, read> gamma: array<f32>;
@group(0) @binding(6) var<storage, read> beta: array<f32>;
@group(0) @binding(7) var<uniform> params: Params;

override WORKGROUP_COLS: u32 = 32;
override WORKGROUP_ROWS: u32 = 4;

var<workgroup> lanes: array<vec2<f32>, WORKGROUP_COLS * WORKGROUP_ROWS>;

@compute @workgroup_size(WORKGROUP_COLS, WORKGROUP_ROWS)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
) {
  let C = params.channels;
  let c = wid.x * WORKGROUP_COLS + lid.x;
  let g = wid.y;
  let start = g * params.chunk_rows;
  let end = min(start + params.chunk_rows, params.rows);

  var s = vec2(0.0);
  if (c < C) {
    let mu = mean[c];
    let inv = inverseSqrt(variance[c] + params.epsilon);
    let ga = gamma[c];
    let be = beta[c];
    for (var r = start + lid.y; r < end; r += WORKGROUP_ROWS) {
      let xhat = (x[r * C + c] - mu) * inv;
      let grad = dy[r * C + c] * activate_grad(vec4(ga * xhat + be)).x;
      s += vec2(grad, grad * xhat);
    }
  }
  let slot = lid.y * WORKGROUP_COLS + lid.x;
  lanes[slot] = s;
  workgroupBarrier();
  for (var half = WORKGROUP_ROWS / 2u; half > 0u; half /= 2u) {
    if (lid.y < half) {
      lanes[slot] += lanes[slot + half * WORKGROUP_COLS];
    }
    workgroupBarrier();
  }
  if (lid.y == 0u && c < C) {
    partial[g * 2u * C + c] = lanes[lid.x].x;
    partial[g * 2u * C + C + c] = lanes[lid.x].y;
  }
}
