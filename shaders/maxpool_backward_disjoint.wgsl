// maxpool_backward_disjoint: maxpool_backward for windows that do not overlap
// (stride >= pool in both directions, the usual 2x2 stride-2 pool).
//   dx:     (N, H, W, C)    written (overwrites every element; 0 where the
//                           element is not its window's argmax, including rows
//                           and columns that lie in no window)
//   dy:     (N, OH, OW, C)  gradient w.r.t. the pooled output
//   argmax: (N, OH, OW, C)  u32 from maxpool_forward: flat NHWC index into x
//   y:      (N, OH, OW, C)  the pooled output (read only when params.relu = 1)
// One thread per pooled element (n, oh, ow, c). Rows are cut into bands, one
// per output row: band oh is [oh * strideH - padTop, (oh + 1) * strideH -
// padTop), the first one starting at 0 and the last one ending at H; columns
// likewise. The bands tile the input exactly and window (oh, ow) lies inside
// its band, so the thread writes every dx element of its band: dy where the
// element is the stored argmax, 0 elsewhere. Each dx element has exactly one
// writer: no atomics, no races, and the max is not recomputed.
// Why not maxpool_backward's gather: there each dx element works out which
// windows can hold it with four integer divisions and walks them; the CPU
// adapters run integer division one SIMD lane at a time, and that made the
// gather a fifth of a lavapipe training step. Here a thread does one division
// for four or more dx elements, and reads its window's argmax, dy and y once.
// params.relu = 1 fuses the backward of a ReLU that precedes the pool, as in
// maxpool_backward: a window passes gradient only where y > 0.

struct Params {
  inH: u32,
  inW: u32,
  channels: u32,
  outH: u32,
  outW: u32,
  strideH: u32,
  strideW: u32,
  padTop: u32,
  padLeft: u32,
  relu: u32,
}

@group(0) @binding(0) var<storage, read_write> dx: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> argmax: array<u32>;
@group(0) @binding(3) var<storage, read> y: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

override WORKGROUP_SIZE: u32 = 64;

// The grid: x runs over (ow, c) of one output row, y over oh, z over n, so a
// thread finds its window with a single division.
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let rowLength = params.outW * params.channels;
  if (gid.x >= rowLength) {
    return;
  }
  let ow = gid.x / params.channels;
  let c = gid.x - ow * params.channels;
  let oh = gid.y;
  let n = gid.z;
  let o = (n * params.outH + oh) * rowLength + gid.x;

  let winner = argmax[o];
  var g = dy[o];
  if (params.relu != 0u && !(y[o] > 0.0)) {
    g = 0.0;
  }
  let rows = pool_band(oh, params.outH, params.strideH, params.padTop, params.inH);
  let cols = pool_band(ow, params.outW, params.strideW, params.padLeft, params.inW);
  for (var ih = rows.x; ih < rows.y; ih++) {
    let rowStart = (n * params.inH + ih) * params.inW;
    for (var iw = cols.x; iw < cols.y; iw++) {
      let i = (rowStart + iw) * params.channels + c;
      dx[i] = select(0.0, g, i == winner);
    }
  }
}
