// bias_backward: column sums over chunks of rows.
//   out: (chunks, cols)  written (overwrites): out[g][c] = sum of inp[r][c]
//                        over rows r in [g * chunk_rows, (g + 1) * chunk_rows)
//   inp: (rows, cols)
// The bias gradient db(cols) = sum over rows of dy(rows, cols) is one or two
// dispatches of this kernel: with few rows, one chunk (out = db); with many,
// first partial sums per chunk into a scratch buffer, then one chunk over the
// partials (out = db). Dense layers have rows = batch, cols = units; conv
// layers have dy in NHWC, so rows = N * OH * OW, cols = Cout.

struct Params {
  rows: u32,
  cols: u32,
  chunk_rows: u32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> inp: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

// Algorithm. Workgroup (x, g) sums columns x * WORKGROUP_COLS .. + WORKGROUP_COLS
// over chunk g. Invocation (c, r) reads column c of rows r, r + WORKGROUP_ROWS,
// ... of the chunk, so neighbouring invocations read neighbouring floats, and
// then the WORKGROUP_ROWS partial sums of each column are added pairwise in
// workgroup memory. The order of additions is fixed: the result is
// deterministic (no atomics), and no value passes through more than
// chunk_rows / WORKGROUP_ROWS + 2 + log2(WORKGROUP_ROWS) additions.
// The wrapper makes the workgroup as wide as the columns (up to 64) and 128
// invocations in all.

override WORKGROUP_COLS: u32 = 32;
// A power of two (the tree reduction halves it).
override WORKGROUP_ROWS: u32 = 4;

var<workgroup> partial: array<f32, WORKGROUP_COLS * WORKGROUP_ROWS>;

@compute @workgroup_size(WORKGROUP_COLS, WORKGROUP_ROWS)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
) {
  let cols = params.cols;
  let col = wid.x * WORKGROUP_COLS + lid.x;
  let chunk = wid.y;
  let start = chunk * params.chunk_rows;
  let end = min(start + params.chunk_rows, params.rows);

  var sum = 0.0;
  if (col < cols) {
    // Four independent running sums: one chain of dependent adds would make
    // every iteration wait for the previous add on the CPU adapters.
    var s0 = 0.0;
    var s1 = 0.0;
    var s2 = 0.0;
    var s3 = 0.0;
    let stride = WORKGROUP_ROWS * cols;
    var i = (start + lid.y) * cols + col;
    var r = start + lid.y;
    for (; r + 3u * WORKGROUP_ROWS < end; r += 4u * WORKGROUP_ROWS) {
      s0 += inp[i];
      s1 += inp[i + stride];
      s2 += inp[i + 2u * stride];
      s3 += inp[i + 3u * stride];
      i += 4u * stride;
    }
    for (; r < end; r += WORKGROUP_ROWS) {
      s0 += inp[i];
      i += stride;
    }
    sum = (s0 + s1) + (s2 + s3);
  }
  let slot = lid.y * WORKGROUP_COLS + lid.x;
  partial[slot] = sum;
  workgroupBarrier();
  for (var half = WORKGROUP_ROWS / 2u; half > 0u; half /= 2u) {
    if (lid.y < half) {
      partial[slot] += partial[slot + half * WORKGROUP_COLS];
    }
    workgroupBarrier();
  }
  if (lid.y == 0u && col < cols) {
    out[chunk * cols + col] = partial[lid.x];
  }
}
