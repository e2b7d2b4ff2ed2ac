// peak_fma: the adapter's compute ceiling, for the benchmarks. Not used in
// training.
//   out: (threads, 4)  written (overwrites)
// Every invocation i runs CHAINS independent vec4 chains of
//   x <- fma(x, a, b)
// for params.iterations steps, chain c starting at
//   x0 = f32(i % 64) + c + (0, 0.25, 0.5, 0.75),
// and writes the sum of its chains (in the fixed pairwise order below).
// That is iterations * CHAINS * 4 FMAs (2 flops each) per invocation and one
// vec4 store: nothing but arithmetic, so the time is the adapter's FMA rate.

struct Params {
  threads: u32,
  iterations: u32,
  a: f32,
  b: f32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<uniform> params: Params;

// Why a and b come from the uniform: as constants, the compiler could fold
// the chain (with a = 1 it is x0 + n * b). Unknown at compile time, every
// step is a real dependent FMA. With a = 1 and b = 1 the result is exact in
// f32 (x0 + iterations, while below 2^24), so a check can demand equality.
//
// Why several chains: one chain waits the FMA latency between steps; a CPU
// adapter keeps 8-16 independent FMAs in flight over its SIMD lanes, and a
// GPU hides latency across warps but still likes some independent work per
// thread. Too many chains spill registers on the CPU adapters (16 ymm on
// AVX2), so CHAINS is an override and the benchmark takes the best of a few.
// CHAINS is 1, 2, 4 or 8; the branches on it fold away at pipeline creation.
override WORKGROUP_SIZE: u32 = 64;
override CHAINS: u32 = 4;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
) {
  // A 2-D grid covers more than 65535 workgroups.
  let i = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
  if (i >= params.threads) {
    return;
  }
  let a = vec4f(params.a);
  let b = vec4f(params.b);
  var x0 = vec4f(f32(i % 64u)) + vec4f(0.0, 0.25, 0.5, 0.75);
  var x1 = x0 + vec4f(1.0);
  var x2 = x0 + vec4f(2.0);
  var x3 = x0 + vec4f(3.0);
  var x4 = x0 + vec4f(4.0);
  var x5 = x0 + vec4f(5.0);
  var x6 = x0 + vec4f(6.0);
  var x7 = x0 + vec4f(7.0);
  for (var t = 0u; t < params.iterations; t++) {
    x0 = fma(x0, a, b);
    if (CHAINS >= 2u) {
      x1 = fma(x1, a, b);
    }
    if (CHAINS >= 4u) {
      x2 = fma(x2, a, b);
      x3 = fma(x3, a, b);
    }
    if (CHAINS >= 8u) {
      x4 = fma(x4, a, b);
      x5 = fma(x5, a, b);
      x6 = fma(x6, a, b);
      x7 = fma(x7, a, b);
    }
  }
  // Chains that did not run contribute nothing.
  var s = x0;
  if (CHAINS >= 2u) {
    s += x1;
  }
  if (CHAINS >= 4u) {
    s += x2 + x3;
  }
  if (CHAINS >= 8u) {
    s += (x4 + x5) + (x6 + x7);
  }
  out[4u * i] = s.x;
  out[4u * i + 1u] = s.y;
  out[4u * i + 2u] = s.z;
  out[4u * i + 3u] = s.w;
}
