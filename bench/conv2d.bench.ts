// conv2d forward (bias + ReLU fused), backward-input and backward-filter (with
// the bias gradient) at both convolutions of the paper's CNN, batch 128; the
// same ops on TF.js (fused conv2d, Conv2DBackpropInput, Conv2DBackpropFilter).

import { createStorage, readF32, uploadStorage } from '../src/gpu/buffers';
import * as conv from '../src/kernels/conv2d';
import { conv2dBackwardFilter, conv2dBackwardInput, conv2dForward } from '../src/reference/conv2d';
import { Rng } from '../src/util/rng';
import { measureKernel, validate, type BenchContext, type BenchRow, type Ceilings } from './harness';
import type { TfjsPeer } from './tfjs';

export function convCases(batch: number): { name: string; shape: conv.Conv2dShape & { relu: boolean } }[] {
  return [
    { name: 'conv1', shape: { batch, inH: 28, inW: 28, inC: 1, outC: 32, kernelH: 4, kernelW: 4, padding: 'valid', relu: true } },
    { name: 'conv2', shape: { batch, inH: 12, inW: 12, inC: 32, outC: 64, kernelH: 3, kernelW: 3, padding: 'valid', relu: true } },
  ];
}

/**
 * f32 sums of `terms` products of values in [-1, 1]: the rounding error of a
 * blocked sum stays below terms * 2^-24 times the largest partial sum
 * (~sqrt(terms)); terms * 2^-22 bounds it with room for any summation order.
 */
const sumTol = (terms: number) => ({ atol: terms * 2 ** -22, rtol: 1e-5 });

export async function benchConv2d(ctx: BenchContext, ceilings: Ceilings, peer: TfjsPeer | null): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const { device } = ctx;
  for (const { name, shape } of convCases(128)) {
    const g = conv.conv2dGeometry(shape);
    const xSize = shape.batch * shape.inH * shape.inW * shape.inC;
    const wSize = shape.kernelH * shape.kernelW * shape.inC * shape.outC;
    const pixels = shape.batch * g.outH * g.outW;
    const ySize = pixels * shape.outC;
    const depth = shape.kernelH * shape.kernelW * shape.inC;
    const flops = 2 * pixels * shape.outC * depth;
    const desc = `${shape.batch}x${shape.inH}x${shape.inW}x${shape.inC} * ${shape.kernelH}x${shape.kernelW}x${shape.inC}x${shape.outC}`;
    const rng = new Rng(xSize + wSize);
    const xHost = rng.floats(xSize);
    const wHost = rng.floats(wSize);
    const bHost = rng.floats(shape.outC);
    const dyHost = rng.floats(ySize);
    const bytes = 4 * (xSize + wSize + ySize);

    const fwd: BenchRow = { group: 'conv2d', name: `${name} forward (+bias, relu)`, shape: desc, bound: 'compute', flops, bytes };
    rows.push(
      await measureKernel(ctx, fwd, ceilings, async () => {
        const x = uploadStorage(device, xHost, 'x');
        const w = uploadStorage(device, wHost, 'w');
        const b = uploadStorage(device, bHost, 'b');
        const y = createStorage(device, ySize * 4, 'y');
        const d = await conv.prepareConv2dForward(device, { y, x, w, b }, shape, fwd.name);
        return {
          dispatches: [d],
          check: async () =>
            validate(fwd.name, await readF32(device, y, ySize), conv2dForward(xHost, wHost, bHost, shape), sumTol(depth)),
          destroy: () => [x, w, b, y].forEach((t) => t.destroy()),
        };
      }, peer ? () => peer.conv2d(shape, 'forward') : undefined),
    );

    // conv1's input gradient is never computed in training (nothing before
    // it has parameters), but the kernel is benchmarked at both shapes.
    const bin: BenchRow = { group: 'conv2d', name: `${name} backward-input`, shape: desc, bound: 'compute', flops, bytes };
    rows.push(
      await measureKernel(ctx, bin, ceilings, async () => {
        const dx = createStorage(device, xSize * 4, 'dx');
        const dy = uploadStorage(device, dyHost, 'dy');
        const w = uploadStorage(device, wHost, 'w');
        const d = await conv.prepareConv2dBackwardInput(device, { dx, dy, w }, shape, bin.name);
        // dx sums over KH * KW * K products.
        const terms = shape.kernelH * shape.kernelW * shape.outC;
        return {
          dispatches: [d],
          check: async () => validate(bin.name, await readF32(device, dx, xSize), conv2dBackwardInput(dyHost, wHost, shape), sumTol(terms)),
          destroy: () => [dx, dy, w].forEach((t) => t.destroy()),
        };
      }, peer ? () => peer.conv2d(shape, 'backward-input') : undefined),
    );

    const bfl: BenchRow = { group: 'conv2d', name: `${name} backward-filter (+bias)`, shape: desc, bound: 'compute', flops, bytes };
    rows.push(
      await measureKernel(ctx, bfl, ceilings, async () => {
        const dw = createStorage(device, wSize * 4, 'dw');
        const db = createStorage(device, shape.outC * 4, 'db');
        const x = uploadStorage(device, xHost, 'x');
        const dy = uploadStorage(device, dyHost, 'dy');
        const d = await conv.prepareConv2dBackwardFilter(device, { dw, db, x, dy }, shape, bfl.name);
        return {
          dispatches: [d],
          check: async () => {
            const want = conv2dBackwardFilter(xHost, dyHost, shape);
            // dw and db sum over every output pixel of the batch.
            validate(`${bfl.name} db`, await readF32(device, db, shape.outC), want.db, sumTol(pixels));
            return validate(`${bfl.name} dw`, await readF32(device, dw, wSize), want.dw, sumTol(pixels));
          },
          destroy: () => [dw, db, x, dy].forEach((t) => t.destroy()),
        };
      }, peer ? () => peer.conv2d(shape, 'backward-filter') : undefined),
    );
  }
  return rows;
}
