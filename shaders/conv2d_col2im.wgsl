// conv2d_col2im: the second half of conv2d's backward input on the GEMM path.
//   dx:   (N, H, W, C)             written (overwrites every element)
//   dcol: (N, OH, OW, KH, KW, C)   the gradient each output pixel sends back
//                                  through each tap: dcol = dy · wᵀ, a GEMM of
//                                  dy (N*OH*OW, K) with w (KH*KW*C, K)
// dx[n, ih, iw, c] = sum of dcol[n, oh, ow, kh, kw, c] over the taps and output
// pixels with oh * stride_h + kh = ih + pad_top and ow * stride_w + kw =
// iw + pad_left. A gather: one thread per dx element, no atomics.
// Why a GEMM and then this, instead of conv2d_backward_input's implicit GEMM:
// with 'valid' padding the transposed convolution's taps are ~44% zeros for
// conv2 (3x3 on 10x10), and its GEMM is only C columns wide (32 for conv2),
// which halves the work per loaded value in the tiled core. dy · wᵀ has no
// zero taps and KH*KW*C columns (288); this pass only adds up to KH*KW values
// per element.

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

@group(0) @binding(0) var<storage, read_write> dx: array<f32>;
@group(0) @binding(1) var<storage, read> dcol: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

override WORKGROUP_SIZE: u32 = 64;

// The grid: x runs over (iw, c) of one input row, y over ih, z over n.
// Along each axis the taps that reach input position i (padded: p = i + pad)
// are t = p % stride, then every stride-th one, reached from output
// positions p / stride, p / stride - 1, ...: two divisions per axis in all.
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let rowLength = params.in_w * params.in_c;
  if (gid.x >= rowLength) {
    return;
  }
  let iw = gid.x / params.in_c;
  let c = gid.x - iw * params.in_c;
  let ih = gid.y;
  let n = gid.z;

  let ph = ih + params.pad_top;
  let pw = iw + params.pad_left;
  let oh_first = ph / params.stride_h;
  let ow_first = pw / params.stride_w;
  let kh_first = ph - oh_first * params.stride_h;
  let kw_first = pw - ow_first * params.stride_w;
  let taps = params.kernel_h * params.kernel_w * params.in_c; // one dcol row
  let out_h = i32(params.out_h);
  let out_w = i32(params.out_w);

  var sum = 0.0;
  var oh = i32(oh_first);
  for (var kh = kh_first; kh < params.kernel_h && oh >= 0; kh += params.stride_h) {
    if (oh < out_h) {
      let image_row = (n * params.out_h + u32(oh)) * params.out_w;
      var ow = i32(ow_first);
      for (var kw = kw_first; kw < params.kernel_w && ow >= 0; kw += params.stride_w) {
        if (ow < out_w) {
          let pixel = image_row + u32(ow);
          sum += dcol[pixel * taps + (kh * params.kernel_w + kw) * params.in_c + c];
        }
        ow -= 1;
      }
    }
    oh -= 1;
  }
  dx[(n * params.in_h + ih) * rowLength + gid.x] = sum;
}
