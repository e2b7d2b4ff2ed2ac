import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors';
import { createStorage, readF32, readU32, uploadStorage } from '../../src/gpu/buffers';
import {
  maxPoolBackwardKernel,
  maxPoolChannelsPerThread,
  maxPoolGeometry,
  prepareMaxPoolBackward,
  prepareMaxPoolForward,
  type MaxPoolShape,
} from '../../src/kernels/maxpool';
import { maxPoolBackward, maxPoolForward } from '../../src/reference/maxpool';
import { Rng } from '../../src/util/rng';
import { allclose, allequal } from '../util/allclose';
import { runDispatches, testDevice } from '../util/device';

// The forward pass only compares and copies: values and argmax must be exact.
const EXACT = { atol: 0, rtol: 0 };

// How many windows one input element can belong to.
function windowsPerElement(s: MaxPoolShape): number {
  const sh = s.strideH ?? s.poolH;
  const sw = s.strideW ?? s.poolW;
  return Math.ceil(s.poolH / sh) * Math.ceil(s.poolW / sw);
}

// Backward: where windows do not overlap each dx element receives at most one
// dy, copied: exact. Where they overlap, the GPU sums up to k values of
// |dy| <= 1 in f32 and the reference in float64; the f32 sum's error is at
// most (k - 1) * 2^-24 * sum|dy| <= (k - 1) * k * 2^-24.
function backwardTolerance(s: MaxPoolShape) {
  const k = windowsPerElement(s);
  return { atol: (k - 1) * k * 2 ** -24, rtol: 0 };
}

function describeShape(s: MaxPoolShape): string {
  const stride = `${s.strideH ?? s.poolH}x${s.strideW ?? s.poolW}`;
  return `N${s.batch} ${s.inH}x${s.inW}x${s.channels} pool ${s.poolH}x${s.poolW} stride ${stride} ${s.padding ?? 'valid'}`;
}

/**
 * Runs forward then backward on the GPU and checks both against the
 * reference. The outputs start filled with garbage, so an element the kernel
 * forgets to write fails the test.
 */
async function checkMaxPool(x: Float32Array, shape: MaxPoolShape, relu: boolean, what: string) {
  const device = await testDevice();
  const { outH, outW } = maxPoolGeometry(shape);
  const inputs = x.length;
  const outputs = shape.batch * outH * outW * shape.channels;
  const rng = new Rng(inputs + outputs);
  const dyHost = rng.floats(outputs);

  const xBuf = uploadStorage(device, x, 'x');
  const y = uploadStorage(device, new Float32Array(outputs).fill(-77), 'y');
  const argmax = uploadStorage(device, new Uint32Array(outputs).fill(0xffffffff), 'argmax');
  const dx = uploadStorage(device, new Float32Array(inputs).fill(123), 'dx');
  const dy = uploadStorage(device, dyHost, 'dy');

  const forward = await prepareMaxPoolForward(device, { y, argmax, x: xBuf }, shape);
  const backward = await prepareMaxPoolBackward(device, { dx, dy, argmax, y }, { ...shape, relu });
  await runDispatches(device, [forward, backward]);

  const ref = maxPoolForward(x, shape);
  const tag = `${what} ${describeShape(shape)}${relu ? ' relu' : ''}`;
  allclose(`maxpool_forward y ${tag}`, await readF32(device, y, outputs), ref.y, EXACT);
  allequal(`maxpool_forward argmax ${tag}`, await readU32(device, argmax, outputs), ref.argmax);
  const dxGot = await readF32(device, dx, inputs);
  allclose(
    `maxpool_backward dx ${tag}`,
    dxGot,
    maxPoolBackward(dyHost, ref.argmax, ref.y, { ...shape, relu }),
    backwardTolerance(shape),
  );
  for (const d of [forward, backward]) d.destroy();
  return dxGot;
}

function randomInput(shape: MaxPoolShape, seed: number): Float32Array {
  return new Rng(seed).floats(shape.batch * shape.inH * shape.inW * shape.channels);
}

