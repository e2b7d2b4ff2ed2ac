// gemm_tiled: C = op(A) · op(B) [+ bias broadcast over rows] [then ReLU].
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
  relu: u32,
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
// bounds checks), then every invocation accumulates its own 8 x 8 block of C
// in registers: per k, two vec4s of A (8 rows) and two vec4s of B (8
// columns) give 16 vec4 FMAs. Invocation (x, y) owns rows 8y..8y+7 and
// columns 8x..8x+7 of the tile, so TILE_M = 8 * WORKGROUP_Y and
// TILE_N = 8 * WORKGROUP_X.
//
// Why 8 x 8: on the CPU adapters every workgroup-memory read is a per-lane
// gather, so FMAs per read is what counts; 8 x 8 does 4 FMAs per read where
// 4 x 4 does 2, and measured about twice as fast on lavapipe at 512^3. (The
// block is written out by hand: a private array indexed in loops was not
// kept in registers and ran 3x slower.)
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
// The workgroup is WORKGROUP_X x WORKGROUP_Y invocations; the C tile follows
// from it (8 x 8 per invocation). TILE_K must be a multiple of 4. The
// defaults, 64 x 64 x 32 tiles (16 KiB) on 64 invocations, measured best on
// lavapipe among 32/64 tiles and TILE_K 16/32/64.
override WORKGROUP_X: u32 = 8;
override WORKGROUP_Y: u32 = 8;
override TILE_K: u32 = 32;

// Loads and the tile layout work in groups of 4 floats.
const BLOCK: u32 = 4u;
// Rows (and columns) of C per invocation.
const PER_THREAD: u32 = 8u;
// Derived, not meant to be set: the C tile a workgroup owns.
override TILE_M: u32 = WORKGROUP_Y * PER_THREAD;
override TILE_N: u32 = WORKGROUP_X * PER_THREAD;

var<workgroup> tile_a: array<vec4f, TILE_K * TILE_M / BLOCK>;
var<workgroup> tile_b: array<vec4f, TILE_K * TILE_N / BLOCK>;

fn load_a(row: u32, p: u32) -> f32 {
  let m = params.m;
  let k = params.k;
  if (row >= m || p >= k) {
    return 0.0;
  }
  if (TRANS_A) {
    return a[p * m + row];
  }
  return a[row * k + p];
}

fn load_b(p: u32, col: u32) -> f32 {
  let n = params.n;
  let k = params.k;
  if (p >= k || col >= n) {
    return 0.0;
  }
  if (TRANS_B) {
    return b[col * k + p];
  }
  return b[p * n + col];
}

// Four contiguous floats of A starting at flat index i, when in bounds.
fn load_a4(i: u32, ok: bool) -> vec4f {
  if (!ok) {
    return vec4f(0.0);
  }
  return vec4f(a[i], a[i + 1u], a[i + 2u], a[i + 3u]);
}

fn load_b4(i: u32, ok: bool) -> vec4f {
  if (!ok) {
    return vec4f(0.0);
  }
  return vec4f(b[i], b[i + 1u], b[i + 2u], b[i + 3u]);
}

// Copies op(A)[m0 .. m0 + TILE_M, k0 .. k0 + TILE_K] into tile_a.
fn fill_tile_a(m0: u32, k0: u32, lid: u32, threads: u32) {
  let m = params.m;
  let k = params.k;
  let quads_m = TILE_M / BLOCK;
  let quads_k = TILE_K / BLOCK;
  for (var v = lid; v < quads_m * TILE_K; v += threads) {
    if (TRANS_A) {
      // Stored (k, m): 4 consecutive rows at one depth are contiguous.
      let kk = v / quads_m;
      let iq = v % quads_m;
      let row = m0 + iq * BLOCK;
      let p = k0 + kk;
      var val: vec4f;
      if (VEC4_A) {
        val = load_a4(p * m + row, p < k && row < m);
      } else {
        val = vec4f(load_a(row, p), load_a(row + 1u, p), load_a(row + 2u, p), load_a(row + 3u, p));
      }
      tile_a[kk * quads_m + iq] = val;
    } else {
      // Stored (m, k): 4 consecutive depths of one row are contiguous.
      let i = v / quads_k;
      let kq = v % quads_k;
      let row = m0 + i;
      let p = k0 + kq * BLOCK;
      var val: vec4f;
      if (VEC4_A) {
        val = load_a4(row * k + p, row < m && p < k);
      } else {
        val = vec4f(load_a(row, p), load_a(row, p + 1u), load_a(row, p + 2u), load_a(row, p + 3u));
      }
      let base = kq * BLOCK * quads_m + i / BLOCK;
      let lane = i % BLOCK;
      tile_a[base][lane] = val.x;
      tile_a[base + quads_m][lane] = val.y;
      tile_a[base + 2u * quads_m][lane] = val.z;
      tile_a[base + 3u * quads_m][lane] = val.w;
    }
  }
}

