// Max-pool forward (value + argmax) and backward (gather through the argmax,
// with the preceding ReLU's backward fused, as the training plan runs it) at
// both pools of the paper's CNN, batch 128. Memory-bound: reported in GB/s.

import { createStorage, readF32, readU32, uploadStorage } from '../src/gpu/buffers';
import { maxPoolGeometry, prepareMaxPoolBackward, prepareMaxPoolForward, type MaxPoolShape } from '../src/kernels/maxpool';
import { maxPoolBackward, maxPoolForward } from '../src/reference/maxpool';
import { Rng } from '../src/util/rng';
import { measureKernel, validate, type BenchContext, type BenchRow, type Ceilings } from './harness';
import type { TfjsPeer } from './tfjs';

export function poolCases(batch: number): { name: string; shape: MaxPoolShape }[] {
  return [
    { name: 'pool1', shape: { batch, inH: 25, inW: 25, channels: 32, poolH: 2, poolW: 2 } },
    { name: 'pool2', shape: { batch, inH: 10, inW: 10, channels: 64, poolH: 2, poolW: 2 } },
  ];
}

// Max, argmax and the gather move values without arithmetic (each input
// lies in at most one 2x2/2 window): exact.
const EXACT = { atol: 0, rtol: 0 };

export async function benchMaxPool(ctx: BenchContext, ceilings: Ceilings, peer: TfjsPeer | null): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const { device } = ctx;
  for (const { name, shape } of poolCases(128)) {
    const g = maxPoolGeometry(shape);
    const inputs = shape.batch * shape.inH * shape.inW * shape.channels;
    const outputs = shape.batch * g.outH * g.outW * shape.channels;
    const desc = `${shape.batch}x${shape.inH}x${shape.inW}x${shape.channels} -> ${g.outH}x${g.outW}`;
    // ReLU outputs: non-negative, with exact zeros, as in training.
    const xHost = new Rng(inputs).floats(inputs).map((v) => Math.max(v, 0));
    const dyHost = new Rng(outputs).floats(outputs);
    const ref = maxPoolForward(xHost, shape);

    const fwd: BenchRow = { group: 'maxpool', name: `${name} forward`, shape: desc, bound: 'memory', bytes: 4 * (inputs + 2 * outputs) };
    rows.push(
      await measureKernel(ctx, fwd, ceilings, async () => {
        const x = uploadStorage(device, xHost, 'x');
        const y = createStorage(device, outputs * 4, 'y');
        const argmax = createStorage(device, outputs * 4, 'argmax');
        const d = await prepareMaxPoolForward(device, { y, argmax, x }, shape, fwd.name);
        return {
          dispatches: [d],
          check: async () => {
            validate(`${fwd.name} argmax`, await readU32(device, argmax, outputs), ref.argmax, EXACT);
            return validate(`${fwd.name} y`, await readF32(device, y, outputs), ref.y, EXACT);
          },
          destroy: () => [x, y, argmax].forEach((b) => b.destroy()),
        };
      }, peer ? () => peer.maxPool(shape, 'forward') : undefined),
    );

    const bwd: BenchRow = { group: 'maxpool', name: `${name} backward (+relu)`, shape: desc, bound: 'memory', bytes: 4 * (inputs + 3 * outputs) };
    rows.push(
      await measureKernel(ctx, bwd, ceilings, async () => {
        const dx = createStorage(device, inputs * 4, 'dx');
        const dy = uploadStorage(device, dyHost, 'dy');
        const argmax = uploadStorage(device, ref.argmax, 'argmax');
        const y = uploadStorage(device, Float32Array.from(ref.y), 'y');
        const d = await prepareMaxPoolBackward(device, { dx, dy, argmax, y }, { ...shape, relu: true }, bwd.name);
        return {
          dispatches: [d],
          check: async () =>
            validate(bwd.name, await readF32(device, dx, inputs), maxPoolBackward(dyHost, ref.argmax, ref.y, { ...shape, relu: true }), EXACT),
          destroy: () => [dx, dy, argmax, y].forEach((b) => b.destroy()),
        };
      }, peer ? () => peer.maxPool(shape, 'backward') : undefined),
    );
  }
  return rows;
}
