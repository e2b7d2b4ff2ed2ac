// out_f32: the output binding of a *_sg kernel as plain floats, for any
// row length. write4 writes the first `count` (<= 4) values of v at flat
// indices i0 .. i0 + count - 1.

@group(0) @binding(0) var<storage, read_write> out: array<f32>;

fn write4(i0: u32, v: vec4<f32>, count: u32) {
  for (var j = 0u; j < count; j++) {
    out[i0 + j] = v[j];
  }
}
