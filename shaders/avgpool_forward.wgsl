// avgpool_forward: y = the mean of each pooling window over the input
// elements it covers (Keras AveragePooling2D: with 'same' padding the padded
// positions are not counted, as TF's avg_pool).
//   y: (N, OH, OW, C)  written (overwrites)
//   x: (N, H, W, C)
// Window geometry as maxpool_forward (the same maxPoolGeometry).

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
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

override WORKGROUP_SIZE: u32 = 64;

// The grid: x runs over (ow, c) of one output row, y over oh, z over n.
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
  let top = i32(oh * params.strideH) - i32(params.padTop);
  let left = i32(ow * params.strideW) - i32(params.padLeft);
  let h0 = u32(max(top, 0));
  let h1 = u32(min(top + i32(params.poolH), i32(params.inH)));
  let w0 = u32(max(left, 0));
  let w1 = u32(min(left + i32(params.poolW), i32(params.inW)));
  var sum = 0.0;
  for (var ih = h0; ih < h1; ih++) {
    for (var iw = w0; iw < w1; iw++) {
      sum += x[((n * params.inH + ih) * params.inW + iw) * params.channels + c];
    }
  }
  // Every window covers at least one input element (padding < pool).
  y[(n * params.outH + oh) * rowLength + gid.x] = sum / f32((h1 - h0) * (w1 - w0));
}
