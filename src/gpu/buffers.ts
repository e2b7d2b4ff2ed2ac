import { AdapterLimitError, ShapeError } from '../errors';

// Small helpers to make and read storage buffers. Used by tests, benchmarks
// and the scheduler's setup; nothing here runs in the training loop.

/** Usage of every tensor buffer (a function: GPUBufferUsage may be installed late in Node). */
export function storageUsage(): number {
  return GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
}

/** The size createStorage gives a buffer of `bytes` (rounded up to 16, never 0). */
export function storageBytes(bytes: number): number {
  return Math.max(16, Math.ceil(bytes / 16) * 16);
}

/**
 * The largest storage buffer this device can both create and bind whole, and
 * the limit that sets it. Every tensor buffer is bound whole somewhere.
 */
export function storageLimit(device: GPUDevice): { limit: string; bytes: number } {
  const { maxStorageBufferBindingSize: bind, maxBufferSize: size } = device.limits;
  return size < bind ? { limit: 'maxBufferSize', bytes: size } : { limit: 'maxStorageBufferBindingSize', bytes: bind };
}

/** A buffer a plan will create: its size, and its bytes per sample when it scales with the batch. */
export interface PlannedBuffer {
  label: string;
  bytes: number;
  perSampleBytes?: number;
}

/**
 * Throws AdapterLimitError for the largest of `buffers` the device cannot
 * hold, naming it, its size, the limit and the largest batch size at which
 * every batch-sized buffer of the list would fit. Called before anything is
 * created, so that a batch too big fails here and not as a GPU validation
 * error (which WebGPU reports to the host's uncapturederror, not to us).
 */
export function checkPlannedBuffers(device: GPUDevice, where: string, buffers: PlannedBuffer[]): void {
  const max = storageLimit(device);
  let worst: PlannedBuffer | null = null;
  for (const b of buffers) {
    if (storageBytes(b.bytes) > max.bytes && (!worst || b.bytes > worst.bytes)) worst = b;
  }
  if (!worst) return;
  let fitsBatch: number | undefined;
  if (worst.perSampleBytes) {
    fitsBatch = Infinity;
    for (const b of buffers) {
      if (b.perSampleBytes) fitsBatch = Math.min(fitsBatch, Math.floor(max.bytes / b.perSampleBytes));
    }
  }
  throw new AdapterLimitError(max.limit, storageBytes(worst.bytes), max.bytes, `${where}: buffer '${worst.label}'`, {
    offeredBy: 'device',
    buffer: worst.label,
    fitsBatch,
  });
}

/**
 * A storage buffer of at least `bytes` (rounded to 16, never 0). A size the
 * device cannot hold is an AdapterLimitError before anything is created.
 */
export function createStorage(device: GPUDevice, bytes: number, label: string): GPUBuffer {
  const size = storageBytes(bytes);
  const max = storageLimit(device);
  if (size > max.bytes) {
    throw new AdapterLimitError(max.limit, size, max.bytes, `buffer '${label}'`, { offeredBy: 'device', buffer: label });
  }
  return device.createBuffer({ label, size, usage: storageUsage() });
}

export function uploadStorage(
  device: GPUDevice,
  data: Float32Array | Uint32Array | Int32Array | Uint8Array,
  label: string,
): GPUBuffer {
  const buffer = createStorage(device, data.byteLength, label);
  const bytes = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
  // writeBuffer needs a multiple of 4 bytes; pad the tail of byte arrays.
  const padded = bytes.byteLength % 4 === 0 ? bytes : (() => {
    const p = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
    p.set(bytes);
    return p;
  })();
  device.queue.writeBuffer(buffer, 0, padded);
  return buffer;
}

/** Copies a buffer's first `bytes` back to the host (waits for the GPU). */
export async function readBuffer(
  device: GPUDevice,
  buffer: GPUBuffer,
  bytes = buffer.size,
): Promise<ArrayBuffer> {
  const size = Math.ceil(bytes / 4) * 4;
  const staging = device.createBuffer({
    label: `${buffer.label} readback`,
    size,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const enc = device.createCommandEncoder({ label: 'readback' });
  enc.copyBufferToBuffer(buffer, 0, staging, 0, size);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const copy = staging.getMappedRange().slice(0, bytes);
  staging.unmap();
  staging.destroy();
  return copy;
}

export async function readF32(device: GPUDevice, buffer: GPUBuffer, length: number) {
  return new Float32Array(await readBuffer(device, buffer, length * 4));
}

export async function readU32(device: GPUDevice, buffer: GPUBuffer, length: number) {
  return new Uint32Array(await readBuffer(device, buffer, length * 4));
}

/**
 * A whole buffer, or a slice of one. Parameters, gradients and Adam moments
 * live in one buffer each, every tensor a 256-byte-aligned slice, so one Adam
 * dispatch updates them all.
 */
export interface BufferSlice {
  buffer: GPUBuffer;
  offset: number;
  size: number;
}
export type BufferRef = GPUBuffer | BufferSlice;

export function isSlice(ref: BufferRef): ref is BufferSlice {
  return (ref as BufferSlice).buffer !== undefined && (ref as BufferSlice).offset !== undefined;
}

/** Bytes visible through the reference. */
export function sizeOf(ref: BufferRef): number {
  return isSlice(ref) ? ref.size : ref.size;
}

export function bufferOf(ref: BufferRef): GPUBuffer {
  return isSlice(ref) ? ref.buffer : ref;
}

export function asBinding(ref: BufferRef): GPUBufferBinding {
  return isSlice(ref) ? { buffer: ref.buffer, offset: ref.offset, size: ref.size } : { buffer: ref };
}

/** Checks that a buffer (or slice) can hold `elements` of `bytesPer` bytes. */
export function fits(ref: BufferRef, elements: number, bytesPer = 4): boolean {
  return sizeOf(ref) >= elements * bytesPer;
}

/**
 * Throws a ShapeError naming the kernel and binding when `ref` is smaller than
 * `elements` values of `bytesPer` bytes. Wrappers call it before dispatching.
 */
export function requireFits(
  where: string,
  name: string,
  ref: BufferRef,
  elements: number,
  bytesPer = 4,
): void {
  if (!fits(ref, elements, bytesPer)) {
    throw new ShapeError(
      where,
      name,
      `buffer of ${sizeOf(ref)} bytes is smaller than the ${elements} x ${bytesPer} bytes needed`,
    );
  }
}

/** Throws a ShapeError unless every named dimension is a positive integer. */
export function requirePositive(where: string, dims: Record<string, number>): void {
  for (const [name, v] of Object.entries(dims)) {
    if (!Number.isInteger(v) || v < 1) {
      throw new ShapeError(where, name, `must be a positive integer, got ${v}`);
    }
  }
}

const dummies = new WeakMap<GPUDevice, GPUBuffer>();

/**
 * A 16-byte storage buffer, one per device, for bindings a kernel variant
 * never reads (the layout of a kernel is fixed; its constants decide what
 * it touches).
 */
export function dummyStorage(device: GPUDevice): GPUBuffer {
  let dummy = dummies.get(device);
  if (!dummy) {
    dummy = device.createBuffer({ label: 'unused binding', size: 16, usage: storageUsage() });
    dummies.set(device, dummy);
  }
  return dummy;
}
