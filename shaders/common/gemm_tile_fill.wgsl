// gemm_tile_fill: the tile loads gemm_tiled and gemm_blocked share (included
// before either). The kernel declares the bindings a and b, params (m, n, k),
// the overrides TRANS_A, TRANS_B, VEC4_A and VEC4_B, the tile sizes TILE_M,
// TILE_N and TILE_K, and the workgroup tiles tile_a and tile_b, both k-major
// vec4s: tile_a[kk * TILE_M / 4 + i / 4][i % 4] is row i at depth kk, and
// tile_b likewise for column j.

// Loads and the tile layout work in groups of 4 floats.
const QUAD: u32 = 4u;

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
  let quads_m = TILE_M / QUAD;
  let quads_k = TILE_K / QUAD;
  for (var v = lid; v < quads_m * TILE_K; v += threads) {
    if (TRANS_A) {
      // Stored (k, m): 4 consecutive rows at one depth are contiguous.
      let kk = v / quads_m;
      let iq = v % quads_m;
      let row = m0 + iq * QUAD;
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
      let p = k0 + kq * QUAD;
      var val: vec4f;
      if (VEC4_A) {
        val = load_a4(row * k + p, row < m && p < k);
      } else {
        val = vec4f(load_a(row, p), load_a(row, p + 1u), load_a(row, p + 2u), load_a(row, p + 3u));
      }
      let base = kq * QUAD * quads_m + i / QUAD;
      let lane = i % QUAD;
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
  let quads_n = TILE_N / QUAD;
  let quads_k = TILE_K / QUAD;
  for (var v = lid; v < quads_n * TILE_K; v += threads) {
    if (TRANS_B) {
      // Stored (n, k): 4 consecutive depths of one column are contiguous.
      let j = v / quads_k;
      let kq = v % quads_k;
      let col = n0 + j;
      let p = k0 + kq * QUAD;
      var val: vec4f;
      if (VEC4_B) {
        val = load_b4(col * k + p, col < n && p < k);
      } else {
        val = vec4f(load_b(p, col), load_b(p + 1u, col), load_b(p + 2u, col), load_b(p + 3u, col));
      }
      let base = kq * QUAD * quads_n + j / QUAD;
      let lane = j % QUAD;
      tile_b[base][lane] = val.x;
      tile_b[base + quads_n][lane] = val.y;
      tile_b[base + 2u * quads_n][lane] = val.z;
      tile_b[base + 3u * quads_n][lane] = val.w;
    } else {
      // Stored (k, n): 4 consecutive columns at one depth are contiguous.
      let kk = v / quads_n;
      let jq = v % quads_n;
      let col = n0 + jq * QUAD;
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
