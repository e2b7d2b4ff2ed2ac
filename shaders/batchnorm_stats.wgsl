// batchnorm_stats: per-chunk statistics of each channel, the first of the two
// passes that give batchnorm's batch mean and (biased) variance.
//   partial: (chunks, 2, C)  written (overwrites): partial[g][0][c] = the mean
//            of x[r][c] over the rows r of chunk g, partial[g][1][c] = the sum
//            of squared deviations from that mean (M2)
//   x:       (rows, C)       the layer's input: NHWC conv output (rows =
//            N * H * W) or dense output (rows = N)
// Chunk g holds rows [g * chunk_rows, min((g + 1) * chunk_rows, rows)).
// batchnorm_stats_reduce combines the chunks (Chan et al.'s pairwise update).
//
// Algorithm, as bias_backward: workgroup (x, g) owns WORKGROUP_COLS adjacent
// channels of chunk g; invocation (c, r) walks rows r, r + WORKGROUP_ROWS, ...
// so neighbouring invocations read neighbouring floats, and the WORKGROUP_ROWS
// partial sums are added pairwise in workgroup memory. Two passes over the
// chunk (its mean, then the squared deviations from it): the chunk is small
// enough to stay in cache, and M2 from deviations does not cancel the way
// sum(x^2) - n mean^2 does. Fixed order everywhere: deterministic.

struct Params {
  rows: u32,
  channels: u32,
  chunk_rows: u32,
}

@group(0) @binding(0) var<storage, read_write> partial: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

override WORKGROUP_COLS: u32 = 32;
// A power of two (the tree reduction halves it).
override WORKGROUP_ROWS: u32 = 4;

var<workgroup> lanes: array<f32, WORKGROUP_COLS * WORKGROUP_ROWS>;

// The sum over the workgroup's row lanes of `v`, for column lid.x, in every lane.
fn lane_sum(v: f32, lid: vec3u) -> f32 {
  let slot = lid.y * WORKGROUP_COLS + lid.x;
  lanes[slot] = v;
  workgroupBarrier();
  for (var half = WORKGROUP_ROWS / 2u; half > 0u; half /= 2u) {
    if (lid.y < half) {
      lanes[slot] += lanes[slot + half * WORKGROUP_COLS];
    }
    workgroupBarrier();
  }
  let total = lanes[lid.x];
  workgroupBarrier();
  return total;
}

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
  let ok = c < C;

  var s = 0.0;
  if (ok) {
    for (var r = start + lid.y; r < end; r += WORKGROUP_ROWS) {
      s += x[r * C + c];
    }
  }
  let mean = lane_sum(s, lid) / f32(end - start);
  var q = 0.0;
  if (ok) {
    for (var r = start + lid.y; r < end; r += WORKGROUP_ROWS) {
      let d = x[r * C + c] - mean;
      q += d * d;
    }
  }
  let m2 = lane_sum(q, lid);
  if (lid.y == 0u && ok) {
    partial[g * 2u * C + c] = mean;
    partial[g * 2u * C + C + c] = m2;
  }
}
