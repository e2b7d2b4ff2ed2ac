// Seeded random "MNIST-like" data for GPU tests that need a split but not
// real digits: sparse bright strokes on black, uniform labels.
import type { MnistSplit } from '../../src/data/mnist';
import { Rng } from '../../src/util/rng';

export function randomSplit(count: number, seed: number, rows = 28, cols = 28, classes = 10): MnistSplit {
  const rng = new Rng(seed);
  const images = new Uint8Array(count * rows * cols);
  for (let i = 0; i < images.length; i++) images[i] = rng.next() < 0.2 ? rng.int(256) : 0;
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) labels[i] = rng.int(classes);
  return { images, labels, count, rows, cols };
}
