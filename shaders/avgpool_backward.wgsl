// avgpool_backward: dx = the sum, over the windows that cover an input
// element, of dy / (the number of input elements in that window).
//   dx: (N, H, W, C)    written (overwrites every element; 0 where no window
//                       covers it)
//   dy: (N, OH, OW, C)  gradient w.r.t. the pooled output
// A gather: each thread owns one dx element and visits the windows that can
// contain it, in row-major (oh, ow) order; no atomics.

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
}

@group(0) @binding(0) var<storage, read_write> dx: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

override WORKGROUP_SIZE: u32 = 64;

// The outputs o in [0, outSize) whose window [o * stride - pad, .. + pool)
// contains input position i, as a half-open range (as maxpool_backward).
fn window_range(i: u32, pad: u32, pool: u32, stride: u32, outSize: u32) -> vec2u {
  let shifted = i + pad;
  let hi = min(shifted / stride + 1u, outSize);
  var lo = 0u;
  if (shifted + 1u > pool) {
    lo = (shifted + 1u - pool + stride - 1u) / stride;
  }
  return vec2u(lo, max(lo, hi));
}

// Input elements window o covers along one axis.
fn covered(o: u32, pad: u32, pool: u32, stride: u32, size: u32) -> u32 {
  let start = i32(o * stride) - i32(pad);
  return u32(min(start + i32(pool), i32(size)) - max(start, 0));
}

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
  let rows = window_range(ih, params.padTop, params.poolH, params.strideH, params.outH);
  let cols = window_range(iw, params.padLeft, params.poolW, params.strideW, params.outW);
  var sum = 0.0;
  for (var oh = rows.x; oh < rows.y; oh++) {
    let ch = covered(oh, params.padTop, params.poolH, params.strideH, params.inH);
    for (var ow = cols.x; ow < cols.y; ow++) {
      let cw = covered(ow, params.padLeft, params.poolW, params.strideW, params.inW);
      sum += dy[((n * params.outH + oh) * params.outW + ow) * params.channels + c] / f32(ch * cw);
    }
  }
  dx[(n * params.inH + ih) * rowLength + gid.x] = sum;
}
