// conv2d_col2im_vec4: conv2d_col2im for C a multiple of 4.
//   dx:   (N, H, W, C)             written (overwrites every element)
//   dcol: (N, OH, OW, KH, KW, C)   the gradient each output pixel sends back
//                                  through each tap: dcol = dy · wᵀ, a GEMM of
//                                  dy (N*OH*OW, K) with w (KH*KW*C, K)
// dx[n, ih, iw, c] = sum of dcol[n, oh, ow, kh, kw, c] over the taps and output
// pixels with oh * stride_h + kh = ih + pad_top and ow * stride_w + kw =
// iw + pad_left. A gather: one thread per 4 channels of a dx pixel, both
// tensors read and written as vec4s, no atomics. The CPU adapters issue each
// load or store at an address that differs between invocations one SIMD lane
// at a time, so this does a quarter of conv2d_col2im's: about half its time
// at conv2.

struct Params {
  in_h: u32,
  in_w: u32,
  in_c: u32,
  out_h: u32,
  out_w: u32,
  kernel_h: u32,
  kernel_w: u32,
  stride_h: u32,
  stride_w: u32,
  pad_top: u32,
  pad_left: u32,
}

@group(0) @binding(0) var<storage, read_write> dx: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> dcol: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> params: Params;

override WORKGROUP_SIZE: u32 = 64;

// The grid: x runs over (iw, channel quad) of one input row, y over ih, z
// over n.
// Along each axis the taps that reach input position i (padded: p = i + pad)
// are t = p % stride, then every stride-th one, reached from output
// positions p / stride, p / stride - 1, ...: two divisions per axis in all.
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let quads = params.in_c / 4u;
  let rowLength = params.in_w * quads;
  if (gid.x >= rowLength) {
    return;
  }
  let iw = gid.x / quads;
  let q = gid.x - iw * quads;
  let ih = gid.y;
  let n = gid.z;

  let ph = ih + params.pad_top;
  let pw = iw + params.pad_left;
  let oh_first = ph / params.stride_h;
  let ow_first = pw / params.stride_w;
  let kh_first = ph - oh_first * params.stride_h;
  let kw_first = pw - ow_first * params.stride_w;
  let taps = params.kernel_h * params.kernel_w * quads; // one dcol row, in quads
  let out_h = i32(params.out_h);
  let out_w = i32(params.out_w);

  var sum = vec4(0.0);
  var oh = i32(oh_first);
  for (var kh = kh_first; kh < params.kernel_h && oh >= 0; kh += params.stride_h) {
    if (oh < out_h) {
      let image_row = (n * params.out_h + u32(oh)) * params.out_w;
      var ow = i32(ow_first);
      for (var kw = kw_first; kw < params.kernel_w && ow >= 0; kw += params.stride_w) {
        if (ow < out_w) {
          let pixel = image_row + u32(ow);
          sum += dcol[pixel * taps + (kh * params.kernel_w + kw) * quads + q];
        }
        ow -= 1;
      }
    }
    oh -= 1;
  }
  dx[(n * params.in_h + ih) * rowLength + gid.x] = sum;
}
