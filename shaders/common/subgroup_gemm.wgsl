// subgroup_gemm: the GEMM core of the *_sg kernels, for adapters whose
// subgroups are 4 or 8 lanes wide, all of them active (the CPU adapters:
// SwiftShader runs 4 lanes, lavapipe 8; subgroupLanes() in src/gpu/device.ts
// decides). A workgroup is exactly one subgroup: SG invocations.
//
// Why: the CPU adapters run a subgroup's invocations as the lanes of one SIMD
// register and load every operand whose address differs between lanes one
// lane at a time, which costs several FMAs per float. The tiled kernels
// (conv2d_gemm.wgsl) load 8 vec4s per lane per reduction index for 256 FMAs.
// Here each lane loads only what it alone needs of one operand (B: its own
// 4 or 8 columns) and a 1/SG share of the other (A: 4 of the subgroup's 32
// rows), and the A values reach every lane through subgroupBroadcast, which
// is a register shuffle: per reduction index a lane loads 2 or 3 vec4s for
// its 128 or 256 FMAs. Measured on a 12800 x 288 x 64 GEMM: 1.7-1.8x faster
// than the tiled core on lavapipe, 1.5x on SwiftShader (2026-11-25).
//
// Layout. The workgroup owns BM = 32 output rows and BN = 4 * CQ * SG
// columns. Lane l owns columns 4 * CQ * l .. + 4 * CQ - 1 (CQ column quads)
// of every one of the 32 rows, held as 8 row quads x CQ column quads of
// mat4x4 (column i of a mat4x4 is output row i over 4 columns, as in
// conv2d_gemm.wgsl). Per reduction index the kernel hands sg_accumulate:
//   a0: rows 4 * l .. 4 * l + 3 (row quad l), at this index;
//   a1: row quad l + 4 (only read when SG == 4: 4 lanes x 2 quads = 32 rows);
//   b0, b1: this lane's two column quads at this index (b1 only when CQ == 2).

enable subgroups;

override SG: u32 = 8u; // lanes per subgroup and invocations per workgroup: 4 or 8
override CQ: u32 = 2u; // column quads per lane: 1 or 2
override BN: u32 = 4u * CQ * SG;
const BM: u32 = 32u;

struct SgBlock {
  c00: mat4x4<f32>,
  c01: mat4x4<f32>,
  c10: mat4x4<f32>,
  c11: mat4x4<f32>,
  c20: mat4x4<f32>,
  c21: mat4x4<f32>,
  c30: mat4x4<f32>,
  c31: mat4x4<f32>,
  c40: mat4x4<f32>,
  c41: mat4x4<f32>,
  c50: mat4x4<f32>,
  c51: mat4x4<f32>,
  c60: mat4x4<f32>,
  c61: mat4x4<f32>,
  c70: mat4x4<f32>,
  c71: mat4x4<f32>,
}

// The outer product of a row quad and a column quad: column i = b * a[i].
fn sg_outer(a: vec4<f32>, b: vec4<f32>) -> mat4x4<f32> {
  return mat4x4(b * a.x, b * a.y, b * a.z, b * a.w);
}

// The row quad q (0..7) of the subgroup's 32 rows: lane q's a0, or, with 4
// lanes, lane q - 4's a1. Broadcast lanes are constants, as WGSL requires;
// with SG == 4 the lane 4..7 broadcasts are computed and not selected.
fn sg_accumulate(acc: ptr<function, SgBlock>, a0: vec4<f32>, a1: vec4<f32>, b0: vec4<f32>, b1: vec4<f32>) {
  let wide = SG == 8u;
  let v0 = subgroupBroadcast(a0, 0u);
  let v1 = subgroupBroadcast(a0, 1u);
  let v2 = subgroupBroadcast(a0, 2u);
  let v3 = subgroupBroadcast(a0, 3u);
  let v4 = select(subgroupBroadcast(a1, 0u), subgroupBroadcast(a0, 4u), wide);
  let v5 = select(subgroupBroadcast(a1, 1u), subgroupBroadcast(a0, 5u), wide);
  let v6 = select(subgroupBroadcast(a1, 2u), subgroupBroadcast(a0, 6u), wide);
  let v7 = select(subgroupBroadcast(a1, 3u), subgroupBroadcast(a0, 7u), wide);
  (*acc).c00 += sg_outer(v0, b0);
  (*acc).c10 += sg_outer(v1, b0);
  (*acc).c20 += sg_outer(v2, b0);
  (*acc).c30 += sg_outer(v3, b0);
  (*acc).c40 += sg_outer(v4, b0);
  (*acc).c50 += sg_outer(v5, b0);
  (*acc).c60 += sg_outer(v6, b0);
  (*acc).c70 += sg_outer(v7, b0);
  if (CQ == 2u) {
    (*acc).c01 += sg_outer(v0, b1);
    (*acc).c11 += sg_outer(v1, b1);
    (*acc).c21 += sg_outer(v2, b1);
    (*acc).c31 += sg_outer(v3, b1);
    (*acc).c41 += sg_outer(v4, b1);
    (*acc).c51 += sg_outer(v5, b1);
    (*acc).c61 += sg_outer(v6, b1);
    (*acc).c71 += sg_outer(v7, b1);
  }
}

