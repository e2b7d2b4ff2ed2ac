// div_floor: integer division by float reciprocal, for the conv2d kernels
// that split flat indices (conv2d_backward_input, conv2d_backward_filter);
// included before them, next to either GEMM core.

// floor(t / d) for |t| < 2^22 and d >= 1, given inv = 1 / d: a float
// multiply is a vector op, where integer division runs one lane at a time on
// the CPU adapters. The estimate is off by at most one even with an inexact
// reciprocal (WGSL allows 2.5 ulp for 1 / d); one integer step corrects it.
fn div_floor4(t: vec4<i32>, d: i32, inv: f32) -> vec4<i32> {
  let q = vec4<i32>(floor((vec4<f32>(t) + 0.5) * inv));
  let r = t - q * d;
  let low = select(vec4(0), vec4(1), r < vec4(0));
  let high = select(vec4(0), vec4(1), r >= vec4(d));
  return q - low + high;
}

fn div_floor(t: i32, d: i32, inv: f32) -> i32 {
  return div_floor4(vec4(t), d, inv).x;
}
