import source from '../../shaders/adam.wgsl?raw';
import { ShapeError } from '../errors';
import { requireFits, requirePositive, type BufferRef } from '../gpu/buffers';
import { getKernel, grid1d, type KernelSpec, type PreparedDispatch } from '../gpu/kernel';

const WORKGROUP_SIZE = 256;
const ELEMENTS_PER_THREAD = 16;

/** Keras' Adam defaults. */
export const ADAM_DEFAULTS = {
  lr: 1e-3,
  beta1: 0.9,
  beta2: 0.999,
  epsilon: 1e-7,
} as const;

export const adamSpec: KernelSpec = {
  name: 'adam',
  source,
  bindings: ['param', 'm', 'v', 'grad', 'step'],
  params: ['n', 'lr', 'beta1', 'beta2', 'epsilon'],
  constants: { WORKGROUP_SIZE, ELEMENTS_PER_THREAD },
};

export interface AdamBuffers {
  param: BufferRef;
  m: BufferRef;
  v: BufferRef;
  grad: BufferRef;
  step: BufferRef;
}

export interface AdamShape {
  n: number;
  lr?: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}

/**
 * One Adam step over n elements, in place on param, m and v, with
 * t = step[0] + 1 read on the GPU (so recorded steps need no host writes).
 */
export async function prepareAdam(
  device: GPUDevice,
  buffers: AdamBuffers,
  shape: AdamShape,
  label = 'adam',
): Promise<PreparedDispatch> {
  const { n } = shape;
  const lr = shape.lr ?? ADAM_DEFAULTS.lr;
  const beta1 = shape.beta1 ?? ADAM_DEFAULTS.beta1;
  const beta2 = shape.beta2 ?? ADAM_DEFAULTS.beta2;
  const epsilon = shape.epsilon ?? ADAM_DEFAULTS.epsilon;
  requirePositive(label, { n });
  if (!Number.isFinite(lr) || lr < 0) {
    throw new ShapeError(label, 'lr', `must be finite and >= 0, got ${lr}`);
  }
  for (const [name, beta] of [['beta1', beta1], ['beta2', beta2]] as const) {
    if (!(beta >= 0 && beta < 1)) {
      throw new ShapeError(label, name, `must lie in [0, 1), got ${beta}`);
    }
  }
  // epsilon > 0 keeps m / (sqrt(v) + epsilon) finite for a zero gradient.
  if (!Number.isFinite(epsilon) || !(Math.fround(epsilon) > 0)) {
    throw new ShapeError(label, 'epsilon', `must be > 0 in f32, got ${epsilon}`);
  }
  for (const name of ['param', 'm', 'v', 'grad'] as const) {
    requireFits(label, name, buffers[name], n);
  }
  requireFits(label, 'step', buffers.step, 1);
  const kernel = await getKernel(device, adamSpec);
  const [x, y] = grid1d(
    Math.ceil(n / (WORKGROUP_SIZE * ELEMENTS_PER_THREAD)),
    device.limits.maxComputeWorkgroupsPerDimension,
  );
  return kernel.prepare({
    label,
    resources: { ...buffers },
    params: { n, lr, beta1, beta2, epsilon },
    workgroups: [x, y],
  });
}
