import source from '../../shaders/relu_backward.wgsl?raw';
import { requireFits, requirePositive, type BufferRef } from '../gpu/buffers';
import { getKernel, grid1d, type KernelSpec, type PreparedDispatch } from '../gpu/kernel';

const WORKGROUP_SIZE = 256;

export const reluBackwardSpec: KernelSpec = {
  name: 'relu_backward',
  source,
  bindings: ['dx', 'dy', 'y'],
  params: ['n'],
  constants: { WORKGROUP_SIZE },
};

export interface ReluBackwardBuffers {
  dx: BufferRef;
  dy: BufferRef;
  y: BufferRef;
}

/** dx = dy * (y > 0) over n elements; overwrites dx. */
export async function prepareReluBackward(
  device: GPUDevice,
  buffers: ReluBackwardBuffers,
  shape: { n: number },
  label = 'relu_backward',
): Promise<PreparedDispatch> {
  const { n } = shape;
  requirePositive(label, { n });
  for (const name of ['dx', 'dy', 'y'] as const) requireFits(label, name, buffers[name], n);
  const kernel = await getKernel(device, reluBackwardSpec);
  const [x, y] = grid1d(Math.ceil(n / WORKGROUP_SIZE), device.limits.maxComputeWorkgroupsPerDimension);
  return kernel.prepare({ label, resources: { ...buffers }, params: { n }, workgroups: [x, y] });
}
