import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors';
import { createStorage, readF32, uploadStorage } from '../../src/gpu/buffers';
import { prepareReluBackward } from '../../src/kernels/relu';
import { reluBackward } from '../../src/reference/relu';
import { Rng } from '../../src/util/rng';
import { allclose } from '../util/allclose';
import { runDispatches, testDevice } from '../util/device';

// A select between dy and 0 involves no arithmetic: the GPU must be exact.
const EXACT = { atol: 0, rtol: 0 };

describe('relu_backward', () => {
  for (const n of [1, 255, 257, 128 * 10 * 10 * 64]) {
    it(`matches the reference, n=${n}`, async () => {
      const device = await testDevice();
      const rng = new Rng(n);
      const dyHost = rng.floats(n);
      // Exact zeros in y must route no gradient.
      const yHost = rng.floats(n).map((v) => (v < 0 ? 0 : v));
      const dx = createStorage(device, n * 4, 'dx');
      const d = await prepareReluBackward(
        device,
        { dx, dy: uploadStorage(device, dyHost, 'dy'), y: uploadStorage(device, yHost, 'y') },
        { n },
      );
      await runDispatches(device, [d]);
      allclose(`relu_backward n=${n}`, await readF32(device, dx, n), reluBackward(dyHost, yHost), EXACT);
    });
  }

  it('rejects a buffer too small before dispatching', async () => {
    const device = await testDevice();
    const small = createStorage(device, 64, 'small');
    const big = createStorage(device, 4096, 'big');
    await expect(
      prepareReluBackward(device, { dx: big, dy: small, y: big }, { n: 1000 }),
    ).rejects.toThrow(ShapeError);
    await expect(
      prepareReluBackward(device, { dx: big, dy: small, y: big }, { n: 1000 }),
    ).rejects.toThrow(/relu_backward: dy/);
  });
});
