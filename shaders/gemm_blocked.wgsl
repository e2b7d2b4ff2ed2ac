// gemm_blocked: C = f(op(A) · op(B) [+ bias broadcast over rows]), f the
// ACTIVATION of shaders/common/activation.wgsl (included before this file),
// the GEMM family shaped for GPUs. Same bindings, params and result as
// gemm_tiled:
//   c:    (m, n)  written (overwrites)
//   a:    (m, k), or (k, m) when TRANS_A
//   b:    (k, n), or (n, k) when TRANS_B
//   bias: (n)     read only when params.use_bias != 0 (else a dummy buffer)

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

// Why a second tiled GEMM: gemm_tiled gives every invocation a 16 x 16 (or
// 8 x 8) block of C in 64-invocation workgroups, which is right for the CPU
// adapters (there every workgroup-memory read is a loop over the lanes, so
// FMAs per read decide the speed) and wrong for GPUs, whose accumulators live
// in registers: 256 of them spill, and 64-invocation workgroups over big tiles
// leave most of the chip idle. Here the per-invocation block is a pipeline
// parameter, BLOCK_M x BLOCK_N of 4 x 4, 4 x 8, 8 x 4 or 8 x 8 outputs
// (16-64 accumulators), in workgroups of WORKGROUP_X x WORKGROUP_Y (64-256
// invocations), with reductions staged TILE_K (8-32) deep. The tuner
// (src/gpu/tune.ts) times the menu (src/kernels/gemm.ts) on the adapter it
// meets and keeps the fastest.
//
// The algorithm is gemm_tiled's: per step through k, the workgroup copies
// op(A)'s TILE_M x TILE_K and op(B)'s TILE_K x TILE_N tiles into workgroup
// memory (both stored k-major as vec4s, so the inner loop reads whole quads),
// then each invocation adds TILE_K rank-1 updates to its block. The block's
// updates are written out with constant indices (rank1_rows4 below) and the
// 8-wide halves are guarded by override constants, which the pipeline
// compiler folds away: no private array is ever indexed by a loop variable,
// so the accumulators can stay in registers.
//
// Bindings are plain f32 arrays so that a tensor slice of any length can be
// bound; the VEC4_* paths read four adjacent floats under one bounds check
// (the contiguous dimension is a multiple of 4, so a quad never straddles a
// row end). The scalar paths check every element.

override TRANS_A: bool = false;
override TRANS_B: bool = false;
// The contiguous dimension of A (k, or m when TRANS_A) is a multiple of 4.
override VEC4_A: bool = false;
// The contiguous dimension of B (n, or k when TRANS_B) is a multiple of 4.
override VEC4_B: bool = false;
// n is a multiple of 4: C and bias are written and read 4 at a time.
override VEC4_C: bool = false;
// Outputs per invocation along m and along n: 4 or 8 each.
override BLOCK_M: u32 = 4u;
override BLOCK_N: u32 = 4u;
override WORKGROUP_X: u32 = 16u;
override WORKGROUP_Y: u32 = 16u;
// A multiple of 4.
override TILE_K: u32 = 16u;

// Derived, not meant to be set: the C tile one workgroup owns.
override TILE_M: u32 = WORKGROUP_Y * BLOCK_M;
override TILE_N: u32 = WORKGROUP_X * BLOCK_N;

var<workgroup> tile_a: array<vec4f, TILE_K * TILE_M / QUAD>;
var<workgroup> tile_b: array<vec4f, TILE_K * TILE_N / QUAD>;

// fill_tile_a and fill_tile_b, which copy op(A) and op(B) into these tiles,
// are in shaders/common/gemm_tile_fill.wgsl (included before this file).


// acc += a ⊗ (b0, b1) for four rows a.xyzw: acc[2r] holds row r, columns
// 0..3 of the block; acc[2r + 1] columns 4..7 (only when BLOCK_N == 8).
fn rank1_rows4(acc: ptr<function, array<vec4f, 8>>, a4: vec4f, b0: vec4f, b1: vec4f) {
  (*acc)[0] = fma(vec4f(a4.x), b0, (*acc)[0]);
  (*acc)[2] = fma(vec4f(a4.y), b0, (*acc)[2]);
  (*acc)[4] = fma(vec4f(a4.z), b0, (*acc)[4]);
  (*acc)[6] = fma(vec4f(a4.w), b0, (*acc)[6]);
  if (BLOCK_N == 8u) {
    (*acc)[1] = fma(vec4f(a4.x), b1, (*acc)[1]);
    (*acc)[3] = fma(vec4f(a4.y), b1, (*acc)[3]);
    (*acc)[5] = fma(vec4f(a4.z), b1, (*acc)[5]);
    (*acc)[7] = fma(vec4f(a4.w), b1, (*acc)[7]);
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

// Writes four rows of the block (row0 .. row0 + 3) from acc.
fn store_rows4(acc: ptr<function, array<vec4f, 8>>, row0: u32, col0: u32) {
  let bias_lo = load_bias4(col0);
  store_quad(row0, col0, (*acc)[0], bias_lo);
  store_quad(row0 + 1u, col0, (*acc)[2], bias_lo);
  store_quad(row0 + 2u, col0, (*acc)[4], bias_lo);
  store_quad(row0 + 3u, col0, (*acc)[6], bias_lo);
  if (BLOCK_N == 8u) {
    let bias_hi = load_bias4(col0 + QUAD);
    store_quad(row0, col0 + QUAD, (*acc)[1], bias_hi);
    store_quad(row0 + 1u, col0 + QUAD, (*acc)[3], bias_hi);
    store_quad(row0 + 2u, col0 + QUAD, (*acc)[5], bias_hi);
    store_quad(row0 + 3u, col0 + QUAD, (*acc)[7], bias_hi);
  }
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
  let qa = lid.y * (BLOCK_M / QUAD);
  let qb = lid.x * (BLOCK_N / QUAD);

  // Rows 0..3 of the block in acc_lo, rows 4..7 (BLOCK_M == 8) in acc_hi.
  var acc_lo: array<vec4f, 8>;
  var acc_hi: array<vec4f, 8>;

  let k_tiles = (params.k + TILE_K - 1u) / TILE_K;
  for (var t = 0u; t < k_tiles; t++) {
    let k0 = t * TILE_K;
    fill_tile_a(m0, k0, lindex, threads);
    fill_tile_b(k0, n0, lindex, threads);
    workgroupBarrier();
    for (var kk = 0u; kk < TILE_K; kk++) {
      let ia = kk * quads_m + qa;
      let ib = kk * quads_n + qb;
      let b0 = tile_b[ib];
      var b1 = vec4f(0.0);
      if (BLOCK_N == 8u) {
        b1 = tile_b[ib + 1u];
      }
      rank1_rows4(&acc_lo, tile_a[ia], b0, b1);
      if (BLOCK_M == 8u) {
        rank1_rows4(&acc_hi, tile_a[ia + 1u], b0, b1);
      }
    }
    workgroupBarrier();
  }

  let row0 = m0 + lid.y * BLOCK_M;
  let col0 = n0 + lid.x * BLOCK_N;
  store_rows4(&acc_lo, row0, col0);
  if (BLOCK_M == 8u) {
    store_rows4(&acc_hi, row0 + QUAD, col0);
  }
}
