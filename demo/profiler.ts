// GPU time per kernel from timestamp queries. One training step is encoded
// with one compute pass per dispatch of the step plan, each pass writing a
// timestamp at its start and end; the query set is resolved and read back.
// Profiling runs real training steps (Adam updates the weights), so the
// caller puts a snapshot back afterwards.

import { variantOf } from '../src/gpu/tune';
import type { StepPlan } from '../src/model/plan';

export interface KernelTime {
  /** The dispatch's label, e.g. "conv2d forward", and the kernel variant(s) it runs. */
  label: string;
  kernel: string;
  ms: number;
}

export interface StepProfile {
  kernels: KernelTime[];
  /** Sum of the per-kernel times of one step. */
  totalMs: number;
  /** Steps measured; each kernel's time is its median over them. */
  steps: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export function canProfile(device: GPUDevice): boolean {
  return device.features.has('timestamp-query');
}

/**
 * Times every dispatch of `steps` training steps (after one warm-up step,
 * which pays for first-use costs) and returns each kernel's median.
 */
export async function profileStep(device: GPUDevice, plan: StepPlan, steps = 3): Promise<StepProfile> {
  const n = plan.dispatches.length;
  const queries = 2 * n;
  const querySet = device.createQuerySet({ label: 'profiler timestamps', type: 'timestamp', count: queries });
  const resolve = device.createBuffer({
    label: 'profiler resolve',
    size: queries * 8,
    usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
  });
  const readback = device.createBuffer({
    label: 'profiler readback',
    size: queries * 8 * steps,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  try {
    const warm = device.createCommandEncoder({ label: 'profiler warm-up' });
    const pass = warm.beginComputePass({ label: 'profiler warm-up' });
    plan.encode(pass);
    pass.end();
    device.queue.submit([warm.finish()]);

    for (let s = 0; s < steps; s++) {
      const enc = device.createCommandEncoder({ label: `profiled step ${s}` });
      plan.dispatches.forEach((d, i) => {
        const p = enc.beginComputePass({
          label: d.label,
          timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 },
        });
        d.encode(p);
        p.end();
      });
      enc.resolveQuerySet(querySet, 0, queries, resolve, 0);
      enc.copyBufferToBuffer(resolve, 0, readback, s * queries * 8, queries * 8);
      device.queue.submit([enc.finish()]);
    }
    await readback.mapAsync(GPUMapMode.READ);
    const ticks = new BigUint64Array(readback.getMappedRange().slice(0));
    readback.unmap();
    const kernels = plan.dispatches.map((d, i) => {
      const per: number[] = [];
      for (let s = 0; s < steps; s++) {
        const begin = ticks[s * queries + 2 * i];
        const end = ticks[s * queries + 2 * i + 1];
        // Timestamps are nanoseconds; an implementation may return zeros or
        // reorder them when it cannot measure a pass, which reads as 0 here.
        per.push(end > begin ? Number(end - begin) / 1e6 : 0);
      }
      return { label: d.label, kernel: variantOf(d), ms: median(per) };
    });
    return { kernels, totalMs: kernels.reduce((a, k) => a + k.ms, 0), steps };
  } finally {
    querySet.destroy();
    resolve.destroy();
    readback.destroy();
  }
}