describe('maxpool', () => {
  for (const batch of [1, 2]) {
    it(`pool1 of the reference CNN, batch ${batch}: last row and column get zero gradient`, async () => {
      const shape: MaxPoolShape = { batch, inH: 25, inW: 25, channels: 32, poolH: 2, poolW: 2 };
      const dx = await checkMaxPool(randomInput(shape, 1 + batch), shape, false, 'pool1');
      // Row 24 and column 24 lie in no 2x2 window.
      let stray = 0;
      for (let n = 0; n < batch; n++) {
        for (let i = 0; i < 25; i++) {
          for (let c = 0; c < 32; c++) {
            stray += Math.abs(dx[((n * 25 + 24) * 25 + i) * 32 + c]);
            stray += Math.abs(dx[((n * 25 + i) * 25 + 24) * 32 + c]);
          }
        }
      }
      expect(stray).toBe(0);
    });

    it(`pool2 of the reference CNN, batch ${batch}`, async () => {
      const shape: MaxPoolShape = { batch, inH: 10, inW: 10, channels: 64, poolH: 2, poolW: 2 };
      await checkMaxPool(randomInput(shape, 10 + batch), shape, false, 'pool2');
    });

    it(`pool1 with the ReLU fused (about half the inputs are 0), batch ${batch}`, async () => {
      const shape: MaxPoolShape = { batch, inH: 25, inW: 25, channels: 32, poolH: 2, poolW: 2 };
      // ReLU outputs: negatives clipped to exactly 0, so many windows are all zero.
      const x = randomInput(shape, 20 + batch).map((v) => Math.max(v - 0.6, 0));
      await checkMaxPool(x, shape, true, 'pool1');
    });
  }

  const awkward: MaxPoolShape[] = [
    { batch: 2, inH: 7, inW: 5, channels: 3, poolH: 2, poolW: 2 },
    { batch: 2, inH: 7, inW: 5, channels: 3, poolH: 3, poolW: 3, strideH: 2, strideW: 2 },
    {
      batch: 2,
      inH: 7,
      inW: 5,
      channels: 3,
      poolH: 3,
      poolW: 3,
      strideH: 2,
      strideW: 2,
      padding: 'same',
    },
    {
      batch: 1,
      inH: 7,
      inW: 5,
      channels: 3,
      poolH: 3,
      poolW: 2,
      strideH: 1,
      strideW: 3,
      padding: 'same',
    },
    {
      batch: 1,
      inH: 6,
      inW: 9,
      channels: 5,
      poolH: 3,
      poolW: 3,
      strideH: 1,
      strideW: 1,
      padding: 'same',
    },
    { batch: 3, inH: 25, inW: 25, channels: 1, poolH: 2, poolW: 2, padding: 'same' },
    { batch: 1, inH: 4, inW: 4, channels: 1, poolH: 4, poolW: 4 },
    // Four channels per thread (C % 4 == 0): overlapping windows (the vec4
    // forward feeding the scalar gather), 'same' padding, stride > pool.
    { batch: 2, inH: 7, inW: 5, channels: 4, poolH: 3, poolW: 3, strideH: 2, strideW: 2 },
    { batch: 1, inH: 7, inW: 9, channels: 8, poolH: 2, poolW: 2, padding: 'same' },
    { batch: 2, inH: 8, inW: 7, channels: 12, poolH: 2, poolW: 2, strideH: 3, strideW: 3 },
    // Stride larger than the pool: rows and columns between windows get 0.
    { batch: 2, inH: 8, inW: 7, channels: 3, poolH: 2, poolW: 2, strideH: 3, strideW: 3 },
    {
      batch: 1,
      inH: 9,
      inW: 5,
      channels: 5,
      poolH: 2,
      poolW: 1,
      strideH: 3,
      strideW: 2,
      padding: 'same',
    },
  ];
  it('the awkward shapes exercise every kernel: both backward ones, with 1 and 4 channels per thread', () => {
    const kernels = new Set(awkward.map((s) => `${maxPoolBackwardKernel(s)}/${maxPoolChannelsPerThread(s)}`));
    expect([...kernels].sort()).toEqual(['disjoint/1', 'disjoint/4', 'gather/1', 'gather/4']);
    // Disjoint needs stride >= pool on both axes; 3x3 stride 2 overlaps.
    expect(maxPoolBackwardKernel(awkward[0])).toBe('disjoint');
    expect(maxPoolBackwardKernel(awkward[1])).toBe('gather');
  });

  for (const [k, shape] of awkward.entries()) {
    it(`awkward shape ${describeShape(shape)}`, async () => {
      await checkMaxPool(randomInput(shape, 100 + k), shape, false, 'random');
    });

    it(`ties: all zeros and 3 levels, ${describeShape(shape)}`, async () => {
      const size = shape.batch * shape.inH * shape.inW * shape.channels;
      await checkMaxPool(new Float32Array(size), shape, false, 'all zeros');
      const levels = randomInput(shape, 200 + k).map((v) => Math.round(v));
      await checkMaxPool(levels, shape, false, '3 levels');
    });

    it(`ReLU fused, mostly non-positive inputs, ${describeShape(shape)}`, async () => {
      // Non-positive inputs after a ReLU are exact zeros; quantising makes
      // positive ties too.
      const x = randomInput(shape, 300 + k).map((v) => Math.max(Math.round(v * 4) / 4 - 0.5, 0));
      await checkMaxPool(x, shape, true, 'relu ties');
      const size = shape.batch * shape.inH * shape.inW * shape.channels;
      const dx = await checkMaxPool(new Float32Array(size), shape, true, 'relu all zeros');
      expect(dx.every((v) => v === 0)).toBe(true);
    });
  }

  it('backward gathers from every overlapping window that picked the element', async () => {
    // A 5x5 input whose centre is the largest: every 3x3 stride-2 window
    // (there are 4) picks it, and its gradient is the sum of all four dy.
    const shape: MaxPoolShape = {
      batch: 1,
      inH: 5,
      inW: 5,
      channels: 1,
      poolH: 3,
      poolW: 3,
      strideH: 2,
      strideW: 2,
    };
    const x = new Float32Array(25);
    x[12] = 1;
    const dx = await checkMaxPool(x, shape, false, 'shared centre');
    expect(dx[12]).not.toBe(0);
  });

  it('runs a large batch (1000 images of pool1: the grid z axis is the batch)', async () => {
    const shape: MaxPoolShape = { batch: 1000, inH: 25, inW: 25, channels: 32, poolH: 2, poolW: 2 };
    await checkMaxPool(randomInput(shape, 7), shape, false, 'eval batch');
  });

  it('rejects bad shapes and small buffers before dispatching', async () => {
    const device = await testDevice();
    const big = createStorage(device, 1 << 16, 'big');
    const small = createStorage(device, 64, 'small');
    const shape: MaxPoolShape = { batch: 2, inH: 10, inW: 10, channels: 4, poolH: 2, poolW: 2 };
    const fwd = { y: big, argmax: big, x: big };
    const bwd = { dx: big, dy: big, argmax: big, y: big };
    await expect(prepareMaxPoolForward(device, fwd, { ...shape, poolH: 11 })).rejects.toThrow(
      /maxpool_forward: poolH/,
    );
    await expect(prepareMaxPoolForward(device, fwd, { ...shape, inW: 1 })).rejects.toThrow(
      ShapeError,
    );
    await expect(
      prepareMaxPoolBackward(device, bwd, { ...shape, poolW: 11, relu: false }),
    ).rejects.toThrow(/maxpool_backward: poolW/);
    await expect(prepareMaxPoolForward(device, fwd, { ...shape, strideH: 0 })).rejects.toThrow(
      /maxpool_forward: strideH/,
    );
    await expect(prepareMaxPoolForward(device, fwd, { ...shape, channels: 2.5 })).rejects.toThrow(
      /maxpool_forward: channels/,
    );
    await expect(prepareMaxPoolForward(device, { ...fwd, x: small }, shape)).rejects.toThrow(
      /maxpool_forward: x/,
    );
    await expect(prepareMaxPoolForward(device, { ...fwd, argmax: small }, shape)).rejects.toThrow(
      /maxpool_forward: argmax/,
    );
    await expect(
      prepareMaxPoolBackward(device, { ...bwd, dx: small }, { ...shape, relu: true }),
    ).rejects.toThrow(/maxpool_backward: dx/);
    await expect(
      prepareMaxPoolBackward(device, { ...bwd, y: small }, { ...shape, relu: false }),
    ).rejects.toThrow(/maxpool_backward: y/);
    // The batch runs along the grid's z axis.
    const limit = device.limits.maxComputeWorkgroupsPerDimension;
    await expect(
      prepareMaxPoolForward(device, fwd, { ...shape, batch: limit + 1 }),
    ).rejects.toThrow(/maxpool_forward: batch: needs \d+ workgroups/);
    // 'same' padding accepts a pool larger than the input, as Keras does.
    expect(maxPoolGeometry({ ...shape, poolH: 11, strideH: 2, padding: 'same' })).toEqual({
      outH: 5,
      outW: 5,
      padTop: 4,
      padLeft: 0,
    });
  });
});
