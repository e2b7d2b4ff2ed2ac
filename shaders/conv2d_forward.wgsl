// conv2d_forward: y = f(conv(x, w) + b), an implicit GEMM; f is the ACTIVATION
// of shaders/common/activation.wgsl.
//   y: (N, OH, OW, K)   written (overwrites)
//   x: (N, H, W, C)     NHWC
//   w: (KH, KW, C, K)   HWIO: read as a (KH*KW*C, K) row-major matrix
//   b: (K)
// GEMM view: rows m = (n, oh, ow) (M = N*OH*OW), columns k (K), reduction
// r = (kh, kw, c) (R = KH*KW*C, the order of w's rows). The im2col matrix is
// never stored: each tile of it is gathered from x into workgroup memory and
// multiplied by the GEMM core in shaders/common/conv2d_gemm.wgsl (included
// before this file with activation.wgsl; it declares the tiles and the
// WG_M/WG_N/BK overrides).

struct Params {
  rows: u32, // M = N * OH * OW
  depth: u32, // R = KH * KW * C
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

@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

// A-tile loading: thread t gathers reduction index t % BK for A_QUADS
// consecutive row quads. It splits r into (kh, kw, c) once per tile and its
// first row into (n, oh, ow) once per dispatch, then steps through the rows
// with carries: integer division runs one lane at a time on the CPU adapters.
override A_GROUPS: u32 = WG_SIZE / BK;
override A_QUADS: u32 = (BM / 4u + A_GROUPS - 1u) / A_GROUPS;
// B-tile loading: column quad e = t + j * WG_SIZE of the BK x BN tile.
override B_QUADS: u32 = BK * BN / 4u;

// Adds the bias, applies the activation and writes one 4 x 4 block. The
// loop bounds come from the shape, not constants, so the compilers keep these
// loops rolled: 16 inlined copies of 16 unrolled per-lane stores made the
// pipeline take tens of seconds to build on lavapipe.
fn store_block(c: mat4x4<f32>, row0: u32, col0: u32) {
  let rows = select(0u, min(4u, params.rows - row0), row0 < params.rows);
  let cols = select(0u, min(4u, params.out_c - col0), col0 < params.out_c);
  var bias = vec4(0.0);
  for (var j = 0u; j < cols; j++) {
    bias[j] = b[col0 + j];
  }
  for (var i = 0u; i < rows; i++) {
    let v = activate(c[i] + bias);
    for (var j = 0u; j < cols; j++) {
      y[(row0 + i) * params.out_c + col0 + j] = v[j];
    }
  }
}

@compute @workgroup_size(WG_SIZE)
fn main(
  @builtin(local_invocation_index) tid: u32,
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
) {
  // M tiles run over x (and y beyond 65535 workgroups), K tiles over z.
  let m0 = (wid.x + wid.y * groups.x) * BM;
  if (m0 >= params.rows) {
    return;
  }
  let n0 = wid.z * BN;

  let in_h = i32(params.in_h);
  let in_w = i32(params.in_w);
  let in_c = i32(params.in_c);
  let out_w = i32(params.out_w);
  let out_h = i32(params.out_h);
  let stride = vec2(i32(params.stride_h), i32(params.stride_w));
  let pad = vec2(i32(params.pad_top), i32(params.pad_left));
  let image_size = in_h * in_w * in_c;

  // This thread's A rows: where the first one sits in (n, oh, ow).
  let a_k = tid % BK;
  let a_q0 = (tid / BK) * A_QUADS;
  let a_q_end = min(a_q0 + A_QUADS, BM / 4u);
  let a_m0 = m0 + 4u * a_q0;
  let first_ow = i32(a_m0 % params.out_w);
  let first_oh = i32((a_m0 / params.out_w) % params.out_h);
  let first_n = i32(a_m0 / (params.out_w * params.out_h));

  var acc: Block;
  for (var k0 = 0u; k0 < params.depth; k0 += BK) {
    // Gather the im2col slice: this thread's reduction index r = (kh, kw, c)
    // for 4 consecutive output pixels at a time.
    let r = k0 + a_k;
    let r_ok = r < params.depth;
    let c = i32(r % params.in_c);
    let kw = i32((r / params.in_c) % params.kernel_w);
    let kh = i32(r / (params.in_c * params.kernel_w));
    var n = first_n;
    var oh = first_oh;
    var ow = first_ow;
    for (var q = a_q0; q < a_q_end; q++) {
      var idx: vec4<i32>;
      var ok: vec4<bool>;
      for (var i = 0u; i < 4u; i++) {
        let ih = oh * stride.x - pad.x + kh;
        let iw = ow * stride.y - pad.y + kw;
        ok[i] = m0 + 4u * q + i < params.rows && ih >= 0 && ih < in_h && iw >= 0 && iw < in_w;
        idx[i] = n * image_size + (ih * in_w + iw) * in_c + c;
        // Next output pixel: carry ow into oh into n.
        ow += 1;
        let wrap_w = ow == out_w;
        ow = select(ow, 0, wrap_w);
        oh = select(oh, oh + 1, wrap_w);
        let wrap_h = oh == out_h;
        oh = select(oh, 0, wrap_h);
        n = select(n, n + 1, wrap_h);
      }
      ok &= vec4(r_ok);
      // Taps in the padding (or past the end) read element 0 and are zeroed:
      // no branch per lane.
      let j = vec4<u32>(select(vec4(0), idx, ok));
      tileA[a_k * (BM / 4u) + q] = select(vec4(0.0), vec4(x[j.x], x[j.y], x[j.z], x[j.w]), ok);
    }
    for (var e = tid; e < B_QUADS; e += WG_SIZE) {
      let rr = k0 + e / (BN / 4u);
      let cols = vec4(n0 + (e % (BN / 4u)) * 4u) + vec4(0u, 1u, 2u, 3u);
      let ok = vec4(rr < params.depth) & (cols < vec4(params.out_c));
      let idx = select(vec4(0u), vec4(rr * params.out_c) + cols, ok);
      let v = vec4(w[idx.x], w[idx.y], w[idx.z], w[idx.w]);
      tileB[e] = select(vec4(0.0), v, ok);
    }
    workgroupBarrier();
    gemm_accumulate(&acc, tid);
    workgroupBarrier();
  }
  gemm_store(&acc, tid, m0, n0);
}
