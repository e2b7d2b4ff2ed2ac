// gemm_tiled: C = f(op(A) · op(B) [+ bias broadcast over rows]), f the
// ACTIVATION of shaders/common/activation.wgsl (included before this file).
//   c:    (m, n)  written (overwrites)
//   a:    (m, k), or (k, m) when TRANS_A
//   b:    (k, n), or (n, k) when TRANS_B
//   bias: (n)     read only when params.use_bias != 0 (else a dummy buffer)
// Dense layers use three variants: NN forward (y = x·W), NT for dx = dy·Wᵀ
// and TN for dW = xᵀ·dy.

struct Params {
  m: u32,
  n: u32,
  k: u32,
  use_bias: u32,
}

@group(0) @binding(0) var<storage, read_write> c: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

// Algorithm. A workgroup owns a TILE_M x TILE_N block of C and walks k in
// steps of TILE_K. Each step, all invocations cooperatively copy the
// TILE_M x TILE_K slice of op(A) and the TILE_K x TILE_N slice of op(B) into
// workgroup memory (zero-padded past the edges, so the inner loop needs no
// bounds checks), then every invocation accumulates its own block of C in
// registers: 8 x 8 outputs, or 16 x 16 when WIDE. Per k, an 8 x 8 block reads
// two vec4s of A (8 rows) and two of B (8 columns) and does 16 vec4 FMAs; a
// 16 x 16 block reads four and four and does 64. Invocation (x, y) owns rows
// PER_THREAD * y .. and columns PER_THREAD * x .. of the tile, so
// TILE_M = PER_THREAD * WORKGROUP_Y and TILE_N = PER_THREAD * WORKGROUP_X.
//
// Why such large blocks: the CPU adapters run invocations as SIMD lanes and
// load every operand whose address differs between lanes lane by lane (seen
// in lavapipe's generated x86), which costs several FMAs' worth per float.
// FMAs per loaded float is therefore what decides the speed: 2 for 8 x 8, 4
// for 16 x 16, and 16 x 16 measured 1.3x (lavapipe) to 1.5x (SwiftShader)
// faster than 8 x 8, which was 2x faster than 4 x 4.
// The blocks use constant indices only (rank1_8x8 below): a private array
// indexed inside loops was not kept in registers and ran 3x slower.
//
// Both tiles are stored k-major as vec4s (tile_a[kk][i / 4] holds rows
// i..i+3 at depth kk), which is what the inner loop reads; the loads
// transpose where the global layout runs the other way.
//
// Bindings are plain f32 arrays so that a tensor slice of any length can be
// bound; the VEC4_* paths read four adjacent floats with one bounds check,
// valid when the contiguous dimension is a multiple of 4 (then a group of 4
// never straddles a row end). The scalar paths check every element.

override TRANS_A: bool = false;
override TRANS_B: bool = false;
// The contiguous dimension of A (k, or m when TRANS_A) is a multiple of 4.
override VEC4_A: bool = false;
// The contiguous dimension of B (n, or k when TRANS_B) is a multiple of 4.
override VEC4_B: bool = false;
// n is a multiple of 4: C and bias are written and read 4 at a time.
override VEC4_C: bool = false;
// 16 x 16 outputs per invocation (four 8 x 8 blocks) instead of 8 x 8.
override WIDE: bool = true;
// The workgroup is WORKGROUP_X x WORKGROUP_Y invocations; the C tile follows
// from it. TILE_K must be a multiple of 4. The defaults, 128 x 128 x 16 tiles
// (16 KiB) on 64 invocations, measured best on both CPU adapters at 512^3.
override WORKGROUP_X: u32 = 8;
override WORKGROUP_Y: u32 = 8;
override TILE_K: u32 = 16;

// Derived, not meant to be set: outputs per invocation along m and n, and the
// C tile a workgroup owns.
override PER_THREAD: u32 = select(8u, 16u, WIDE);
override TILE_M: u32 = WORKGROUP_Y * PER_THREAD;
override TILE_N: u32 = WORKGROUP_X * PER_THREAD;

