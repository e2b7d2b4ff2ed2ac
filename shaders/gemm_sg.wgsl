// gemm_sg: C = f(op(A) · op(B) [+ bias broadcast over rows]), on the
// subgroup core (shaders/common/subgroup_gemm.wgsl, included before this
// file with activation.wgsl, which defines f, and with out_f32.wgsl or, when n % 4 == 0, out_vec4.wgsl, which declare
// C as `out`). Same params and result as gemm_tiled:
//   out:  (m, n)  C, written (overwrites)
//   a:    (m, k), or (k, m) when TRANS_A
//   b:    (k, n), or (n, k) when TRANS_B
//   bias: (n)     read only when params.use_bias != 0 (else a dummy buffer)
// A workgroup (one subgroup) owns 32 rows and BN columns of C; each lane
// loads its share of op(A)'s rows and its own columns of op(B) straight from
// storage, one reduction index at a time (no workgroup memory).

struct Params {
  m: u32,
  n: u32,
  k: u32,
  use_bias: u32,
}

@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

override TRANS_A: bool = false;
override TRANS_B: bool = false;

// op(A)[row0 .. row0 + 3][p], zero past the last row.
fn load_a(row0: u32, p: u32) -> vec4<f32> {
  let rows = vec4(row0) + vec4(0u, 1u, 2u, 3u);
  let ok = rows < vec4(params.m);
  var idx: vec4<u32>;
  if (TRANS_A) {
    idx = vec4(p * params.m) + rows;
  } else {
    idx = rows * params.k + vec4(p);
  }
  let i = select(vec4(0u), idx, ok);
  return select(vec4(0.0), vec4(a[i.x], a[i.y], a[i.z], a[i.w]), ok);
}

// op(B)[p][col0 .. col0 + 3], zero past the last column.
fn load_b(p: u32, col0: u32) -> vec4<f32> {
  let cols = vec4(col0) + vec4(0u, 1u, 2u, 3u);
  let ok = cols < vec4(params.n);
  var idx: vec4<u32>;
  if (TRANS_B) {
    idx = cols * params.k + vec4(p);
  } else {
    idx = vec4(p * params.n) + cols;
  }
  let i = select(vec4(0u), idx, ok);
  return select(vec4(0.0), vec4(b[i.x], b[i.y], b[i.z], b[i.w]), ok);
}

// Adds the bias if there is one, applies the activation and writes one
// 4 x 4 block.
fn store_block(v: mat4x4<f32>, row0: u32, col0: u32) {
  var bias4 = vec4(0.0);
  if (params.use_bias != 0u) {
    bias4 = sg_bias(&bias, col0, params.n);
  }
  let a = mat4x4(activate(v[0] + bias4), activate(v[1] + bias4), activate(v[2] + bias4), activate(v[3] + bias4));
  sg_write_rows(a, 0u, row0, col0, params.m, params.n, vec4(0.0), false);
}

@compute @workgroup_size(SG)
fn main(
  @builtin(subgroup_invocation_id) lane: u32,
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
) {
  // Row tiles run over x (and y beyond 65535 workgroups), column tiles over z.
  let m0 = (wid.x + wid.y * groups.x) * BM;
  if (m0 >= params.m) {
    return;
  }
  let col0 = sg_lane_col0(wid.z, lane);
  let row_a0 = sg_row_quad(m0, lane, 0u);
  let row_a1 = sg_row_quad(m0, lane, 1u);
  var acc: SgBlock;
  for (var p = 0u; p < params.k; p++) {
    let a0 = load_a(row_a0, p);
    var a1 = vec4(0.0);
    if (SG == 4u) {
      a1 = load_a(row_a1, p);
    }
    let b0 = load_b(p, col0);
    var b1 = vec4(0.0);
    if (CQ == 2u) {
      b1 = load_b(p, col0 + 4u);
    }
    sg_accumulate(&acc, a0, a1, b0, b1);
  }
  sg_store(&acc, m0, col0);
}
