import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors';
import { createStorage, readF32, uploadStorage } from '../../src/gpu/buffers';
import { prepareAvgPoolBackward, prepareAvgPoolForward, type AvgPoolShape } from '../../src/kernels/avgpool';
import { maxPoolGeometry } from '../../src/kernels/maxpool';
import { avgPoolBackward, avgPoolForward } from '../../src/reference/avgpool';
import { Rng } from '../../src/util/rng';
import { allclose } from '../util/allclose';
import { runDispatches, testDevice } from '../util/device';

// Inputs are multiples of 1/16 in [-1, 1]: every window sum (at most 9
// terms) is exact in f32, so only the one division by the count rounds
// (0.5 ulp). dx sums at most 4 quotients: a few ulp. 2e-7 relative covers both;
// a dropped or misplaced term is off by >= 1/144.
const TOL = { atol: 1e-7, rtol: 2e-7 };

const cases: [string, AvgPoolShape][] = [
  ['the paper CNN pool, 25x25x32 -> 12x12, batch 1', { batch: 1, inH: 25, inW: 25, channels: 32, poolH: 2, poolW: 2 }],
  ['odd: 7x9x3, 2x2 same (edge windows cover less), batch 2', { batch: 2, inH: 7, inW: 9, channels: 3, poolH: 2, poolW: 2, padding: 'same' }],
  ['overlapping 3x3 stride 2 same, 6x5x5', { batch: 1, inH: 6, inW: 5, channels: 5, poolH: 3, poolW: 3, strideH: 2, strideW: 2, padding: 'same' }],
  ['2x3 window stride (1, 2), 5x8x1, batch 3', { batch: 3, inH: 5, inW: 8, channels: 1, poolH: 2, poolW: 3, strideH: 1, strideW: 2 }],
];

describe('avgpool kernels vs reference', () => {
  for (const [what, shape] of cases) {
    it(what, async () => {
      const device = await testDevice();
      const g = maxPoolGeometry(shape);
      const nx = shape.batch * shape.inH * shape.inW * shape.channels;
      const ny = shape.batch * g.outH * g.outW * shape.channels;
      const rng = new Rng(nx + ny);
      const quantized = (n: number) => Float32Array.from({ length: n }, () => (rng.int(33) - 16) / 16);
      const xHost = quantized(nx);
      const dyHost = quantized(ny);
      const y = uploadStorage(device, new Float32Array(ny).fill(NaN), 'y');
      const dx = uploadStorage(device, new Float32Array(nx).fill(NaN), 'dx');
      await runDispatches(device, [
        await prepareAvgPoolForward(device, { y, x: uploadStorage(device, xHost, 'x') }, shape),
        await prepareAvgPoolBackward(device, { dx, dy: uploadStorage(device, dyHost, 'dy') }, shape),
      ]);
      allclose(`avgpool_forward ${what}`, await readF32(device, y, ny), avgPoolForward(xHost, shape), TOL);
      allclose(`avgpool_backward ${what}`, await readF32(device, dx, nx), avgPoolBackward(dyHost, shape), TOL);
    });
  }

  it('rejects small buffers and pools larger than a valid input, naming the kernel', async () => {
    const device = await testDevice();
    const small = createStorage(device, 16, 'small');
    const big = createStorage(device, 4096, 'big');
    const shape: AvgPoolShape = { batch: 1, inH: 8, inW: 8, channels: 4, poolH: 2, poolW: 2 };
    await expect(prepareAvgPoolForward(device, { y: big, x: small }, shape)).rejects.toThrow(/avgpool_forward: x/);
    await expect(prepareAvgPoolBackward(device, { dx: big, dy: big }, { ...shape, poolH: 9 })).rejects.toThrow(ShapeError);
  });
});
