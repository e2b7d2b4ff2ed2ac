// out_vec4: the output binding of a *_sg kernel as vec4s, for rows whose
// length is a multiple of 4 (then a quad of columns never straddles two
// rows, and count is 4, or 0 for a quad past the row's end). One store per quad instead of four: on the
// CPU adapters each store at a lane-varying address is a loop over the
// lanes, and for a short reduction (conv1's 16 taps) those loops are most
// of the kernel (1.5x faster conv1 forward on lavapipe).

@group(0) @binding(0) var<storage, read_write> out: array<vec4<f32>>;

fn write4(i0: u32, v: vec4<f32>, count: u32) {
  if (count == 4u) {
    out[i0 / 4u] = v;
  }
}
