import source from '../../shaders/mnist_batch.wgsl?raw';
import { requireFits, requirePositive, type BufferRef } from '../gpu/buffers';
import { getKernel, grid1d, type KernelSpec, type PreparedDispatch } from '../gpu/kernel';

const WORKGROUP_SIZE = 256;

/** The label mnist_batch writes for a row it could not gather. */
export const INVALID_LABEL = 0xffffffff;

export const mnistBatchSpec: KernelSpec = {
  name: 'mnist_batch',
  source,
  bindings: ['x', 'labels', 'images', 'labelBytes', 'perm', 'step'],
  params: ['batch', 'imageCount', 'pixels'],
  constants: { WORKGROUP_SIZE },
};

export interface MnistBatchBuffers {
  x: BufferRef;
  labels: BufferRef;
  images: BufferRef;
  labelBytes: BufferRef;
  perm: BufferRef;
  step: BufferRef;
}

/**
 * Packs bytes 4 per u32, little-endian (byte k is bits 8*(k%4).. of word
 * k/4), zero-padding the last word: the layout mnist_batch reads.
 */
export function packBytes(u8: Uint8Array): Uint32Array {
  const words = new Uint32Array(Math.ceil(u8.length / 4));
  for (let k = 0; k < u8.length; k++) {
    words[k >> 2] |= u8[k] << ((k & 3) * 8);
  }
  return words;
}

/**
 * x = images[perm[step[1] * batch + r]] / 255 and labels = their labels, for
 * r < batch; overwrites both. The perm entries and step live on the GPU, so
 * only sizes are checked here: a row whose perm position is past the end of
 * the perm binding (the whole buffer, padding included, unless a slice is
 * given), or whose image index is >= imageCount, becomes zeros with label
 * INVALID_LABEL, which softmax_cross_entropy skips.
 */
export async function prepareMnistBatch(
  device: GPUDevice,
  buffers: MnistBatchBuffers,
  shape: { batch: number; imageCount: number; pixels: number },
  label = 'mnist_batch',
): Promise<PreparedDispatch> {
  const { batch, imageCount, pixels } = shape;
  requirePositive(label, { batch, imageCount, pixels });
  requireFits(label, 'x', buffers.x, batch * pixels);
  requireFits(label, 'labels', buffers.labels, batch);
  requireFits(label, 'images', buffers.images, Math.ceil((imageCount * pixels) / 4));
  requireFits(label, 'labelBytes', buffers.labelBytes, Math.ceil(imageCount / 4));
  requireFits(label, 'perm', buffers.perm, batch);
  requireFits(label, 'step', buffers.step, 2);
  const kernel = await getKernel(device, mnistBatchSpec);
  const [x, y] = grid1d(
    Math.ceil((batch * pixels) / WORKGROUP_SIZE),
    device.limits.maxComputeWorkgroupsPerDimension,
  );
  return kernel.prepare({
    label,
    resources: { ...buffers },
    params: { batch, imageCount, pixels },
    workgroups: [x, y],
  });
}