var<workgroup> tile_a: array<vec4f, TILE_K * TILE_M / QUAD>;
var<workgroup> tile_b: array<vec4f, TILE_K * TILE_N / QUAD>;

// fill_tile_a and fill_tile_b, which copy op(A) and op(B) into these tiles,
// are in shaders/common/gemm_tile_fill.wgsl (included before this file).


// Writes 4 adjacent outputs of one row, with the bias and activation epilogue.
fn store_quad(row: u32, col0: u32, value: vec4f, bias4: vec4f) {
  let n = params.n;
  if (row >= params.m) {
    return;
  }
  let v = activate(value + bias4);
  let base = row * n + col0;
  if (VEC4_C) {
    // n % 4 == 0: a quad is either wholly inside the row or wholly past it.
    if (col0 < n) {
      c[base] = v.x;
      c[base + 1u] = v.y;
      c[base + 2u] = v.z;
      c[base + 3u] = v.w;
    }
    return;
  }
  for (var q = 0u; q < QUAD; q++) {
    if (col0 + q < n) {
      c[base + q] = v[q];
    }
  }
}

fn load_bias4(col0: u32) -> vec4f {
  let n = params.n;
  if (params.use_bias == 0u) {
    return vec4f(0.0);
  }
  if (VEC4_C) {
    if (col0 < n) {
      return vec4f(bias[col0], bias[col0 + 1u], bias[col0 + 2u], bias[col0 + 3u]);
    }
    return vec4f(0.0);
  }
  var b4 = vec4f(0.0);
  for (var q = 0u; q < QUAD; q++) {
    if (col0 + q < n) {
      b4[q] = bias[col0 + q];
    }
  }
  return b4;
}

// acc += a ⊗ b for one 8 x 8 block: rows a_lo.xyzw, a_hi.xyzw, columns
// b_lo, b_hi. acc[2r + h] holds row r, columns 4h..4h+3. Constant indices
// only, so the block stays in registers (or their CPU equivalent).
fn rank1_8x8(acc: ptr<function, array<vec4f, 16>>, a_lo: vec4f, a_hi: vec4f, b_lo: vec4f, b_hi: vec4f) {
  (*acc)[0] = fma(vec4f(a_lo.x), b_lo, (*acc)[0]);
  (*acc)[1] = fma(vec4f(a_lo.x), b_hi, (*acc)[1]);
  (*acc)[2] = fma(vec4f(a_lo.y), b_lo, (*acc)[2]);
  (*acc)[3] = fma(vec4f(a_lo.y), b_hi, (*acc)[3]);
  (*acc)[4] = fma(vec4f(a_lo.z), b_lo, (*acc)[4]);
  (*acc)[5] = fma(vec4f(a_lo.z), b_hi, (*acc)[5]);
  (*acc)[6] = fma(vec4f(a_lo.w), b_lo, (*acc)[6]);
  (*acc)[7] = fma(vec4f(a_lo.w), b_hi, (*acc)[7]);
  (*acc)[8] = fma(vec4f(a_hi.x), b_lo, (*acc)[8]);
  (*acc)[9] = fma(vec4f(a_hi.x), b_hi, (*acc)[9]);
  (*acc)[10] = fma(vec4f(a_hi.y), b_lo, (*acc)[10]);
  (*acc)[11] = fma(vec4f(a_hi.y), b_hi, (*acc)[11]);
  (*acc)[12] = fma(vec4f(a_hi.z), b_lo, (*acc)[12]);
  (*acc)[13] = fma(vec4f(a_hi.z), b_hi, (*acc)[13]);
  (*acc)[14] = fma(vec4f(a_hi.w), b_lo, (*acc)[14]);
  (*acc)[15] = fma(vec4f(a_hi.w), b_hi, (*acc)[15]);
}

