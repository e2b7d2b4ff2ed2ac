// conv2d_backward_filter: partial sums of dw and db over chunks of pixels
// (split-K); conv2d_backward_filter_reduce adds them up.
//   partial: workspace, written (overwrites the slots below)
//     [0, db_offset):    dw partials, (SPLITS * WG_S, KH*KW*C, K)
//     [db_offset, ...):  db partials, (SPLITS, DB_GROUPS, K)
//   x:  (N, H, W, C)
//   dy: (N, OH, OW, K)   gradient w.r.t. the pre-activation conv output
// GEMM view: rows r = (kh, kw, c) (R = KH*KW*C, the order of dw's rows),
// columns k (K), reduction over output pixels p = (n, oh, ow) (P = N*OH*OW):
//   dw[r][k] = sum_p A[r][p] * dy[p][k],  A[r][p] = x[n, oh*s - pad + kh, ...]
//   db[k]    = sum_p dy[p][k]
// Workgroup (m tile, split, k tile) covers pixels [split * chunk, + chunk);
// inside it the WG_S thread groups each reduce their own part of every tile
// (see shaders/common/conv2d_gemm.wgsl) and keep separate partials, so no
// sum is ever shared between threads and the result is deterministic.
// db comes for free: the threads loading dy tiles add up what they load.

struct Params {
  pixels: u32, // P = N * OH * OW
  depth: u32, // R = KH * KW * C
  chunk: u32, // pixels per split, a multiple of BK
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

@group(0) @binding(0) var<storage, read_write> partial: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

// A-tile loading: thread t gathers pixel t % BK for A_QUADS consecutive
// quads of filter rows, stepping (kh, kw, c) with carries.
override A_GROUPS: u32 = WG_SIZE / BK;
override A_QUADS: u32 = (BM / 4u + A_GROUPS - 1u) / A_GROUPS;
// B-tile loading: column quad e = t + j * WG_SIZE of the BK x BN dy tile.
// WG_SIZE is a multiple of BN / 4, so each thread always loads the same
// column quad and keeps its running sum for db; DB_GROUPS threads share one.
override B_QUADS: u32 = BK * BN / 4u;
override DB_GROUPS: u32 = WG_SIZE * 4u / BN;

// Where this thread's dw partial block starts in `partial`.
var<private> dw_base: u32;

// Writes one 4 x 4 block of this thread's dw partial (loop bounds from the
// shape: see conv2d_forward).
fn store_block(c: mat4x4<f32>, row0: u32, col0: u32) {
  let rows = select(0u, min(4u, params.depth - row0), row0 < params.depth);
  let cols = select(0u, min(4u, params.out_c - col0), col0 < params.out_c);
  for (var i = 0u; i < rows; i++) {
    let v = c[i];
    for (var j = 0u; j < cols; j++) {
      partial[dw_base + (row0 + i) * params.out_c + col0 + j] = v[j];
    }
  }
}

@compute @workgroup_size(WG_SIZE)
fn main(
  @builtin(local_invocation_index) tid: u32,
  @builtin(workgroup_id) wid: vec3u,
) {
  let m0 = wid.x * BM;
  let split = wid.y;
  let n0 = wid.z * BN;
  let p_begin = split * params.chunk;
  let p_end = min(p_begin + params.chunk, params.pixels);
  dw_base = (split * WG_S + tid / (WG_M * WG_N)) * params.depth * params.out_c;

  let in_h = i32(params.in_h);
  let in_w = i32(params.in_w);
  let in_c = i32(params.in_c);
  let kernel_w = i32(params.kernel_w);
  let out_w = i32(params.out_w);
  let out_h = i32(params.out_h);
  let stride = vec2(i32(params.stride_h), i32(params.stride_w));
  let pad = vec2(i32(params.pad_top), i32(params.pad_left));
  let image_size = in_h * in_w * in_c;
  let inv_out_w = 1.0 / f32(out_w);
  let inv_out_h = 1.0 / f32(out_h);

  // This thread's A rows: where the first one sits in (kh, kw, c).
  let a_k = tid % BK;
  let a_q0 = (tid / BK) * A_QUADS;
  let a_q_end = min(a_q0 + A_QUADS, BM / 4u);
  let a_r0 = m0 + 4u * a_q0;
  let first_c = i32(a_r0 % params.in_c);
  let first_kw = i32((a_r0 / params.in_c) % params.kernel_w);
  let first_kh = i32(a_r0 / (params.in_c * params.kernel_w));

  var acc: Block;
  var db_acc = vec4(0.0);
  for (var k0 = p_begin; k0 < p_end; k0 += BK) {
    // This thread's pixel p = (n, oh, ow), for 4 consecutive filter rows at
    // a time (p < 2^22, which the wrapper checks, for div_floor).
    let p = k0 + a_k;
    let p_ok = p < p_end;
    let t = div_floor(i32(p), out_w, inv_out_w);
    let ow = i32(p) - t * out_w;
    let n = div_floor(t, out_h, inv_out_h);
    let oh = t - n * out_h;
    let corner_h = oh * stride.x - pad.x;
    let corner_w = ow * stride.y - pad.y;
    let image = n * image_size;
    var c = first_c;
    var kw = first_kw;
    var kh = first_kh;
    for (var q = a_q0; q < a_q_end; q++) {
      var idx: vec4<i32>;
      var ok: vec4<bool>;
      for (var i = 0u; i < 4u; i++) {
        let ih = corner_h + kh;
        let iw = corner_w + kw;
        ok[i] = m0 + 4u * q + i < params.depth && ih >= 0 && ih < in_h && iw >= 0 && iw < in_w;
        idx[i] = image + (ih * in_w + iw) * in_c + c;
        // Next filter row: carry c into kw into kh.
        c += 1;
        let wrap_c = c == in_c;
        c = select(c, 0, wrap_c);
        kw = select(kw, kw + 1, wrap_c);
        let wrap_w = kw == kernel_w;
        kw = select(kw, 0, wrap_w);
        kh = select(kh, kh + 1, wrap_w);
      }
      ok &= vec4(p_ok);
      let j = vec4<u32>(select(vec4(0), idx, ok));
      tileA[a_k * (BM / 4u) + q] = select(vec4(0.0), vec4(x[j.x], x[j.y], x[j.z], x[j.w]), ok);
    }
    for (var e = tid; e < B_QUADS; e += WG_SIZE) {
      let p = k0 + e / (BN / 4u);
      let cols = vec4(n0 + (e % (BN / 4u)) * 4u) + vec4(0u, 1u, 2u, 3u);
      let ok = vec4(p < p_end) & (cols < vec4(params.out_c));
      let idx = select(vec4(0u), vec4(p * params.out_c) + cols, ok);
      let v = select(vec4(0.0), vec4(dy[idx.x], dy[idx.y], dy[idx.z], dy[idx.w]), ok);
      tileB[e] = v;
      db_acc += v;
    }
    workgroupBarrier();
    gemm_accumulate(&acc, tid);
    workgroupBarrier();
  }
  gemm_store(&acc, tid, m0, n0);

  // Every m tile loaded the same dy tiles; the first one reports db.
  if (wid.x == 0u) {
    let col0 = n0 + (tid % (BN / 4u)) * 4u;
    let cols = select(0u, min(4u, params.out_c - col0), col0 < params.out_c);
    let slot = params.db_offset + (split * DB_GROUPS + tid / (BN / 4u)) * params.out_c + col0;
    for (var j = 0u; j < cols; j++) {
      partial[slot + j] = db_acc[j];
    }
  }
}
