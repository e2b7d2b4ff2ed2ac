import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors';
import { createStorage, readF32, uploadStorage } from '../../src/gpu/buffers';
import { prepareDropoutBackward, prepareDropoutForward } from '../../src/kernels/dropout';
import { dropoutBackward, dropoutForward } from '../../src/reference/dropout';
import { Rng } from '../../src/util/rng';
import { allclose, allequal } from '../util/allclose';
import { runDispatches, testDevice } from '../util/device';

// y = x * mask and dx = dy * mask: the GPU multiplies by the f32 rounding of
// 1 / (1 - rate) and rounds the product, the reference does neither, so
// |gpu - ref| <= |ref| * (2^-24 + 2^-24 (1 + 2^-24)): within 2^-23 (1 + 2^-24)
// relative. A wrong mask element is off by 100%, far outside this.
const F32_PRODUCT = { atol: 0, rtol: 2 ** -23 * (1 + 2 ** -24) };

/** Forward then backward on the GPU; outputs start as garbage to catch unwritten elements. */
async function runDropout(
  x: Float32Array,
  dy: Float32Array,
  rate: number,
  seed: number,
  step: [number, number],
) {
  const device = await testDevice();
  const n = x.length;
  const garbage = new Float32Array(n).fill(-55);
  const y = uploadStorage(device, garbage, 'y');
  const mask = uploadStorage(device, garbage, 'mask');
  const dx = uploadStorage(device, garbage, 'dx');
  const stepBuf = uploadStorage(device, new Uint32Array(step), 'step');
  const forward = await prepareDropoutForward(
    device,
    { y, mask, x: uploadStorage(device, x, 'x'), step: stepBuf },
    { n, rate, seed },
  );
  const backward = await prepareDropoutBackward(
    device,
    { dx, dy: uploadStorage(device, dy, 'dy'), mask },
    { n },
  );
  await runDispatches(device, [forward, backward]);
  const out = {
    y: await readF32(device, y, n),
    mask: await readF32(device, mask, n),
    dx: await readF32(device, dx, n),
  };
  forward.destroy();
  backward.destroy();
  return out;
}

async function checkDropout(n: number, rate: number, seed: number, step: [number, number]) {
  const rng = new Rng(n + seed);
  const x = rng.floats(n);
  const dy = rng.floats(n);
  const got = await runDropout(x, dy, rate, seed, step);
  const ref = dropoutForward(x, rate, seed, step[0]);
  const what = `n=${n} rate=${rate} seed=${seed} step=${step[0]}`;
  // The mask is stored as f32: compare with the reference rounded the same way.
  allequal(`dropout_forward mask ${what}`, got.mask, Float32Array.from(ref.mask));
  allclose(`dropout_forward y ${what}`, got.y, ref.y, F32_PRODUCT);
  allclose(`dropout_backward dx ${what}`, got.dx, dropoutBackward(dy, ref.mask), F32_PRODUCT);
  return got;
}

function keptFraction(mask: Float32Array): number {
  let kept = 0;
  for (const m of mask) if (m > 0) kept++;
  return kept / mask.length;
}

describe('dropout', () => {
  for (const [n, rate, step] of [
    [1, 0.25, 0],
    [255, 0.25, 3],
    [1600, 0.25, 0], // batch 1 of the reference CNN
    [2 * 1600, 0.25, 17], // batch 2
    [4097, 0.3, 1000], // threshold not a whole number of 2^-24 steps
    [4097, 0.9, 2],
  ] as const) {
    it(`GPU mask equals the reference exactly, n=${n} rate=${rate} step=${step}`, async () => {
      await checkDropout(n, rate, 1234, [step, 0]);
    });
  }

  it('keeps a fraction 1 - rate of 100k elements, within 5 standard deviations', async () => {
    const n = 100_003;
    const rate = 0.25;
    const { mask } = await checkDropout(n, rate, 77, [5, 2]);
    // Binomial: sd of the kept fraction = sqrt(0.25 * 0.75 / n) = 0.00137.
    const bound = 5 * Math.sqrt((rate * (1 - rate)) / n);
    const kept = keptFraction(mask);
    console.log(`[stat] kept ${kept.toFixed(5)} of ${n}, want 0.75 +- ${bound.toFixed(5)}`);
    expect(Math.abs(kept - (1 - rate))).toBeLessThan(bound);
  });

  it('a different step[0] gives a different mask; step[1] does not matter', async () => {
    const n = 100_000;
    const rate = 0.25;
    const rng = new Rng(3);
    const x = rng.floats(n);
    const dy = rng.floats(n);
    const a = (await runDropout(x, dy, rate, 9, [40, 0])).mask;
    const b = (await runDropout(x, dy, rate, 9, [41, 0])).mask;
    const c = (await runDropout(x, dy, rate, 9, [40, 13])).mask;
    allequal('dropout mask with another step[1]', c, a);
    let differ = 0;
    for (let i = 0; i < n; i++) if (a[i] !== b[i]) differ++;
    // Independent masks differ with probability 2 * 0.25 * 0.75 = 0.375 per
    // element; the sd over 100k is 0.0015, so 0.01 is over 6 sd.
    console.log(`[stat] step 40 vs 41: ${differ / n} of the mask differs, want 0.375`);
    expect(Math.abs(differ / n - 0.375)).toBeLessThan(0.01);
  });

  it('rate 0 keeps everything and copies x exactly', async () => {
    const n = 3000;
    const rng = new Rng(8);
    const x = rng.floats(n);
    const dy = rng.floats(n);
    const got = await runDropout(x, dy, 0, 5, [3, 0]);
    allequal('dropout mask rate 0', got.mask, new Float32Array(n).fill(1));
    allequal('dropout y rate 0', got.y, x);
    allequal('dropout dx rate 0', got.dx, dy);
  });

  it('rejects bad rates, seeds and small buffers before dispatching', async () => {
    const device = await testDevice();
    const big = createStorage(device, 4096, 'big');
    const small = createStorage(device, 64, 'small');
    const fwd = { y: big, mask: big, x: big, step: big };
    const shape = { n: 1000, rate: 0.25, seed: 1 };
    for (const rate of [1, 1.5, -0.1, NaN]) {
      await expect(prepareDropoutForward(device, fwd, { ...shape, rate })).rejects.toThrow(
        /dropout_forward: rate/,
      );
    }
    await expect(prepareDropoutForward(device, fwd, { ...shape, seed: -1 })).rejects.toThrow(
      /dropout_forward: seed/,
    );
    await expect(prepareDropoutForward(device, fwd, { ...shape, n: 0 })).rejects.toThrow(
      ShapeError,
    );
    await expect(prepareDropoutForward(device, { ...fwd, mask: small }, shape)).rejects.toThrow(
      /dropout_forward: mask/,
    );
    // A zero-length view of a buffer stands in for a missing step state.
    const noStep = { buffer: big, offset: 0, size: 0 };
    await expect(prepareDropoutForward(device, { ...fwd, step: noStep }, shape)).rejects.toThrow(
      /dropout_forward: step/,
    );
    await expect(
      prepareDropoutBackward(device, { dx: big, dy: small, mask: big }, { n: 1000 }),
    ).rejects.toThrow(/dropout_backward: dy/);
  });
});