// Writes one 8 x 8 block whose top-left output is (row0, col0).
fn store_8x8(acc: ptr<function, array<vec4f, 16>>, row0: u32, col0: u32) {
  let bias_lo = load_bias4(col0);
  let bias_hi = load_bias4(col0 + QUAD);
  store_quad(row0, col0, (*acc)[0], bias_lo);
  store_quad(row0, col0 + QUAD, (*acc)[1], bias_hi);
  store_quad(row0 + 1u, col0, (*acc)[2], bias_lo);
  store_quad(row0 + 1u, col0 + QUAD, (*acc)[3], bias_hi);
  store_quad(row0 + 2u, col0, (*acc)[4], bias_lo);
  store_quad(row0 + 2u, col0 + QUAD, (*acc)[5], bias_hi);
  store_quad(row0 + 3u, col0, (*acc)[6], bias_lo);
  store_quad(row0 + 3u, col0 + QUAD, (*acc)[7], bias_hi);
  store_quad(row0 + 4u, col0, (*acc)[8], bias_lo);
  store_quad(row0 + 4u, col0 + QUAD, (*acc)[9], bias_hi);
  store_quad(row0 + 5u, col0, (*acc)[10], bias_lo);
  store_quad(row0 + 5u, col0 + QUAD, (*acc)[11], bias_hi);
  store_quad(row0 + 6u, col0, (*acc)[12], bias_lo);
  store_quad(row0 + 6u, col0 + QUAD, (*acc)[13], bias_hi);
  store_quad(row0 + 7u, col0, (*acc)[14], bias_lo);
  store_quad(row0 + 7u, col0 + QUAD, (*acc)[15], bias_hi);
}

@compute @workgroup_size(WORKGROUP_X, WORKGROUP_Y)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(local_invocation_index) lindex: u32,
) {
  let threads = WORKGROUP_X * WORKGROUP_Y;
  let m0 = wid.y * TILE_M;
  let n0 = wid.x * TILE_N;
  let quads_m = TILE_M / QUAD;
  let quads_n = TILE_N / QUAD;
  // This invocation's first quad of rows (in tile_a) and of columns (tile_b).
  let qa = lid.y * (PER_THREAD / QUAD);
  let qb = lid.x * (PER_THREAD / QUAD);

  // acc_RC: the 8 x 8 block at block-row R, block-column C of this
  // invocation's outputs (only acc_00 unless WIDE).
  var acc_00: array<vec4f, 16>;
  var acc_01: array<vec4f, 16>;
  var acc_10: array<vec4f, 16>;
  var acc_11: array<vec4f, 16>;

  let k_tiles = (params.k + TILE_K - 1u) / TILE_K;
  for (var t = 0u; t < k_tiles; t++) {
    let k0 = t * TILE_K;
    fill_tile_a(m0, k0, lindex, threads);
    fill_tile_b(k0, n0, lindex, threads);
    workgroupBarrier();
    for (var kk = 0u; kk < TILE_K; kk++) {
      let ia = kk * quads_m + qa;
      let ib = kk * quads_n + qb;
      let a0 = tile_a[ia];
      let a1 = tile_a[ia + 1u];
      let b0 = tile_b[ib];
      let b1 = tile_b[ib + 1u];
      rank1_8x8(&acc_00, a0, a1, b0, b1);
      if (WIDE) {
        let a2 = tile_a[ia + 2u];
        let a3 = tile_a[ia + 3u];
        let b2 = tile_b[ib + 2u];
        let b3 = tile_b[ib + 3u];
        rank1_8x8(&acc_01, a0, a1, b2, b3);
        rank1_8x8(&acc_10, a2, a3, b0, b1);
        rank1_8x8(&acc_11, a2, a3, b2, b3);
      }
    }
    workgroupBarrier();
  }

  let row0 = m0 + lid.y * PER_THREAD;
  let col0 = n0 + lid.x * PER_THREAD;
  store_8x8(&acc_00, row0, col0);
  if (WIDE) {
    store_8x8(&acc_01, row0, col0 + 8u);
    store_8x8(&acc_10, row0 + 8u, col0);
    store_8x8(&acc_11, row0 + 8u, col0 + 8u);
  }
}
