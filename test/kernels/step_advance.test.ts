import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors';
import { readU32, uploadStorage } from '../../src/gpu/buffers';
import { prepareStepAdvance } from '../../src/kernels/step_advance';
import { allequal } from '../util/allclose';
import { runDispatches, testDevice } from '../util/device';

describe('step_advance', () => {
  it('adds 1 to step[0] and step[1] per dispatch and touches nothing else', async () => {
    const device = await testDevice();
    const step = uploadStorage(device, new Uint32Array([5, 7, 42, 43]), 'step');
    const d = await prepareStepAdvance(device, { step });
    await runDispatches(device, [d, d]);
    allequal('step after two dispatches', await readU32(device, step, 4), [7, 9, 42, 43]);
  });

  it('rejects a step buffer of fewer than 2 entries', async () => {
    const device = await testDevice();
    const buffer = uploadStorage(device, new Uint32Array(4), 'step');
    const slice = { buffer, offset: 0, size: 4 };
    await expect(prepareStepAdvance(device, { step: slice })).rejects.toThrow(ShapeError);
    await expect(prepareStepAdvance(device, { step: slice })).rejects.toThrow(/step_advance: step/);
  });
});
