// MNIST as the engine uses it: u8 pixels (count, rows, cols) row-major and u8
// labels, checked once at load so the trainer can trust them.

import { FileFormatError, ShapeError } from '../errors';
import { parseIdx } from './idx';

export interface MnistSplit {
  /** count * rows * cols pixels, 0..255, row-major. */
  images: Uint8Array;
  /** count labels, each 0..9. */
  labels: Uint8Array;
  count: number;
  rows: number;
  cols: number;
}

export const MNIST_FILES = {
  train: {
    images: 'train-images-idx3-ubyte',
    labels: 'train-labels-idx1-ubyte',
  },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
};

export function parseMnist(
  images: Uint8Array | ArrayBuffer,
  labels: Uint8Array | ArrayBuffer,
  files: { images: string; labels: string },
): MnistSplit {
  const img = parseIdx(images, files.images, {
    type: 'u8',
    ndim: 3,
    what: 'MNIST images (u8, 3 dims: count x rows x cols)',
  });
  if (img.type !== 'u8' || img.dims.length !== 3) {
    throw new FileFormatError(
      files.images,
      `expected MNIST images (u8, 3 dims: count x rows x cols), found ${img.type} with dims ${img.dims.join('x')}`,
    );
  }
  const lab = parseIdx(labels, files.labels, {
    type: 'u8',
    ndim: 1,
    what: 'MNIST labels (u8, 1 dim: count)',
  });
  if (lab.type !== 'u8' || lab.dims.length !== 1) {
    throw new FileFormatError(
      files.labels,
      `expected MNIST labels (u8, 1 dim: count), found ${lab.type} with dims ${lab.dims.join('x')}`,
    );
  }
  const [count, rows, cols] = img.dims;
  if (lab.dims[0] !== count) {
    throw new FileFormatError(
      files.labels,
      `${lab.dims[0]} labels, but ${files.images} holds ${count} images`,
    );
  }
  for (let i = 0; i < count; i++) {
    if (lab.data[i] > 9) {
      throw new FileFormatError(
        files.labels,
        `label ${i} is ${lab.data[i]}, expected a digit 0..9`,
      );
    }
  }
  return { images: img.data, labels: lab.data, count, rows, cols };
}

/** The first `count` samples, as views into the same memory (no copy). */
export function mnistSubset(split: MnistSplit, count: number): MnistSplit {
  if (!Number.isInteger(count) || count < 0 || count > split.count) {
    throw new ShapeError(
      'mnistSubset',
      'count',
      `${count} is not an integer in 0..${split.count}`,
    );
  }
  const { rows, cols } = split;
  return {
    images: split.images.subarray(0, count * rows * cols),
    labels: split.labels.subarray(0, count),
    count,
    rows,
    cols,
  };
}
