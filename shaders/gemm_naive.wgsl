// gemm_naive: C = f(op(A) · op(B) [+ bias broadcast over rows]), f the
// ACTIVATION of shaders/common/activation.wgsl (included before this file).
//   c:    (m, n)  written (overwrites)
//   a:    (m, k), or (k, m) when TRANS_A
//   b:    (k, n), or (n, k) when TRANS_B
//   bias: (n)     read only when params.use_bias != 0 (else a dummy buffer)
// One invocation per output element, no tiling: the baseline the tiled kernel
// is checked and timed against.

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

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override WORKGROUP_X: u32 = 16;
override WORKGROUP_Y: u32 = 16;

@compute @workgroup_size(WORKGROUP_X, WORKGROUP_Y)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let col = gid.x;
  let row = gid.y;
  let m = params.m;
  let n = params.n;
  let k = params.k;
  if (row >= m || col >= n) {
    return;
  }
  var sum = 0.0;
  for (var p = 0u; p < k; p++) {
    // TRANS_A / TRANS_B are pipeline constants: the branches fold away.
    var av: f32;
    if (TRANS_A) {
      av = a[p * m + row];
    } else {
      av = a[row * k + p];
    }
    var bv: f32;
    if (TRANS_B) {
      bv = b[col * k + p];
    } else {
      bv = b[p * n + col];
    }
    sum += av * bv;
  }
  if (params.use_bias != 0u) {
    sum += bias[col];
  }
  c[row * n + col] = activate(vec4(sum)).x;
}
