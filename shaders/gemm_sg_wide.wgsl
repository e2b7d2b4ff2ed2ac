// gemm_sg_wide: C = f(op(A) · op(B) [+ bias broadcast over rows]), f the
// ACTIVATION of shaders/common/activation.wgsl (included before this file),
// on a GPU's subgroups. Same bindings, params and result as gemm_tiled:
//   c:    (m, n)  written (overwrites)
//   a:    (m, k), or (k, m) when TRANS_A
//   b:    (k, n), or (n, k) when TRANS_B
//   bias: (n)     read only when params.use_bias != 0 (else a dummy buffer)

// Needs `enable subgroups;`: shaders/common/enable_subgroups.wgsl is included
// first, before activation.wgsl.

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

// gemm_sg (shaders/common/subgroup_gemm.wgsl) is written for the CPU
// adapters' 4 and 8 lanes; GPUs have 16 to 64. This kernel takes the lane
// count as a pipeline constant, SG, and is built only where the subgroup size
// is fixed (subgroupMinSize == subgroupMaxSize == SG, src/gpu/device.ts), so a
// workgroup of SG invocations is exactly one subgroup.
//
// The SG lanes form LANE_ROWS x LC (LC = SG / LANE_ROWS). Lane (lr, lc) owns
// ROW_QUADS x COL_QUADS blocks of 4 x 4 outputs: row quads lr + q * LANE_ROWS,
// column quads lc + j * LC; the workgroup's C tile is TILE_M x TILE_N. The
// reduction runs LC indices at a time: lane (lr, lc) loads its row quads of
// op(A) at index k0 + lc, one load per quad where the tiled kernels stage a
// tile in workgroup memory, and the lanes of row lr then pass those values
// round with subgroupShuffle (a register exchange) so that each has all LC
// indices; op(B) is read directly, one quad per column quad and index (the
// LANE_ROWS lanes that share it read the same address). No workgroup memory
// and no barriers.

override TRANS_A: bool = false;
override TRANS_B: bool = false;
// n is a multiple of 4: C and bias are written and read 4 at a time.
override VEC4_C: bool = false;
override SG: u32 = 32u; // lanes per subgroup, and invocations per workgroup
override LANE_ROWS: u32 = 2u; // 1, 2 or 4; divides SG
override ROW_QUADS: u32 = 1u; // 1 or 2
override COL_QUADS: u32 = 1u; // 1 or 2
// Derived, not meant to be set.
override LC: u32 = SG / LANE_ROWS;
override TILE_M: u32 = LANE_ROWS * ROW_QUADS * 4u;
override TILE_N: u32 = LC * COL_QUADS * 4u;

// op(A)[row0 .. row0 + 3][p], zero outside the matrix.
fn load_a4(row0: u32, p: u32) -> vec4f {
  let rows = vec4(row0) + vec4(0u, 1u, 2u, 3u);
  let ok = (rows < vec4(params.m)) & vec4(p < params.k);
  var idx: vec4u;
  if (TRANS_A) {
    idx = vec4(p * params.m) + rows;
  } else {
    idx = rows * params.k + vec4(p);
  }
  let i = select(vec4(0u), idx, ok);
  return select(vec4(0.0), vec4(a[i.x], a[i.y], a[i.z], a[i.w]), ok);
}

// op(B)[p][col0 .. col0 + 3], zero outside the matrix.
fn load_b4(p: u32, col0: u32) -> vec4f {
  let cols = vec4(col0) + vec4(0u, 1u, 2u, 3u);
  let ok = (cols < vec4(params.n)) & vec4(p < params.k);
  var idx: vec4u;
  if (TRANS_B) {
    idx = cols * params.k + vec4(p);
  } else {
    idx = vec4(p * params.n) + cols;
  }
  let i = select(vec4(0u), idx, ok);
  return select(vec4(0.0), vec4(b[i.x], b[i.y], b[i.z], b[i.w]), ok);
}

fn outer(a4: vec4f, b4: vec4f) -> mat4x4f {
  return mat4x4(b4 * a4.x, b4 * a4.y, b4 * a4.z, b4 * a4.w);
}

// Adds the bias, applies the activation and writes one 4 x 4 block (column
// i of `acc` is output row row0 + i).
fn store_block(acc: mat4x4f, row0: u32, col0: u32) {
  let n = params.n;
  var bias4 = vec4f(0.0);
  if (params.use_bias != 0u) {
    for (var j = 0u; j < 4u; j++) {
      if (col0 + j < n) {
        bias4[j] = bias[col0 + j];
      }
    }
  }
  for (var i = 0u; i < 4u; i++) {
    let row = row0 + i;
    if (row >= params.m) {
      return;
    }
    let v = activate(acc[i] + bias4);
    let base = row * n + col0;
    if (VEC4_C) {
      // n % 4 == 0: a quad is either wholly inside the row or wholly past it.
      if (col0 < n) {
        c[base] = v.x;
        c[base + 1u] = v.y;
        c[base + 2u] = v.z;
        c[base + 3u] = v.w;
      }
    } else {
      for (var j = 0u; j < 4u; j++) {
        if (col0 + j < n) {
          c[base + j] = v[j];
        }
      }
    }
  }
}

@compute @workgroup_size(SG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(subgroup_invocation_id) lane: u32,
) {
  let lr = lane / LC;
  let lc = lane % LC;
  let row0 = wid.y * TILE_M + 4u * lr;
  let row1 = row0 + 4u * LANE_ROWS;
  let col0 = wid.x * TILE_N + 4u * lc;
  let col1 = col0 + 4u * LC;

  // c<q><j>: row quad q, column quad j of this lane's outputs.
  var c00: mat4x4f;
  var c01: mat4x4f;
  var c10: mat4x4f;
  var c11: mat4x4f;
  for (var k0 = 0u; k0 < params.k; k0 += LC) {
    let a0 = load_a4(row0, k0 + lc);
    var a1 = vec4f(0.0);
    if (ROW_QUADS == 2u) {
      a1 = load_a4(row1, k0 + lc);
    }
    for (var q = 0u; q < LC; q++) {
      // The lane of this row that loaded index k0 + q.
      let src_lane = lr * LC + q;
      let p = k0 + q;
      let v0 = subgroupShuffle(a0, src_lane);
      let b0 = load_b4(p, col0);
      c00 += outer(v0, b0);
      var b1 = vec4f(0.0);
      if (COL_QUADS == 2u) {
        b1 = load_b4(p, col1);
        c01 += outer(v0, b1);
      }
      if (ROW_QUADS == 2u) {
        let v1 = subgroupShuffle(a1, src_lane);
        c10 += outer(v1, b0);
        if (COL_QUADS == 2u) {
          c11 += outer(v1, b1);
        }
      }
    }
  }
  store_block(c00, row0, col0);
  if (COL_QUADS == 2u) {
    store_block(c01, row0, col1);
  }
  if (ROW_QUADS == 2u) {
    store_block(c10, row1, col0);
    if (COL_QUADS == 2u) {
      store_block(c11, row1, col1);
    }
  }
}
