// peak_copy: the adapter's memory-bandwidth ceiling, for the benchmarks. Not
// used in training.
//   dst: (n4) vec4  written (overwrites): dst = src
//   src: (n4) vec4
// One vec4 per invocation, neighbouring invocations on neighbouring vec4s:
// nothing but loads and stores, so the time is what moving 2 * 16 * n4
// bytes costs on this adapter. vec4 elements because wide accesses are what
// a bandwidth-bound kernel should use; the benchmark sizes are multiples of 4.

struct Params {
  n4: u32,
}

@group(0) @binding(0) var<storage, read_write> dst: array<vec4f>;
@group(0) @binding(1) var<storage, read> src: array<vec4f>;
@group(0) @binding(2) var<uniform> params: Params;

override WORKGROUP_SIZE: u32 = 256;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
) {
  let i = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
  if (i >= params.n4) {
    return;
  }
  dst[i] = src[i];
}