// The first column a lane owns in column tile `tile`.
fn sg_lane_col0(tile: u32, lane: u32) -> u32 {
  return tile * BN + lane * 4u * CQ;
}

// The first row of the quad a lane loads as a0 (t = 0) or a1 (t = 1).
fn sg_row_quad(m0: u32, lane: u32, t: u32) -> u32 {
  return m0 + 4u * (lane + SG * t);
}

// Writes the rows of one 4 x 4 block that exist (below `rows`, columns below
// `row_len`) to out[base + row * row_len + column], after adding `bias` and,
// if asked, ReLU; write4 comes from shaders/common/out_f32.wgsl or
// out_vec4.wgsl, which every *_sg kernel includes. The loop bounds come from
// the shape, not constants, so the compilers keep the loops rolled (see
// conv2d_forward on pipeline build times).
fn sg_write_rows(c: mat4x4<f32>, base: u32, row0: u32, col0: u32, rows: u32, row_len: u32, bias: vec4<f32>, relu: bool) {
  let n = select(0u, min(4u, rows - row0), row0 < rows);
  let cols = select(0u, min(4u, row_len - col0), col0 < row_len);
  for (var i = 0u; i < n; i++) {
    var v = c[i] + bias;
    if (relu) {
      v = max(v, vec4(0.0));
    }
    write4(base + (row0 + i) * row_len + col0, v, cols);
  }
}

// The bias of columns col0 .. col0 + 3 from `values` (zero past row_len).
fn sg_bias(values: ptr<storage, array<f32>, read>, col0: u32, row_len: u32) -> vec4<f32> {
  var bias = vec4(0.0);
  let cols = select(0u, min(4u, row_len - col0), col0 < row_len);
  for (var j = 0u; j < cols; j++) {
    bias[j] = (*values)[col0 + j];
  }
  return bias;
}

// Hands each 4 x 4 block to the kernel's own store_block(c, row0, col0);
// m0 is the tile's first row, col0 this lane's first column.
fn sg_store(acc: ptr<function, SgBlock>, m0: u32, col0: u32) {
  store_block((*acc).c00, m0, col0);
  store_block((*acc).c10, m0 + 4u, col0);
  store_block((*acc).c20, m0 + 8u, col0);
  store_block((*acc).c30, m0 + 12u, col0);
  store_block((*acc).c40, m0 + 16u, col0);
  store_block((*acc).c50, m0 + 20u, col0);
  store_block((*acc).c60, m0 + 24u, col0);
  store_block((*acc).c70, m0 + 28u, col0);
  if (CQ == 2u) {
    store_block((*acc).c01, m0, col0 + 4u);
    store_block((*acc).c11, m0 + 4u, col0 + 4u);
    store_block((*acc).c21, m0 + 8u, col0 + 4u);
    store_block((*acc).c31, m0 + 12u, col0 + 4u);
    store_block((*acc).c41, m0 + 16u, col0 + 4u);
    store_block((*acc).c51, m0 + 20u, col0 + 4u);
    store_block((*acc).c61, m0 + 24u, col0 + 4u);
    store_block((*acc).c71, m0 + 28u, col0 + 4u);
  }
}