// Copies op(B)[k0 .. k0 + TILE_K, n0 .. n0 + TILE_N] into tile_b.
fn fill_tile_b(k0: u32, n0: u32, lid: u32, threads: u32) {
  let n = params.n;
  let k = params.k;
  let quads_n = TILE_N / BLOCK;
  let quads_k = TILE_K / BLOCK;
  for (var v = lid; v < quads_n * TILE_K; v += threads) {
    if (TRANS_B) {
      // Stored (n, k): 4 consecutive depths of one column are contiguous.
      let j = v / quads_k;
      let kq = v % quads_k;
      let col = n0 + j;
      let p = k0 + kq * BLOCK;
      var val: vec4f;
      if (VEC4_B) {
        val = load_b4(col * k + p, col < n && p < k);
      } else {
        val = vec4f(load_b(p, col), load_b(p + 1u, col), load_b(p + 2u, col), load_b(p + 3u, col));
      }
      let base = kq * BLOCK * quads_n + j / BLOCK;
      let lane = j % BLOCK;
      tile_b[base][lane] = val.x;
      tile_b[base + quads_n][lane] = val.y;
      tile_b[base + 2u * quads_n][lane] = val.z;
      tile_b[base + 3u * quads_n][lane] = val.w;
    } else {
      // Stored (k, n): 4 consecutive columns at one depth are contiguous.
      let kk = v / quads_n;
      let jq = v % quads_n;
      let col = n0 + jq * BLOCK;
      let p = k0 + kk;
      var val: vec4f;
      if (VEC4_B) {
        val = load_b4(p * n + col, p < k && col < n);
      } else {
        val = vec4f(load_b(p, col), load_b(p, col + 1u), load_b(p, col + 2u), load_b(p, col + 3u));
      }
      tile_b[kk * quads_n + jq] = val;
    }
  }
}

