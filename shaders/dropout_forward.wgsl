// dropout_forward: inverted dropout, y = x * mask.
//   y:    (n)  written (overwrites)
//   mask: (n)  written (overwrites): scale = 1 / (1 - rate) where kept, else 0
//   x:    (n)  input
//   step: (2)  step state (u32); only step[0], the optimizer step, is read
// The random word of element i is rng_hash(seed, step[0], i) (common/rng.wgsl).
// Element i is kept when u = (word >> 8) * 2^-24 >= rate. Since u is an
// integer k over 2^24, that is k >= ceil(rate * 2^24) = params.threshold: an
// integer compare, exact and identical to the float64 rule in the reference.
// The mask is stored (rather than recomputed in backward) because dropout
// backward then is a plain multiply and needs neither the seed nor the step.

struct Params {
  n: u32,
  seed: u32,
  threshold: u32,
  scale: f32,
}

@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<storage, read_write> mask: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> step: array<u32>;
@group(0) @binding(4) var<uniform> params: Params;

override WORKGROUP_SIZE: u32 = 256;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
) {
  // A 2-D grid covers n beyond 65535 workgroups.
  let i = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
  if (i >= params.n) {
    return;
  }
  let word = rng_hash(params.seed, step[0], i);
  let m = select(0.0, params.scale, rng_bits24(word) >= params.threshold);
  mask[i] = m;
  y[i] = x[i] * m;
}
