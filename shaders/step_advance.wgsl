// step_advance: moves the step counters on by one training step.
//   step: (>= 2) u32, updated in place: step[0] += 1 (optimizer steps done),
//         step[1] += 1 (batch index within the epoch)
// Recorded at the end of every training step, so many steps can share one
// command buffer with no host writes between them. One invocation: there is
// nothing to parallelise, and a single writer needs no atomics.

@group(0) @binding(0) var<storage, read_write> step: array<u32>;

@compute @workgroup_size(1)
fn main() {
  step[0] += 1u;
  step[1] += 1u;
}
