// conv2d_forward_sg: y = f(conv(x, w) + b), an implicit GEMM on the
// subgroup core (shaders/common/subgroup_gemm.wgsl, included before this
// file with activation.wgsl, which defines f, and with out_f32.wgsl or, when K % 4 == 0, out_vec4.wgsl, which declare
// y as `out`). Same layouts, params and result as conv2d_forward:
//   y: (N, OH, OW, K)   written (overwrites), the `out` binding
//   x: (N, H, W, C)     NHWC
//   w: (KH, KW, C, K)   HWIO: a (KH*KW*C, K) row-major matrix
//   b: (K)
// GEMM view: rows m = (n, oh, ow), columns k, reduction r = (kh, kw, c).
// Nothing is staged in workgroup memory: each lane gathers its own im2col
// rows from x and its own columns of w, one reduction index at a time.

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

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
// w again, as vec4s (read-only bindings may alias), read when VEC4_W: K % 4
// == 0, so a lane's column quad of w is 4 adjacent, aligned values: one
// lane-varying load instead of four. Otherwise a dummy buffer.
@group(0) @binding(5) var<storage, read> w4: array<vec4<f32>>;
override VEC4_W: bool = false;

// Where the 4 output pixels of one row quad read x: the top-left input
// corner of each window, the image offset, and which rows exist.
struct Quad {
  ih0: vec4<i32>,
  iw0: vec4<i32>,
  image: vec4<i32>,
  ok: vec4<bool>,
}

fn quad_of(row0: u32) -> Quad {
  let rows = vec4(row0) + vec4(0u, 1u, 2u, 3u);
  let ow = rows % params.out_w;
  let t = rows / params.out_w;
  let oh = t % params.out_h;
  let n = t / params.out_h;
  return Quad(
    vec4<i32>(oh * params.stride_h) - i32(params.pad_top),
    vec4<i32>(ow * params.stride_w) - i32(params.pad_left),
    vec4<i32>(n * (params.in_h * params.in_w * params.in_c)),
    rows < vec4(params.rows),
  );
}

// The im2col values of a row quad at reduction index (kh, kw, c); taps in the
// padding read element 0 and are zeroed, without a branch per lane.
fn gather(q: Quad, kh: i32, kw: i32, c: i32) -> vec4<f32> {
  let ih = q.ih0 + kh;
  let iw = q.iw0 + kw;
  let in_h = i32(params.in_h);
  let in_w = i32(params.in_w);
  let ok = q.ok & (ih >= vec4(0)) & (ih < vec4(in_h)) & (iw >= vec4(0)) & (iw < vec4(in_w));
  let idx = vec4<u32>(select(vec4(0), q.image + (ih * in_w + iw) * i32(params.in_c) + c, ok));
  return select(vec4(0.0), vec4(x[idx.x], x[idx.y], x[idx.z], x[idx.w]), ok);
}

// Four weights of row r starting at column col0 (zero past the last column).
fn weights(r: u32, col0: u32) -> vec4<f32> {
  let cols = vec4(col0) + vec4(0u, 1u, 2u, 3u);
  let ok = cols < vec4(params.out_c);
  let idx = select(vec4(0u), vec4(r * params.out_c) + cols, ok);
  if (VEC4_W) {
    return select(vec4(0.0), w4[idx.x / 4u], ok);
  }
  return select(vec4(0.0), vec4(w[idx.x], w[idx.y], w[idx.z], w[idx.w]), ok);
}

// Adds the bias, applies the activation and writes one 4 x 4 block.
fn store_block(c: mat4x4<f32>, row0: u32, col0: u32) {
  let bias = sg_bias(&b, col0, params.out_c);
  let a = mat4x4(activate(c[0] + bias), activate(c[1] + bias), activate(c[2] + bias), activate(c[3] + bias));
  sg_write_rows(a, 0u, row0, col0, params.rows, params.out_c, vec4(0.0), false);
}

@compute @workgroup_size(SG)
fn main(
  @builtin(subgroup_invocation_id) lane: u32,
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
) {
  // Row tiles run over x (and y beyond 65535 workgroups), column tiles over z.
  let m0 = (wid.x + wid.y * groups.x) * BM;
  if (m0 >= params.rows) {
    return;
  }
  let col0 = sg_lane_col0(wid.z, lane);
  let q0 = quad_of(sg_row_quad(m0, lane, 0u));
  let q1 = quad_of(sg_row_quad(m0, lane, 1u));

  let in_c = i32(params.in_c);
  let kernel_w = i32(params.kernel_w);
  var acc: SgBlock;
  // r = (kh, kw, c), stepped with carries: integer division runs one lane at
  // a time on the CPU adapters.
  var c = 0;
  var kw = 0;
  var kh = 0;
  for (var r = 0u; r < params.depth; r++) {
    let a0 = gather(q0, kh, kw, c);
    var a1 = vec4(0.0);
    if (SG == 4u) {
      a1 = gather(q1, kh, kw, c);
    }
    let b0 = weights(r, col0);
    var b1 = vec4(0.0);
    if (CQ == 2u) {
      b1 = weights(r, col0 + 4u);
    }
    sg_accumulate(&acc, a0, a1, b0, b1);
    c += 1;
    let wrap_c = c == in_c;
    c = select(c, 0, wrap_c);
    kw = select(kw, kw + 1, wrap_c);
    let wrap_w = kw == kernel_w;
    kw = select(kw, 0, wrap_w);
    kh = select(kh, kh + 1, wrap_w);
  }
  sg_store(&acc, m0, col0);
}
