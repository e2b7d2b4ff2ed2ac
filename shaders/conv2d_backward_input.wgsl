// conv2d_backward_input: dx = the transposed convolution of dy with w.
//   dx: (N, H, W, C)     written (overwrites)
//   dy: (N, OH, OW, K)   gradient w.r.t. the pre-activation conv output
//   w:  (KH, KW, C, K)   HWIO
// GEMM view: rows m = (n, ih, iw) (M = N*H*W), columns c (C), reduction
// r = (kh, kw, k) (R = KH*KW*K):
//   A[m][r] = dy[n, oh, ow, k] where oh * stride = ih + pad_top - kh and
//             ow * stride = iw + pad_left - kw, and 0 when either division
//             is inexact or lands outside the output (for stride > 1 only the
//             output pixels that actually read (ih, iw) contribute);
//   B[r][c] = w[kh, kw, c, k] (w read transposed).
// Tiles of A and B are gathered into workgroup memory and multiplied by the
// GEMM core in shaders/common/conv2d_gemm.wgsl (included before this file).

struct Params {
  rows: u32, // M = N * H * W
  depth: u32, // R = KH * KW * K
  in_h: u32,
  in_w: u32,
  in_c: u32,
  out_c: u32,
  out_h: u32,
  out_w: u32,
  kernel_w: u32,
  stride_h: u32,
  stride_w: u32,
  pad_top: u32,
  pad_left: u32,
}

@group(0) @binding(0) var<storage, read_write> dx: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

// A-tile loading: thread t gathers reduction index t % BK for A_QUADS
// consecutive row quads, stepping (n, ih, iw) with carries as
// conv2d_forward does.
override A_GROUPS: u32 = WG_SIZE / BK;
override A_QUADS: u32 = (BM / 4u + A_GROUPS - 1u) / A_GROUPS;
// B-tile loading: column quad e = t + j * WG_SIZE of the BK x BN tile.
override B_QUADS: u32 = BK * BN / 4u;

// Writes one 4 x 4 block (loop bounds from the shape: see conv2d_forward).
fn store_block(c: mat4x4<f32>, row0: u32, col0: u32) {
  let rows = select(0u, min(4u, params.rows - row0), row0 < params.rows);
  let cols = select(0u, min(4u, params.in_c - col0), col0 < params.in_c);
  for (var i = 0u; i < rows; i++) {
    let v = c[i];
    for (var j = 0u; j < cols; j++) {
      dx[(row0 + i) * params.in_c + col0 + j] = v[j];
    }
  }
}

@compute @workgroup_size(WG_SIZE)
fn main(
  @builtin(local_invocation_index) tid: u32,
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
) {
  // M tiles run over x (and y beyond 65535 workgroups), C tiles over z.
  let m0 = (wid.x + wid.y * groups.x) * BM;
  if (m0 >= params.rows) {
    return;
  }
  let n0 = wid.z * BN;

  let in_h = i32(params.in_h);
  let in_w = i32(params.in_w);
  let in_c = params.in_c;
  let out_c = i32(params.out_c);
  let out_h = i32(params.out_h);
  let out_w = i32(params.out_w);
  let stride_h = i32(params.stride_h);
  let stride_w = i32(params.stride_w);
  let inv_h = 1.0 / f32(stride_h);
  let inv_w = 1.0 / f32(stride_w);
  let image_size = out_h * out_w * out_c;

  // This thread's A rows: where the first one sits in (n, ih, iw).
  let a_k = tid % BK;
  let a_q0 = (tid / BK) * A_QUADS;
  let a_q_end = min(a_q0 + A_QUADS, BM / 4u);
  let a_m0 = m0 + 4u * a_q0;
  let first_iw = i32(a_m0 % params.in_w);
  let first_ih = i32((a_m0 / params.in_w) % params.in_h);
  let first_n = i32(a_m0 / (params.in_w * params.in_h));

  var acc: Block;
  for (var k0 = 0u; k0 < params.depth; k0 += BK) {
    // This thread's reduction index r = (kh, kw, k), for 4 consecutive input
    // pixels at a time.
    let r = k0 + a_k;
    let r_ok = r < params.depth;
    let k = i32(r % params.out_c);
    let kw = i32((r / params.out_c) % params.kernel_w);
    let kh = i32(r / (params.out_c * params.kernel_w));
    var n = first_n;
    var ih = first_ih;
    var iw = first_iw;
    for (var q = a_q0; q < a_q_end; q++) {
      // th = oh * stride_h where output pixel (oh, ow) reads (ih, iw) through
      // tap (kh, kw); it must be a non-negative multiple of the stride.
      var th: vec4<i32>;
      var tw: vec4<i32>;
      var image: vec4<i32>;
      var row_ok: vec4<bool>;
      for (var i = 0u; i < 4u; i++) {
        th[i] = ih + i32(params.pad_top) - kh;
        tw[i] = iw + i32(params.pad_left) - kw;
        image[i] = n * image_size;
        row_ok[i] = m0 + 4u * q + i < params.rows;
        // Next input pixel: carry iw into ih into n.
        iw += 1;
        let wrap_w = iw == in_w;
        iw = select(iw, 0, wrap_w);
        ih = select(ih, ih + 1, wrap_w);
        let wrap_h = ih == in_h;
        ih = select(ih, 0, wrap_h);
        n = select(n, n + 1, wrap_h);
      }
      let oh = div_floor4(th, stride_h, inv_h);
      let ow = div_floor4(tw, stride_w, inv_w);
      let hit_h = (th >= vec4(0)) & (oh * stride_h == th) & (oh < vec4(out_h));
      let hit_w = (tw >= vec4(0)) & (ow * stride_w == tw) & (ow < vec4(out_w));
      let ok = vec4(r_ok) & row_ok & hit_h & hit_w;
      let j = vec4<u32>(select(vec4(0), image + (oh * out_w + ow) * out_c + k, ok));
      tileA[a_k * (BM / 4u) + q] = select(vec4(0.0), vec4(dy[j.x], dy[j.y], dy[j.z], dy[j.w]), ok);
    }
    for (var e = tid; e < B_QUADS; e += WG_SIZE) {
      let rr = k0 + e / (BN / 4u);
      let cols = vec4(n0 + (e % (BN / 4u)) * 4u) + vec4(0u, 1u, 2u, 3u);
      let ok = vec4(rr < params.depth) & (cols < vec4(in_c));
      // Row rr = (tap, k) of B lives at w[(tap * C + c) * K + k].
      let tap = rr / params.out_c;
      let kk = rr % params.out_c;
      let idx = select(vec4(0u), (vec4(tap * in_c) + cols) * params.out_c + vec4(kk), ok);
      let v = vec4(w[idx.x], w[idx.y], w[idx.z], w[idx.w]);
      tileB[e] = select(vec4(0.0), v, ok);
    }
    workgroupBarrier();
    gemm_accumulate(&acc, tid);
    workgroupBarrier();
  }
  gemm_store(&acc, tid, m0, n0);
}
