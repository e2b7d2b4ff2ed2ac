// maxpool_backward: routes dy to the inputs that won their window.
//   dx:     (N, H, W, C)    written (overwrites every element; 0 where the
//                           element is no window's argmax, including rows and
//                           columns that lie in no window)
//   dy:     (N, OH, OW, C)  gradient w.r.t. the pooled output
//   argmax: (N, OH, OW, C)  u32 from maxpool_forward: flat NHWC index into x
//   y:      (N, OH, OW, C)  the pooled output (read only when params.relu = 1)
// A gather, not a scatter: each thread owns one dx element, visits the few
// windows that can contain it and sums dy over those whose stored argmax is
// its own index. No atomics, and the max is not recomputed. With overlapping
// windows (stride < pool) one element can win several windows; the sum runs
// over windows in row-major (oh, ow) order. The wrapper uses this kernel only
// for overlapping windows; maxpool_backward_disjoint is cheaper otherwise.
// params.relu = 1 fuses the backward of a ReLU that precedes the pool: x is
// then the ReLU output, and a window passes gradient only where y > 0 (where
// the max is 0 the ReLU's own gradient is 0, whichever element won the tie).

struct Params {
  inH: u32,
  inW: u32,
  channels: u32,
  outH: u32,
  outW: u32,
  poolH: u32,
  poolW: u32,
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

// The output positions o in [0, outSize) whose window [o * stride - pad,
// o * stride - pad + pool) contains input position i, as a half-open range.
fn window_range(i: u32, pad: u32, pool: u32, stride: u32, outSize: u32) -> vec2u {
  let shifted = i + pad; // the input position in padded coordinates
  // o * stride <= shifted  and  o * stride + pool - 1 >= shifted
  let hi = min(shifted / stride + 1u, outSize);
  var lo = 0u;
  if (shifted + 1u > pool) {
    lo = (shifted + 1u - pool + stride - 1u) / stride;
  }
  return vec2u(lo, max(lo, hi));
}

// The grid: x runs over (iw, c) of one input row, y over ih, z over n.
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let rowLength = params.inW * params.channels;
  if (gid.x >= rowLength) {
    return;
  }
  let iw = gid.x / params.channels;
  let c = gid.x - iw * params.channels;
  let ih = gid.y;
  let n = gid.z;
  let i = (n * params.inH + ih) * rowLength + gid.x;

  let rows = window_range(ih, params.padTop, params.poolH, params.strideH, params.outH);
  let cols = window_range(iw, params.padLeft, params.poolW, params.strideW, params.outW);
  var sum = 0.0;
  for (var oh = rows.x; oh < rows.y; oh++) {
    for (var ow = cols.x; ow < cols.y; ow++) {
      let o = ((n * params.outH + oh) * params.outW + ow) * params.channels + c;
      if (argmax[o] == i && (params.relu == 0u || y[o] > 0.0)) {
        sum += dy[o];
      }
    }
  }
  dx[i] = sum;
}
