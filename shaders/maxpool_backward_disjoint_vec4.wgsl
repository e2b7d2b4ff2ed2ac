// maxpool_backward_disjoint_vec4: maxpool_backward_disjoint for C a multiple
// of 4, four channels per thread.
//   dx:     (N, H, W, C)    written (overwrites every element; 0 where the
//                           element is not its window's argmax, including rows
//                           and columns that lie in no window)
//   dy:     (N, OH, OW, C)  gradient w.r.t. the pooled output
//   argmax: (N, OH, OW, C)  u32 from maxpool_forward(_vec4): flat NHWC index
//                           into x
//   y:      (N, OH, OW, C)  the pooled output (read only when params.relu = 1)
// The same bands and rules as maxpool_backward_disjoint (windows that do not
// overlap; each thread writes the band of dx its window owns). Channels move
// as vec4s: a quarter of the memory operations, which the CPU adapters issue
// one SIMD lane at a time.

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

@group(0) @binding(0) var<storage, read_write> dx: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> dy: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> argmax: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> y: array<vec4<f32>>;
@group(0) @binding(4) var<uniform> params: Params;

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

  let winner = argmax[o];
  var g = dy[o];
  if (params.relu != 0u) {
    g = select(vec4(0.0), g, y[o] > vec4(0.0));
  }
  let rows = pool_band(oh, params.outH, params.strideH, params.padTop, params.inH);
  let cols = pool_band(ow, params.outW, params.strideW, params.padLeft, params.inW);
  for (var ih = rows.x; ih < rows.y; ih++) {
    let rowStart = (n * params.inH + ih) * params.inW;
    for (var iw = cols.x; iw < cols.y; iw++) {
      let quad = (rowStart + iw) * quads + q;
      let index = vec4(quad * 4u) + vec4(0u, 1u, 2u, 3u);
      dx[quad] = select(vec4(0.0), g, index == winner);
    }
  }
}