// Writes 4 adjacent outputs of one row, with the bias and ReLU epilogue.
fn store_quad(row: u32, col0: u32, value: vec4f, bias4: vec4f) {
  let n = params.n;
  if (row >= params.m) {
    return;
  }
  var v = value + bias4;
  if (params.relu != 0u) {
    v = max(v, vec4f(0.0));
  }
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
  for (var q = 0u; q < BLOCK; q++) {
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
  for (var q = 0u; q < BLOCK; q++) {
    if (col0 + q < n) {
      b4[q] = bias[col0 + q];
    }
  }
  return b4;
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
  let quads_m = TILE_M / BLOCK;
  let quads_n = TILE_N / BLOCK;
  // This invocation's first quad of rows (in tile_a) and of columns (tile_b).
  let qa = lid.y * 2u;
  let qb = lid.x * 2u;

  // acc_r_h: row r of the 8 x 8 block, columns 4h..4h+3.
  var acc_0_0 = vec4f(0.0);
  var acc_0_1 = vec4f(0.0);
  var acc_1_0 = vec4f(0.0);
  var acc_1_1 = vec4f(0.0);
  var acc_2_0 = vec4f(0.0);
  var acc_2_1 = vec4f(0.0);
  var acc_3_0 = vec4f(0.0);
  var acc_3_1 = vec4f(0.0);
  var acc_4_0 = vec4f(0.0);
  var acc_4_1 = vec4f(0.0);
  var acc_5_0 = vec4f(0.0);
  var acc_5_1 = vec4f(0.0);
  var acc_6_0 = vec4f(0.0);
  var acc_6_1 = vec4f(0.0);
  var acc_7_0 = vec4f(0.0);
  var acc_7_1 = vec4f(0.0);

  let k_tiles = (params.k + TILE_K - 1u) / TILE_K;
  for (var t = 0u; t < k_tiles; t++) {
    let k0 = t * TILE_K;
    fill_tile_a(m0, k0, lindex, threads);
    fill_tile_b(k0, n0, lindex, threads);
    workgroupBarrier();
    for (var kk = 0u; kk < TILE_K; kk++) {
      let a_lo = tile_a[kk * quads_m + qa];
      let a_hi = tile_a[kk * quads_m + qa + 1u];
      let b_lo = tile_b[kk * quads_n + qb];
      let b_hi = tile_b[kk * quads_n + qb + 1u];
      acc_0_0 = fma(vec4f(a_lo.x), b_lo, acc_0_0);
      acc_0_1 = fma(vec4f(a_lo.x), b_hi, acc_0_1);
      acc_1_0 = fma(vec4f(a_lo.y), b_lo, acc_1_0);
      acc_1_1 = fma(vec4f(a_lo.y), b_hi, acc_1_1);
      acc_2_0 = fma(vec4f(a_lo.z), b_lo, acc_2_0);
      acc_2_1 = fma(vec4f(a_lo.z), b_hi, acc_2_1);
      acc_3_0 = fma(vec4f(a_lo.w), b_lo, acc_3_0);
      acc_3_1 = fma(vec4f(a_lo.w), b_hi, acc_3_1);
      acc_4_0 = fma(vec4f(a_hi.x), b_lo, acc_4_0);
      acc_4_1 = fma(vec4f(a_hi.x), b_hi, acc_4_1);
      acc_5_0 = fma(vec4f(a_hi.y), b_lo, acc_5_0);
      acc_5_1 = fma(vec4f(a_hi.y), b_hi, acc_5_1);
      acc_6_0 = fma(vec4f(a_hi.z), b_lo, acc_6_0);
      acc_6_1 = fma(vec4f(a_hi.z), b_hi, acc_6_1);
      acc_7_0 = fma(vec4f(a_hi.w), b_lo, acc_7_0);
      acc_7_1 = fma(vec4f(a_hi.w), b_hi, acc_7_1);
    }
    workgroupBarrier();
  }

  let row0 = m0 + lid.y * PER_THREAD;
  let col_lo = n0 + lid.x * PER_THREAD;
  let col_hi = col_lo + BLOCK;
  let bias_lo = load_bias4(col_lo);
  let bias_hi = load_bias4(col_hi);
  store_quad(row0, col_lo, acc_0_0, bias_lo);
  store_quad(row0, col_hi, acc_0_1, bias_hi);
  store_quad(row0 + 1u, col_lo, acc_1_0, bias_lo);
  store_quad(row0 + 1u, col_hi, acc_1_1, bias_hi);
  store_quad(row0 + 2u, col_lo, acc_2_0, bias_lo);
  store_quad(row0 + 2u, col_hi, acc_2_1, bias_hi);
  store_quad(row0 + 3u, col_lo, acc_3_0, bias_lo);
  store_quad(row0 + 3u, col_hi, acc_3_1, bias_hi);
  store_quad(row0 + 4u, col_lo, acc_4_0, bias_lo);
  store_quad(row0 + 4u, col_hi, acc_4_1, bias_hi);
  store_quad(row0 + 5u, col_lo, acc_5_0, bias_lo);
  store_quad(row0 + 5u, col_hi, acc_5_1, bias_hi);
  store_quad(row0 + 6u, col_lo, acc_6_0, bias_lo);
  store_quad(row0 + 6u, col_hi, acc_6_1, bias_hi);
  store_quad(row0 + 7u, col_lo, acc_7_0, bias_lo);
  store_quad(row0 + 7u, col_hi, acc_7_1, bias_hi);
}
