// maxpool_forward_vec4: maxpool_forward for C a multiple of 4, four channels
// per thread.
//   y:      (N, OH, OW, C)  written (overwrites)
//   argmax: (N, OH, OW, C)  written (overwrites), u32: flat NHWC index into x
//                           of the window's max (the first in row-major window
//                           order on ties), as maxpool_forward writes it
//   x:      (N, H, W, C)    input
// The same windows, ties and padding rules as maxpool_forward. Why a second
// kernel: the CPU adapters issue a load or store whose address differs
// between invocations one SIMD lane at a time, whatever its width, so moving
// channels as vec4s does a quarter of the memory operations.

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

@group(0) @binding(0) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> argmax: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> params: Params;

override WORKGROUP_SIZE: u32 = 64;

// The grid: x runs over (ow, channel quad) of one output row, y over oh, z
// over n.
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let quads = params.channels / 4u;
  let rowLength = params.outW * quads;
  if (gid.x >= rowLength) {
    return;
  }
  let ow = gid.x / quads;
  let q = gid.x - ow * quads;
  let oh = gid.y;
  let n = gid.z;
  let o = (n * params.outH + oh) * rowLength + gid.x;

  let top = i32(oh * params.strideH) - i32(params.padTop);
  let left = i32(ow * params.strideW) - i32(params.padLeft);
  var best = vec4(0.0);
  var bestIndex = vec4(0u);
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
      let quad = ((n * params.inH + u32(ih)) * params.inW + u32(iw)) * quads + q;
      let v = x[quad];
      let index = vec4(quad * 4u) + vec4(0u, 1u, 2u, 3u);
      // Strictly greater: the first maximum in window order keeps the argmax.
      let better = (v > best) | vec4(!found);
      best = select(best, v, better);
      bestIndex = select(bestIndex, index, better);
      found = true;
    }
  }
  // Every window holds at least one input element (see maxpool_forward).
  y[o] = best;
  argmax[o] = bestIndex;
}
