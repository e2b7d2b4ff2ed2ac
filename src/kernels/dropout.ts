import backwardSource from '../../shaders/dropout_backward.wgsl?raw';
import forwardSource from '../../shaders/dropout_forward.wgsl?raw';
import rngSource from '../../shaders/common/rng.wgsl?raw';
import { ShapeError } from '../errors';
import { requireFits, requirePositive, type BufferRef } from '../gpu/buffers';
import { getKernel, grid1d, type KernelSpec, type PreparedDispatch } from '../gpu/kernel';

// Inverted dropout with a counter-based RNG: the mask of a training step is a
// pure function of (seed, step[0], element), so steps recorded into one
// command buffer each draw a fresh mask with no host writes between them.

const WORKGROUP_SIZE = 256;

export const dropoutForwardSpec: KernelSpec = {
  name: 'dropout_forward',
  source: forwardSource,
  includes: [rngSource],
  bindings: ['y', 'mask', 'x', 'step'],
  params: ['n', 'seed', 'threshold', 'scale'],
  constants: { WORKGROUP_SIZE },
};

export const dropoutBackwardSpec: KernelSpec = {
  name: 'dropout_backward',
  source: backwardSource,
  bindings: ['dx', 'dy', 'mask'],
  params: ['n'],
  constants: { WORKGROUP_SIZE },
};

/**
 * The 24-bit integer k with u = k * 2^-24 kept exactly when k >= threshold,
 * i.e. u >= rate. rate * 2^24 is exact in float64 (a power-of-two scale).
 */
export function dropoutThreshold(rate: number): number {
  return Math.ceil(rate * 16777216);
}

export interface DropoutForwardBuffers {
  y: BufferRef;
  mask: BufferRef;
  x: BufferRef;
  /** The step state (u32); step[0] = optimizer steps completed. */
  step: BufferRef;
}

/**
 * mask[i] = 1 / (1 - rate) where u(seed, step[0], i) >= rate, else 0;
 * y = x * mask. Overwrites y and mask. rate in [0, 1).
 */
export async function prepareDropoutForward(
  device: GPUDevice,
  buffers: DropoutForwardBuffers,
  shape: { n: number; rate: number; seed: number },
  label = 'dropout_forward',
): Promise<PreparedDispatch> {
  const { n, rate, seed } = shape;
  requirePositive(label, { n });
  if (!(typeof rate === 'number' && rate >= 0 && rate < 1)) {
    throw new ShapeError(label, 'rate', `must be in [0, 1), got ${rate}`);
  }
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new ShapeError(label, 'seed', `must be a u32, got ${seed}`);
  }
  requireFits(label, 'y', buffers.y, n);
  requireFits(label, 'mask', buffers.mask, n);
  requireFits(label, 'x', buffers.x, n);
  requireFits(label, 'step', buffers.step, 1);
  const kernel = await getKernel(device, dropoutForwardSpec);
  const [x, y] = grid1d(
    Math.ceil(n / WORKGROUP_SIZE),
    device.limits.maxComputeWorkgroupsPerDimension,
  );
  return kernel.prepare({
    label,
    resources: { y: buffers.y, mask: buffers.mask, x: buffers.x, step: buffers.step },
    params: { n, seed, threshold: dropoutThreshold(rate), scale: 1 / (1 - rate) },
    workgroups: [x, y],
  });
}

export interface DropoutBackwardBuffers {
  dx: BufferRef;
  dy: BufferRef;
  mask: BufferRef;
}

/** dx = dy * mask over n elements; overwrites dx. */
export async function prepareDropoutBackward(
  device: GPUDevice,
  buffers: DropoutBackwardBuffers,
  shape: { n: number },
  label = 'dropout_backward',
): Promise<PreparedDispatch> {
  const { n } = shape;
  requirePositive(label, { n });
  requireFits(label, 'dx', buffers.dx, n);
  requireFits(label, 'dy', buffers.dy, n);
  requireFits(label, 'mask', buffers.mask, n);
  const kernel = await getKernel(device, dropoutBackwardSpec);
  const [x, y] = grid1d(
    Math.ceil(n / WORKGROUP_SIZE),
    device.limits.maxComputeWorkgroupsPerDimension,
  );
  return kernel.prepare({
    label,
    resources: { dx: buffers.dx, dy: buffers.dy, mask: buffers.mask },
    params: { n },
    workgroups: [x, y],
  });
}
