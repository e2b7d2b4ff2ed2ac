import source from '../../shaders/softmax_cross_entropy.wgsl?raw';
import { requireFits, requirePositive, type BufferRef } from '../gpu/buffers';
import { getKernel, type KernelSpec, type PreparedDispatch } from '../gpu/kernel';

// One workgroup reduces the whole batch (deterministic sums); 256 threads is
// the most every adapter allows and keeps each thread to ~4 rows at B = 1000.
const WORKGROUP_SIZE = 256;

export const softmaxCrossEntropySpec: KernelSpec = {
  name: 'softmax_cross_entropy',
  source,
  bindings: ['dlogits', 'loss', 'pred', 'metrics', 'logits', 'labels'],
  params: ['batch', 'classes'],
  constants: { WORKGROUP_SIZE },
};

export interface SoftmaxCrossEntropyBuffers {
  dlogits: BufferRef;
  loss: BufferRef;
  pred: BufferRef;
  metrics: BufferRef;
  logits: BufferRef;
  labels: BufferRef;
}

/**
 * loss = -log softmax(logits)[label], dlogits = (softmax - onehot) / B,
 * pred = argmax; metrics[0..2] += (sum of loss, correct, rows). Overwrites
 * dlogits, loss and pred; accumulates into metrics. Rows whose label is >= C
 * are skipped (zero loss and gradient, not counted in metrics).
 */
export async function prepareSoftmaxCrossEntropy(
  device: GPUDevice,
  buffers: SoftmaxCrossEntropyBuffers,
  shape: { batch: number; classes: number },
  label = 'softmax_cross_entropy',
): Promise<PreparedDispatch> {
  const { batch, classes } = shape;
  requirePositive(label, { batch, classes });
  requireFits(label, 'dlogits', buffers.dlogits, batch * classes);
  requireFits(label, 'loss', buffers.loss, batch);
  requireFits(label, 'pred', buffers.pred, batch);
  requireFits(label, 'metrics', buffers.metrics, 3);
  requireFits(label, 'logits', buffers.logits, batch * classes);
  requireFits(label, 'labels', buffers.labels, batch);
  const kernel = await getKernel(device, softmaxCrossEntropySpec);
  return kernel.prepare({
    label,
    resources: { ...buffers },
    params: { batch, classes },
    workgroups: [1],
  });
}
