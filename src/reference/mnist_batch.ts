// CPU reference for the batch gather. The shader scales by the f32 nearest
// 1/255 with one correctly rounded f32 multiply; this mirrors that exactly
// (the product of an 8-bit and a 24-bit integer is exact in float64, then
// rounded once to f32), so the GPU must match it bit for bit.

export const INVALID_LABEL = 0xffffffff;
const INV_255_F32 = Math.fround(1 / 255);

export interface MnistBatchResult {
  /** (batch, pixels), f32 values. */
  x: Float64Array;
  /** (batch); INVALID_LABEL for a row that could not be gathered. */
  labels: Uint32Array;
}

/**
 * Same argument order as the shader: outputs returned, then images and labels
 * as plain bytes, the perm, step[1] (the batch index), then sizes. `permLength`
 * is the length of the perm binding the shader sees (arrayLength), which may
 * exceed perm.length when the buffer is padded; positions beyond perm.length
 * read the padding as 0.
 */
export function mnistBatch(
  images: Uint8Array,
  labelBytes: Uint8Array,
  perm: ArrayLike<number>,
  batchIndex: number,
  shape: { batch: number; imageCount: number; pixels: number; permLength?: number },
): MnistBatchResult {
  const { batch, imageCount, pixels } = shape;
  const permLength = shape.permLength ?? perm.length;
  const x = new Float64Array(batch * pixels);
  const labels = new Uint32Array(batch);
  for (let r = 0; r < batch; r++) {
    const position = batchIndex * batch + r;
    const image = position < permLength ? (perm[position] ?? 0) : imageCount;
    if (image >= imageCount) {
      labels[r] = INVALID_LABEL;
      continue; // x stays 0
    }
    for (let p = 0; p < pixels; p++) {
      x[r * pixels + p] = Math.fround(images[image * pixels + p] * INV_255_F32);
    }
    labels[r] = labelBytes[image];
  }
  return { x, labels };
}
