// conv2d_backward_filter_sg: partial sums of dw and db over chunks of pixels
// (split-K) on the subgroup core (shaders/common/subgroup_gemm.wgsl, included
// before this file, with out_f32.wgsl or, when K % 4 == 0, out_vec4.wgsl,
// which declare the workspace as `out`); conv2d_backward_filter_reduce adds
// them up.
//   out: the workspace, written (overwrites the slots below)
//     [0, db_offset):    dw partials, (SPLITS, KH*KW*C, K)
//     [db_offset, ...):  db partials, (SPLITS, K)
//   x:  (N, H, W, C)
//   dy: (N, OH, OW, K)   gradient w.r.t. the pre-activation conv output
// GEMM view as in conv2d_backward_filter: rows r = (kh, kw, c), columns k,
// reduction over output pixels p = (n, oh, ow):
//   dw[r][k] = sum_p x[n, oh*s - pad + kh, ow*s - pad + kw, c] * dy[p][k]
//   db[k]    = sum_p dy[p][k]
// Workgroup (row tile, split, column tile) covers pixels
// [split * chunk, + chunk); each lane keeps its own sums, so the result is
// deterministic. Each lane adds up the dy values it loads for db.

struct Params {
  pixels: u32, // P = N * OH * OW
  depth: u32, // R = KH * KW * C
  chunk: u32, // pixels per split
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
  db_offset: u32,
}

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
// x and dy again, as vec4s (read-only bindings may alias), read when VEC4:
// C % 4 == 0 and K % 4 == 0, so a row quad's 4 taps are 4 adjacent channels
// at one pixel and a column quad is 4 adjacent values of dy, both aligned.
// One lane-varying load instead of four; otherwise a dummy buffer.
@group(0) @binding(4) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> dy4: array<vec4<f32>>;
override VEC4: bool = false;

// The 4 filter taps of one row quad: their offsets inside a window and
// which of them exist.
struct Taps {
  kh: vec4<i32>,
  kw: vec4<i32>,
  c: vec4<i32>,
  ok: vec4<bool>,
}

fn taps_of(row0: u32) -> Taps {
  let r = vec4(row0) + vec4(0u, 1u, 2u, 3u);
  let c = r % params.in_c;
  let t = r / params.in_c;
  return Taps(vec4<i32>(t / params.kernel_w), vec4<i32>(t % params.kernel_w), vec4<i32>(c), r < vec4(params.depth));
}

// x at the 4 taps of the window whose top-left input corner is (ih0, iw0) in
// image `image` (an offset); taps in the padding read element 0 and are zeroed.
fn gather(q: Taps, image: i32, ih0: i32, iw0: i32) -> vec4<f32> {
  let ih = q.kh + ih0;
  let iw = q.kw + iw0;
  let in_h = i32(params.in_h);
  let in_w = i32(params.in_w);
  let ok = q.ok & (ih >= vec4(0)) & (ih < vec4(in_h)) & (iw >= vec4(0)) & (iw < vec4(in_w));
  let idx = vec4<u32>(select(vec4(0), image + (ih * in_w + iw) * i32(params.in_c) + q.c, ok));
  if (VEC4) {
    return select(vec4(0.0), x4[idx.x / 4u], ok);
  }
  return select(vec4(0.0), vec4(x[idx.x], x[idx.y], x[idx.z], x[idx.w]), ok);
}

// Four values of dy at pixel p starting at column col0 (zero past the end).
fn grads(p: u32, col0: u32) -> vec4<f32> {
  let cols = vec4(col0) + vec4(0u, 1u, 2u, 3u);
  let ok = cols < vec4(params.out_c);
  let idx = select(vec4(0u), vec4(p * params.out_c) + cols, ok);
  if (VEC4) {
    return select(vec4(0.0), dy4[idx.x / 4u], ok);
  }
  return select(vec4(0.0), vec4(dy[idx.x], dy[idx.y], dy[idx.z], dy[idx.w]), ok);
}

// Where this workgroup's dw partial starts in `out`.
var<private> dw_base: u32;

// Writes one 4 x 4 block of this workgroup's dw partial.
fn store_block(c: mat4x4<f32>, row0: u32, col0: u32) {
  sg_write_rows(c, dw_base, row0, col0, params.depth, params.out_c, vec4(0.0), false);
}

@compute @workgroup_size(SG)
fn main(
  @builtin(subgroup_invocation_id) lane: u32,
  @builtin(workgroup_id) wid: vec3u,
) {
  let m0 = wid.x * BM;
  let split = wid.y;
  let col0 = sg_lane_col0(wid.z, lane);
  let p_begin = split * params.chunk;
  let p_end = min(p_begin + params.chunk, params.pixels);
  dw_base = split * params.depth * params.out_c;
  let q0 = taps_of(sg_row_quad(m0, lane, 0u));
  let q1 = taps_of(sg_row_quad(m0, lane, 1u));

  let out_w = i32(params.out_w);
  let out_h = i32(params.out_h);
  let stride = vec2(i32(params.stride_h), i32(params.stride_w));
  let pad = vec2(i32(params.pad_top), i32(params.pad_left));
  let image_size = i32(params.in_h * params.in_w * params.in_c);
  // The first pixel's (n, oh, ow), then carries: one division per split.
  var ow = i32(p_begin % params.out_w);
  var oh = i32((p_begin / params.out_w) % params.out_h);
  var n = i32(p_begin / (params.out_w * params.out_h));

  var acc: SgBlock;
  var db0 = vec4(0.0);
  var db1 = vec4(0.0);
  for (var p = p_begin; p < p_end; p++) {
    let image = n * image_size;
    let ih0 = oh * stride.x - pad.x;
    let iw0 = ow * stride.y - pad.y;
    let a0 = gather(q0, image, ih0, iw0);
    var a1 = vec4(0.0);
    if (SG == 4u) {
      a1 = gather(q1, image, ih0, iw0);
    }
    let b0 = grads(p, col0);
    var b1 = vec4(0.0);
    if (CQ == 2u) {
      b1 = grads(p, col0 + 4u);
    }
    db0 += b0;
    db1 += b1;
    sg_accumulate(&acc, a0, a1, b0, b1);
    ow += 1;
    let wrap_w = ow == out_w;
    ow = select(ow, 0, wrap_w);
    oh = select(oh, oh + 1, wrap_w);
    let wrap_h = oh == out_h;
    oh = select(oh, 0, wrap_h);
    n = select(n, n + 1, wrap_h);
  }
  sg_store(&acc, m0, col0);

  // Every row tile loaded the same dy values; the first one reports db, as a
  // one-row block (only column 0 of the matrix, the row, is written).
  if (wid.x == 0u) {
    let slot = params.db_offset + split * params.out_c;
    sg_write_rows(mat4x4(db0, db0, db0, db0), slot, 0u, col0, 1u, params.out_c, vec4(0.0), false);
    if (CQ == 2u) {
      sg_write_rows(mat4x4(db1, db1, db1, db1), slot, 0u, col0 + 4u, 1u, params.out_c, vec4(0.0), false);
    }
  }
}
