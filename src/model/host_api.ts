// Types and checks for the Trainer's host-device API: a graphics host that
// owns the GPUDevice and its command encoders lets the engine encode into
// them, so prediction and training interleave with the host's own frames and
// nothing goes through the CPU.

import { ShapeError } from '../errors';

export interface PredictIntoOptions {
  /** (count, H, W, C) f32 images in [0, 1]; needs COPY_SRC usage. */
  input: GPUBuffer;
  /** Byte offset of the first image in `input` (a multiple of 4). */
  inputOffset?: number;
  /** Receives (count, classes) f32 logits; needs COPY_DST usage. */
  output: GPUBuffer;
  /** Byte offset of the first logit in `output` (a multiple of 4). */
  outputOffset?: number;
  /** Images in the batch; preparePredict(count) must have been awaited. */
  count: number;
}

export interface EncodeTrainStepsOptions {
  /** Training steps to encode (at most to the end of the current epoch). */
  steps: number;
  /**
   * Where to copy the epoch's running metrics after the steps: 4 f32 (sum of
   * per-sample losses, correct predictions, samples seen, 0), 16 bytes at
   * `offset`, into a buffer with COPY_DST usage.
   */
  metrics?: { buffer: GPUBuffer; offset?: number };
}

export interface EncodedTrainSteps {
  /** Steps actually encoded: fewer than asked when the epoch ends first. */
  steps: number;
  /** True when these steps finish the epoch (no evaluation is run). */
  epochDone: boolean;
}

/** Throws ShapeError unless `buffer` holds `bytes` from `offset` and has `usage`. */
export function checkHostBuffer(
  where: string,
  name: string,
  buffer: GPUBuffer,
  offset: number,
  bytes: number,
  usage: number,
  usageName: string,
): void {
  if (!Number.isInteger(offset) || offset < 0 || offset % 4 !== 0) {
    throw new ShapeError(where, name, `offset ${offset} is not a non-negative multiple of 4`);
  }
  if (offset + bytes > buffer.size) {
    throw new ShapeError(
      where,
      name,
      `needs ${bytes} bytes from offset ${offset}, but buffer '${buffer.label}' has ${buffer.size}`,
    );
  }
  if ((buffer.usage & usage) === 0) {
    throw new ShapeError(where, name, `buffer '${buffer.label}' needs ${usageName} usage`);
  }
}

// Trainer has a [Symbol.dispose]() method. Declared here so a user's tsc
// accepts the declarations without lib "esnext.disposable" or @types/node
// (identical declarations from either merge with this one). At run time,
// where Symbol.dispose does not exist (Chrome < 125, Node < 20.4), the
// method is simply unreachable; destroy() is the same thing.
declare global {
  interface SymbolConstructor {
    readonly dispose: unique symbol;
  }
}
