// conv2d_gemm: the tiled GEMM core shared by conv2d_forward,
// conv2d_backward_input and conv2d_backward_filter. Each kernel gathers its
// own A (BM rows x BK reduction) and B (BK x BN columns) tiles into workgroup
// memory; this file multiplies them.
//
// Threads: tid = tx + WG_N * (ty + WG_M * ts). Thread (tx, ty) owns a 16 x 16
// block of the BM x BN output tile: row quads ty + q * WG_M, column quads
// tx + q * WG_N (q = 0..3). With WG_S > 1 the reduction tile is split between
// WG_S groups of threads (group ts takes indices ts * SLICE_K ..), each keeping
// its own partial block; only conv2d_backward_filter uses that.
//
// Why a 16 x 16 block of mat4x4s: the CPU adapters (lavapipe, SwiftShader)
// run invocations as SIMD lanes and load memory one lane at a time, so loads
// from the tiles, not FMAs, are the cost. Per reduction index a thread loads
// 8 vec4s and does 256 FMAs. Column i of an accumulator c_rc is output row i
// of that 4 x 4 block (a vec4 over 4 columns). The block is written out as 16
// named matrices: loops over a private array become per-lane memory accesses
// on these adapters. One reduction index per loop iteration keeps the loop
// body, and so the pipeline compile time, small (it is seconds of CPU).

override WG_M: u32 = 8u; // threads along the output rows (16 rows each)
override WG_N: u32 = 4u; // threads along the output columns (16 columns each)
override WG_S: u32 = 1u; // thread groups splitting the reduction tile
override BK: u32 = 16u; // reduction indices per tile; WG_S | BK | WG_SIZE
override WG_SIZE: u32 = WG_M * WG_N * WG_S;
override BM: u32 = WG_M * 16u;
override BN: u32 = WG_N * 16u;
override SLICE_K: u32 = BK / WG_S;

// tileA[kk * BM / 4 + q] = A[4q .. 4q + 3][kk]: a row quad at one index.
// tileB[kk * BN / 4 + q] = B[kk][4q .. 4q + 3]: a column quad at one index.
// (BM + BN) * BK * 4 bytes: 12 KiB at the default tiles.
var<workgroup> tileA: array<vec4<f32>, BK * BM / 4u>;
var<workgroup> tileB: array<vec4<f32>, BK * BN / 4u>;

struct Block {
  c00: mat4x4<f32>,
  c01: mat4x4<f32>,
  c02: mat4x4<f32>,
  c03: mat4x4<f32>,
  c10: mat4x4<f32>,
  c11: mat4x4<f32>,
  c12: mat4x4<f32>,
  c13: mat4x4<f32>,
  c20: mat4x4<f32>,
  c21: mat4x4<f32>,
  c22: mat4x4<f32>,
  c23: mat4x4<f32>,
  c30: mat4x4<f32>,
  c31: mat4x4<f32>,
  c32: mat4x4<f32>,
  c33: mat4x4<f32>,
}

// The outer product of a row quad and a column quad: column i = b * a[i].
fn outer(a: vec4<f32>, b: vec4<f32>) -> mat4x4<f32> {
  return mat4x4(b * a.x, b * a.y, b * a.z, b * a.w);
}

// acc += this thread's share of tileA x tileB. Call between the barriers.
fn gemm_accumulate(acc: ptr<function, Block>, tid: u32) {
  let tx = tid % WG_N;
  let ty = (tid / WG_N) % WG_M;
  let ts = tid / (WG_N * WG_M);
  let k_end = (ts + 1u) * SLICE_K;
  for (var kk = ts * SLICE_K; kk < k_end; kk++) {
    let ra = kk * (BM / 4u) + ty;
    let rb = kk * (BN / 4u) + tx;
    let b0 = tileB[rb];
    let b1 = tileB[rb + WG_N];
    let b2 = tileB[rb + 2u * WG_N];
    let b3 = tileB[rb + 3u * WG_N];
    let a0 = tileA[ra];
    (*acc).c00 += outer(a0, b0);
    (*acc).c01 += outer(a0, b1);
    (*acc).c02 += outer(a0, b2);
    (*acc).c03 += outer(a0, b3);
    let a1 = tileA[ra + WG_M];
    (*acc).c10 += outer(a1, b0);
    (*acc).c11 += outer(a1, b1);
    (*acc).c12 += outer(a1, b2);
    (*acc).c13 += outer(a1, b3);
    let a2 = tileA[ra + 2u * WG_M];
    (*acc).c20 += outer(a2, b0);
    (*acc).c21 += outer(a2, b1);
    (*acc).c22 += outer(a2, b2);
    (*acc).c23 += outer(a2, b3);
    let a3 = tileA[ra + 3u * WG_M];
    (*acc).c30 += outer(a3, b0);
    (*acc).c31 += outer(a3, b1);
    (*acc).c32 += outer(a3, b2);
    (*acc).c33 += outer(a3, b3);
  }
}

// Hands each 4 x 4 block to the kernel's own store_block(c, row0, col0);
// (m0, n0) is the tile's corner.
fn gemm_store(acc: ptr<function, Block>, tid: u32, m0: u32, n0: u32) {
  let row = m0 + ((tid / WG_N) % WG_M) * 4u;
  let col = n0 + (tid % WG_N) * 4u;
  let dr = WG_M * 4u;
  let dc = WG_N * 4u;
  store_block((*acc).c00, row, col);
  store_block((*acc).c01, row, col + dc);
  store_block((*acc).c02, row, col + 2u * dc);
  store_block((*acc).c03, row, col + 3u * dc);
  store_block((*acc).c10, row + dr, col);
  store_block((*acc).c11, row + dr, col + dc);
  store_block((*acc).c12, row + dr, col + 2u * dc);
  store_block((*acc).c13, row + dr, col + 3u * dc);
  store_block((*acc).c20, row + 2u * dr, col);
  store_block((*acc).c21, row + 2u * dr, col + dc);
  store_block((*acc).c22, row + 2u * dr, col + 2u * dc);
  store_block((*acc).c23, row + 2u * dr, col + 3u * dc);
  store_block((*acc).c30, row + 3u * dr, col);
  store_block((*acc).c31, row + 3u * dr, col + dc);
  store_block((*acc).c32, row + 3u * dr, col + 2u * dc);
  store_block((*acc).c33, row + 3u * dr, col + 3u * dc);
}
