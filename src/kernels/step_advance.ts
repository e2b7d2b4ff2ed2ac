import source from '../../shaders/step_advance.wgsl?raw';
import { requireFits, type BufferRef } from '../gpu/buffers';
import { getKernel, type KernelSpec, type PreparedDispatch } from '../gpu/kernel';

export const stepAdvanceSpec: KernelSpec = {
  name: 'step_advance',
  source,
  bindings: ['step'],
  params: [],
};

/** step[0] += 1 and step[1] += 1, in place, by a single invocation. */
export async function prepareStepAdvance(
  device: GPUDevice,
  buffers: { step: BufferRef },
  label = 'step_advance',
): Promise<PreparedDispatch> {
  requireFits(label, 'step', buffers.step, 2);
  const kernel = await getKernel(device, stepAdvanceSpec);
  return kernel.prepare({ label, resources: { ...buffers }, workgroups: [1] });
}
