import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors';
import { createStorage, readF32, readU32, uploadStorage, type BufferRef } from '../../src/gpu/buffers';
import { INVALID_LABEL, packBytes, prepareMnistBatch } from '../../src/kernels/mnist_batch';
import { mnistBatch } from '../../src/reference/mnist_batch';
import { Rng } from '../../src/util/rng';
import { allequal } from '../util/allclose';
import { runDispatches, testDevice } from '../util/device';

// A gather, a shift, a mask and one correctly rounded f32 multiply (which the
// reference performs identically): every output must match exactly.

interface Dataset {
  images: Uint8Array;
  labelBytes: Uint8Array;
  imageCount: number;
  pixels: number;
}

function randomDataset(imageCount: number, pixels: number, seed: number): Dataset {
  const rng = new Rng(seed);
  const images = new Uint8Array(imageCount * pixels);
  for (let i = 0; i < images.length; i++) images[i] = rng.int(256);
  // Make sure the extremes 0 and 255 occur.
  images[0] = 0;
  images[1] = 255;
  const labelBytes = new Uint8Array(imageCount);
  for (let i = 0; i < imageCount; i++) labelBytes[i] = rng.int(10);
  return { images, labelBytes, imageCount, pixels };
}

async function gather(
  data: Dataset,
  perm: Uint32Array,
  batchIndex: number,
  batch: number,
  permRef?: (device: GPUDevice) => BufferRef,
) {
  const device = await testDevice();
  const { imageCount, pixels } = data;
  // Fill the outputs with garbage: the kernel must overwrite every element.
  const x = uploadStorage(device, new Float32Array(batch * pixels).fill(7), 'x');
  const labels = uploadStorage(device, new Uint32Array(batch).fill(77), 'labels');
  const permBuffer = permRef ? permRef(device) : uploadStorage(device, perm, 'perm');
  const d = await prepareMnistBatch(
    device,
    {
      x,
      labels,
      images: uploadStorage(device, packBytes(data.images), 'images'),
      labelBytes: uploadStorage(device, packBytes(data.labelBytes), 'labelBytes'),
      perm: permBuffer,
      step: uploadStorage(device, new Uint32Array([123, batchIndex]), 'step'),
    },
    { batch, imageCount, pixels },
  );
  await runDispatches(device, [d]);
  return { x: await readF32(device, x, batch * pixels), labels: await readU32(device, labels, batch) };
}

function check(
  name: string,
  got: { x: Float32Array; labels: Uint32Array },
  want: ReturnType<typeof mnistBatch>,
) {
  allequal(`${name} x`, got.x, want.x);
  allequal(`${name} labels`, got.labels, want.labels);
}

describe('mnist_batch', () => {
  const datasets = [randomDataset(400, 784, 1), randomDataset(401, 5, 2)];
  for (const data of datasets) {
    for (const batch of [1, 3, 128]) {
      for (const batchIndex of [0, 2]) {
        const name = `mnist_batch pixels=${data.pixels} batch=${batch} step=${batchIndex}`;
        it(`gathers exactly, ${name}`, async () => {
          const perm = new Rng(batch + batchIndex).permutation(data.imageCount);
          const got = await gather(data, perm, batchIndex, batch);
          // createStorage pads perm to 16 bytes; the shader sees the padding
          // (zeros) as entries, so the reference is told the padded length.
          const permLength = Math.ceil(perm.length / 4) * 4;
          const shape = { ...data, batch, permLength };
          check(name, got, mnistBatch(data.images, data.labelBytes, perm, batchIndex, shape));
        });
      }
    }
  }

  it('maps bytes 0 and 255 to exactly 0 and 1', async () => {
    const data = randomDataset(4, 5, 3);
    const got = await gather(data, new Uint32Array([0, 1, 2, 3]), 0, 1);
    expect(got.x[0]).toBe(0);
    expect(got.x[1]).toBe(1);
  });

  it('writes zeros and INVALID_LABEL for image indices >= imageCount', async () => {
    const data = randomDataset(10, 5, 4);
    const perm = new Uint32Array([3, 10, 0xffffffff, 9, 2, 11, 0, 1]);
    const got = await gather(data, perm, 0, 8);
    const want = mnistBatch(data.images, data.labelBytes, perm, 0, { ...data, batch: 8 });
    check('mnist_batch bad images', got, want);
    const badLabels = [got.labels[1], got.labels[2], got.labels[5]];
    allequal('bad image labels', badLabels, Array(3).fill(INVALID_LABEL));
    allequal('bad image rows', got.x.subarray(5, 15), new Float32Array(10));
  });

  it('writes zeros and INVALID_LABEL for rows past the end of perm', async () => {
    const data = randomDataset(10, 7, 5);
    const perm = new Uint32Array([5, 4, 3, 2, 1, 0, 9, 8]); // exactly 32 bytes
    // Batch 3, batch index 2: positions 6 and 7 exist, position 8 does not.
    let got = await gather(data, perm, 2, 3);
    let want = mnistBatch(data.images, data.labelBytes, perm, 2, { ...data, batch: 3 });
    check('mnist_batch past the end', got, want);
    allequal('past the end labels', got.labels, [data.labelBytes[9], data.labelBytes[8], INVALID_LABEL]);
    // A batch index so large that index * batch would wrap around u32.
    got = await gather(data, perm, 0x80000001, 3);
    want = mnistBatch(data.images, data.labelBytes, perm, 0x80000001, { ...data, batch: 3 });
    check('mnist_batch wrapped index', got, want);
    allequal('wrapped index labels', got.labels, Array(3).fill(INVALID_LABEL));
  });

  it('respects the length of a perm slice', async () => {
    const data = randomDataset(20, 5, 6);
    const perm = new Rng(6).permutation(20);
    // perm lives at byte offset 256 of a larger buffer, seen through a slice of
    // 5 entries; the buffer holds valid indices after the slice that must not
    // be read.
    const host = new Uint32Array(64 + 20);
    host.set(perm, 64);
    const slice = (device: GPUDevice) => ({
      buffer: uploadStorage(device, host, 'perm buffer'),
      offset: 256,
      size: 20,
    });
    const got = await gather(data, perm.subarray(0, 5), 1, 4, slice);
    const want = mnistBatch(data.images, data.labelBytes, perm.subarray(0, 5), 1, { ...data, batch: 4 });
    check('mnist_batch perm slice', got, want);
    allequal('perm slice labels', got.labels.subarray(1), Array(3).fill(INVALID_LABEL));
  });

  it('packs bytes little-endian with zero padding', () => {
    allequal('packBytes', packBytes(new Uint8Array([1, 2, 3, 4, 0xff])), [0x04030201, 0xff]);
  });

  it('rejects a buffer too small before dispatching', async () => {
    const device = await testDevice();
    const big = createStorage(device, 1 << 16, 'big');
    const small = createStorage(device, 1000, 'small');
    const buffers = { x: big, labels: big, images: small, labelBytes: big, perm: big, step: big };
    const shape = { batch: 2, imageCount: 10, pixels: 784 };
    await expect(prepareMnistBatch(device, buffers, shape)).rejects.toThrow(ShapeError);
    await expect(prepareMnistBatch(device, buffers, shape)).rejects.toThrow(/mnist_batch: images/);
    await expect(
      prepareMnistBatch(device, { ...buffers, images: big }, { ...shape, pixels: 0 }),
    ).rejects.toThrow(/mnist_batch: pixels/);
  });
});
