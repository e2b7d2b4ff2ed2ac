// maxpool_forward: y = the max of each pooling window, and where it came from.
//   y:      (N, OH, OW, C)  written (overwrites)
//   argmax: (N, OH, OW, C)  written (overwrites), u32: flat NHWC index into x
//                           of the window's max (the first in row-major window
//                           order on ties), read by maxpool_backward
//   x:      (N, H, W, C)    input
// Window (oh, ow) covers rows oh * strideH - padTop + [0, poolH) and columns
// ow * strideW - padLeft + [0, poolW); rows and columns outside the input are
// padding and never win ('same' padding in Keras pads with -inf, not zeros).

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

@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<storage, read_write> argmax: array<u32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

override WORKGROUP_SIZE: u32 = 64;

// One thread per output element, channels fastest: neighbouring threads read
// neighbouring channels of the same input pixel, so loads coalesce in NHWC.
// The grid: x runs over (ow, c) of one output row, y over oh, z over n, so a
// thread finds its window with one integer division (the CPU adapters run
// integer division one SIMD lane at a time).
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

  let top = i32(oh * params.strideH) - i32(params.padTop);
  let left = i32(ow * params.strideW) - i32(params.padLeft);
  var best = 0.0;
  var bestIndex = 0u;
  var found = false;
  for (var kh = 0u; kh < params.poolH; kh++) {
    let ih = top + i32(kh);
    if (ih < 0 || ih >= i32(params.inH)) {
      continue;
    }
    for (var kw = 0u; kw < params.poolW; kw++) {
      let iw = left + i32(kw);
      if (iw < 0 || iw >= i32(params.inW)) {
        continue;
      }
      let index = ((n * params.inH + u32(ih)) * params.inW + u32(iw)) * params.channels + c;
      let v = x[index];
      // Strictly greater: the first maximum in window order keeps the argmax.
      if (!found || v > best) {
        best = v;
        bestIndex = index;
        found = true;
      }
    }
  }
  // Every window holds at least one input element (the geometry guarantees
  // padding < pool size on each side), so `found` is always true here.
  y[o] = best;
  argmax[o] = bestIndex;
}
