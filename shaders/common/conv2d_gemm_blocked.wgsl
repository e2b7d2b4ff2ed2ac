// conv2d_gemm_blocked: the GEMM core of conv2d_forward, conv2d_backward_input
// and conv2d_backward_filter shaped for GPUs; it stands in for
// shaders/common/conv2d_gemm.wgsl (same overrides, tiles and functions, so
// the three kernels compile unchanged against either).
//
// conv2d_gemm gives each thread a 16 x 16 output block: 256 accumulators,
// right for the CPU adapters (there tile loads, not FMAs, are the cost) and
// wrong for GPUs, where accumulators live in registers and 256 of them spill.
// Here a thread owns BLOCK_M x BLOCK_N outputs, 4 or 8 each (16 to 64
// accumulators), and the workgroup is WG_M x WG_N (x WG_S) threads, so the
// tile is BM = WG_M * BLOCK_M rows by BN = WG_N * BLOCK_N columns. The
// tuner (src/gpu/tune.ts) times the menus in src/kernels/conv2d.ts on the
// adapter it meets and keeps the fastest.
//
// Threads: tid = tx + WG_N * (ty + WG_M * ts), as in conv2d_gemm: thread
// (tx, ty) owns row quads ty + q * WG_M and column quads tx + q * WG_N for q
// below BLOCK_M / 4 and BLOCK_N / 4; strided quads keep neighbouring threads
// on neighbouring tile words. The 8-wide halves are guarded by override
// constants that the pipeline compiler folds away, and every accumulator is a
// named matrix, so nothing is a private array indexed by a variable.

override BLOCK_M: u32 = 4u; // output rows per thread: 4 or 8
override BLOCK_N: u32 = 4u; // output columns per thread: 4 or 8
override WG_M: u32 = 16u; // threads along the output rows
override WG_N: u32 = 4u; // threads along the output columns
override WG_S: u32 = 1u; // thread groups splitting the reduction tile
override BK: u32 = 16u; // reduction indices per tile; WG_S | BK | WG_SIZE
override WG_SIZE: u32 = WG_M * WG_N * WG_S;
override BM: u32 = WG_M * BLOCK_M;
override BN: u32 = WG_N * BLOCK_N;
override SLICE_K: u32 = BK / WG_S;

// The layout of conv2d_gemm: tileA[kk * BM / 4 + q] = A[4q .. 4q + 3][kk],
// tileB[kk * BN / 4 + q] = B[kk][4q .. 4q + 3].
var<workgroup> tileA: array<vec4<f32>, BK * BM / 4u>;
var<workgroup> tileB: array<vec4<f32>, BK * BN / 4u>;

// c<i><j>: row quad i, column quad j of the thread's block (only c00 when
// the block is 4 x 4). Column r of a matrix is output row r of its 4 x 4.
struct Block {
  c00: mat4x4<f32>,
  c01: mat4x4<f32>,
  c10: mat4x4<f32>,
  c11: mat4x4<f32>,
}

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
    let a0 = tileA[ra];
    let b0 = tileB[rb];
    (*acc).c00 += outer(a0, b0);
    if (BLOCK_N == 8u) {
      (*acc).c01 += outer(a0, tileB[rb + WG_N]);
    }
    if (BLOCK_M == 8u) {
      let a1 = tileA[ra + WG_M];
      (*acc).c10 += outer(a1, b0);
      if (BLOCK_N == 8u) {
        (*acc).c11 += outer(a1, tileB[rb + WG_N]);
      }
    }
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
  if (BLOCK_N == 8u) {
    store_block((*acc).c01, row, col + dc);
  }
  if (BLOCK_M == 8u) {
    store_block((*acc).c10, row + dr, col);
    if (BLOCK_N == 8u) {
      store_block((*acc).c11, row + dr, col + dc);
    }
  }
}
