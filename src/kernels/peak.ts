// The adapter's own ceilings, measured by the benchmarks: an FMA-throughput
// kernel (compute-bound) and a copy kernel (bandwidth-bound). Training never
// uses them; they are shaders like any other, so they have a reference and a
// test, and their results are checked before they are timed.

import copySource from '../../shaders/peak_copy.wgsl?raw';
import fmaSource from '../../shaders/peak_fma.wgsl?raw';
import { ShapeError } from '../errors';
import { requireFits, requirePositive, type BufferRef } from '../gpu/buffers';
import { getKernel, grid1d, type KernelSpec, type PreparedDispatch } from '../gpu/kernel';

/** Chain counts peak_fma.wgsl implements. */
export const PEAK_FMA_CHAINS = [1, 2, 4, 8] as const;
export type PeakFmaChains = (typeof PEAK_FMA_CHAINS)[number];

export interface PeakFmaOptions {
  chains?: PeakFmaChains;
  workgroupSize?: number;
}

export const PEAK_FMA_DEFAULTS = { chains: 4, workgroupSize: 64 } as const;

export function peakFmaSpecFor(opts: PeakFmaOptions = {}): KernelSpec {
  return {
    name: 'peak_fma',
    source: fmaSource,
    bindings: ['out'],
    params: ['threads', 'iterations', 'a', 'b'],
    constants: {
      WORKGROUP_SIZE: opts.workgroupSize ?? PEAK_FMA_DEFAULTS.workgroupSize,
      CHAINS: opts.chains ?? PEAK_FMA_DEFAULTS.chains,
    },
  };
}

export const peakFmaSpec: KernelSpec = peakFmaSpecFor();

export interface PeakFmaShape extends PeakFmaOptions {
  /** Invocations; each writes 4 floats. */
  threads: number;
  /** FMA steps of every chain. */
  iterations: number;
  /** x <- fma(x, a, b); defaults 1 and 1 (exact in f32 below 2^24). */
  a?: number;
  b?: number;
}

/** Floating-point operations of one dispatch (an FMA counts 2). */
export function peakFmaFlops(shape: PeakFmaShape): number {
  const chains = shape.chains ?? PEAK_FMA_DEFAULTS.chains;
  return shape.threads * shape.iterations * chains * 4 * 2;
}

/** out(threads, 4) = sum over chains of `iterations` FMA steps; overwrites out. */
export async function preparePeakFma(
  device: GPUDevice,
  buffers: { out: BufferRef },
  shape: PeakFmaShape,
  label = 'peak_fma',
): Promise<PreparedDispatch> {
  const { threads, iterations } = shape;
  const a = shape.a ?? 1;
  const b = shape.b ?? 1;
  const chains = shape.chains ?? PEAK_FMA_DEFAULTS.chains;
  const workgroupSize = shape.workgroupSize ?? PEAK_FMA_DEFAULTS.workgroupSize;
  requirePositive(label, { threads, iterations, workgroupSize });
  if (!PEAK_FMA_CHAINS.includes(chains)) {
    throw new ShapeError(label, 'chains', `must be one of ${PEAK_FMA_CHAINS.join(', ')}, got ${chains}`);
  }
  if (workgroupSize > device.limits.maxComputeInvocationsPerWorkgroup) {
    throw new ShapeError(label, 'workgroupSize', `${workgroupSize} exceeds the device's ${device.limits.maxComputeInvocationsPerWorkgroup}`);
  }
  for (const [name, v] of [['a', a], ['b', b]] as const) {
    if (!Number.isFinite(v)) throw new ShapeError(label, name, `must be finite, got ${v}`);
  }
  requireFits(label, 'out', buffers.out, threads * 4);
  const kernel = await getKernel(device, peakFmaSpecFor({ chains, workgroupSize }));
  const [x, y] = grid1d(Math.ceil(threads / workgroupSize), device.limits.maxComputeWorkgroupsPerDimension);
  return kernel.prepare({
    label,
    resources: { out: buffers.out },
    params: { threads, iterations, a, b },
    workgroups: [x, y],
  });
}

const COPY_WORKGROUP_SIZE = 256;

export const peakCopySpec: KernelSpec = {
  name: 'peak_copy',
  source: copySource,
  bindings: ['dst', 'src'],
  params: ['n4'],
  constants: { WORKGROUP_SIZE: COPY_WORKGROUP_SIZE },
};

/** dst = src over n floats (n a multiple of 4); overwrites dst. */
export async function preparePeakCopy(
  device: GPUDevice,
  buffers: { dst: BufferRef; src: BufferRef },
  shape: { n: number },
  label = 'peak_copy',
): Promise<PreparedDispatch> {
  const { n } = shape;
  requirePositive(label, { n });
  if (n % 4 !== 0) throw new ShapeError(label, 'n', `must be a multiple of 4 (vec4 copy), got ${n}`);
  requireFits(label, 'dst', buffers.dst, n);
  requireFits(label, 'src', buffers.src, n);
  const kernel = await getKernel(device, peakCopySpec);
  const [x, y] = grid1d(Math.ceil(n / 4 / COPY_WORKGROUP_SIZE), device.limits.maxComputeWorkgroupsPerDimension);
  return kernel.prepare({ label, resources: { ...buffers }, params: { n4: n / 4 }, workgroups: [x, y] });
}
