// pool_band: the band of input rows (or columns) a pooling window owns when
// windows do not overlap (stride >= pool), shared by maxpool_backward_disjoint
// and maxpool_backward_disjoint_vec4. Band o is [o * stride - pad,
// (o + 1) * stride - pad), the first one starting at 0 and the last one
// ending at size: the bands tile the axis exactly, and window o lies inside
// band o.

// [start, end) of band o along one axis of length size. pad < stride here
// (Keras's padding is less than the pool, and the pool is at most the
// stride), so o * stride - pad > 0 for o > 0.
fn pool_band(o: u32, outSize: u32, stride: u32, pad: u32, size: u32) -> vec2u {
  var start = 0u;
  if (o > 0u) {
    start = o * stride - pad;
  }
  var end = size;
  if (o + 1u < outSize) {
    end = min((o + 1u) * stride - pad, size);
  }
  return vec2u(start, end);
}
