import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors';
import { createStorage, readF32, uploadStorage } from '../../src/gpu/buffers';
import { PEAK_FMA_CHAINS, preparePeakCopy, preparePeakFma } from '../../src/kernels/peak';
import { peakCopy, peakFma } from '../../src/reference/peak';
import { Rng } from '../../src/util/rng';
import { allclose } from '../util/allclose';
import { runDispatches, testDevice } from '../util/device';

// Every case keeps each intermediate exactly representable in f32 (a = 1 or
// a power of two, integers and quarters far below 2^24), so an FMA, a
// multiply-then-add and the float64 reference all give the same bits: any
// difference means a step, a chain or an invocation was skipped or repeated.
const EXACT = { atol: 0, rtol: 0 };

describe('peak_fma', () => {
  const cases = [
    // Counting chains: x0 + iterations, over an awkward thread count.
    { threads: 1, iterations: 1, a: 1, b: 1 },
    { threads: 333, iterations: 1000, a: 1, b: 1 },
    // Doubling chains: 2x + 1 for 10 steps stays below 2^17.
    { threads: 200, iterations: 10, a: 2, b: 1 },
    // Halving: x / 2 - 0.25 for 6 steps keeps quarters exact down to 2^-8.
    { threads: 65, iterations: 6, a: 0.5, b: -0.25 },
  ];
  for (const chains of PEAK_FMA_CHAINS) {
    for (const c of cases) {
      it(`matches the reference, chains=${chains} ${JSON.stringify(c)}`, async () => {
        const device = await testDevice();
        const out = createStorage(device, c.threads * 16, 'out');
        const d = await preparePeakFma(device, { out }, { ...c, chains });
        await runDispatches(device, [d]);
        allclose(
          `peak_fma chains=${chains} threads=${c.threads} iterations=${c.iterations}`,
          await readF32(device, out, c.threads * 4),
          peakFma({ ...c, chains }),
          EXACT,
        );
      });
    }
  }

  it('covers more than 65535 workgroups with a 2-D grid', async () => {
    const device = await testDevice();
    const threads = 65536 * 2 + 3;
    const out = createStorage(device, threads * 16, 'out');
    const d = await preparePeakFma(device, { out }, { threads, iterations: 3, chains: 1, workgroupSize: 1 });
    await runDispatches(device, [d]);
    allclose('peak_fma 2-D grid', await readF32(device, out, threads * 4), peakFma({ threads, iterations: 3, chains: 1, a: 1, b: 1 }), EXACT);
  });

  it('rejects a bad shape or a small buffer before dispatching', async () => {
    const device = await testDevice();
    const out = createStorage(device, 64, 'out');
    await expect(preparePeakFma(device, { out }, { threads: 5, iterations: 1 })).rejects.toThrow(/peak_fma: out/);
    await expect(preparePeakFma(device, { out }, { threads: 1, iterations: 0 })).rejects.toThrow(ShapeError);
    await expect(
      preparePeakFma(device, { out }, { threads: 1, iterations: 1, chains: 3 as 4 }),
    ).rejects.toThrow(/peak_fma: chains/);
  });
});

describe('peak_copy', () => {
  for (const n of [4, 1020, 256 * 4 * 70]) {
    it(`copies exactly, n=${n}`, async () => {
      const device = await testDevice();
      const host = new Rng(n).floats(n);
      const dst = createStorage(device, n * 4, 'dst');
      const d = await preparePeakCopy(device, { dst, src: uploadStorage(device, host, 'src') }, { n });
      await runDispatches(device, [d]);
      // A copy does no arithmetic: it must be exact.
      allclose(`peak_copy n=${n}`, await readF32(device, dst, n), peakCopy(host), EXACT);
    });
  }

  it('rejects a length not a multiple of 4 or a small buffer', async () => {
    const device = await testDevice();
    const small = createStorage(device, 64, 'small');
    const big = createStorage(device, 4096, 'big');
    await expect(preparePeakCopy(device, { dst: big, src: big }, { n: 6 })).rejects.toThrow(/peak_copy: n/);
    await expect(preparePeakCopy(device, { dst: big, src: small }, { n: 64 })).rejects.toThrow(/peak_copy: src/);
  });
});
