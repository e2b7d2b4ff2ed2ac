import naiveSource from '../../shaders/gemm_naive.wgsl?raw';
import tiledSource from '../../shaders/gemm_tiled.wgsl?raw';
import { ShapeError } from '../errors';
import { requireFits, requirePositive, storageUsage, type BufferRef } from '../gpu/buffers';
import { getKernel, type KernelSpec, type PreparedDispatch } from '../gpu/kernel';

export interface GemmBuffers {
  c: BufferRef;
  a: BufferRef;
  b: BufferRef;
  bias?: BufferRef;
}

/**
 * C(m, n) = op(A)·op(B) [+ bias(n) broadcast over rows] [then ReLU]; overwrites C.
 * A is stored row-major (m, k), or (k, m) when transA. B is stored (k, n), or
 * (n, k) when transB.
 */
export interface GemmShape {
  m: number;
  n: number;
  k: number;
  transA?: boolean;
  transB?: boolean;
  bias?: boolean;
  relu?: boolean;
}

const BINDINGS = ['c', 'a', 'b', 'bias'] as const;
const PARAMS = ['m', 'n', 'k', 'use_bias', 'relu'] as const;

/** Pipeline constants of one tiled-GEMM variant. */
export interface GemmTiledOptions {
  transA?: boolean;
  transB?: boolean;
  /** The contiguous dimension of A (k, or m when transA) is a multiple of 4. */
  vec4A?: boolean;
  /** The contiguous dimension of B (n, or k when transB) is a multiple of 4. */
  vec4B?: boolean;
  /** n is a multiple of 4. */
  vec4C?: boolean;
  tileM?: number;
  tileN?: number;
  tileK?: number;
}

/**
 * Default tiles: 64 x 64 of C per workgroup of 8 x 8 invocations, each owning
 * an 8 x 8 block; TILE_K = 32 makes both tiles 8 KiB (16 KiB in all). Best of
 * the 32/64 tiles and TILE_K 16/32/64 measured on lavapipe at 512^3.
 */
export const GEMM_TILE_DEFAULTS = { tileM: 64, tileN: 64, tileK: 32 } as const;

/** Rows and columns of C each invocation computes (fixed in the WGSL). */
const PER_THREAD = 8;

/** The tiled kernel's spec for one variant (each variant is its own pipeline). */
export function gemmTiledSpecFor(opts: GemmTiledOptions = {}): KernelSpec {
  const tileM = opts.tileM ?? GEMM_TILE_DEFAULTS.tileM;
  const tileN = opts.tileN ?? GEMM_TILE_DEFAULTS.tileN;
  const tileK = opts.tileK ?? GEMM_TILE_DEFAULTS.tileK;
  for (const [name, v, step] of [
    ['tileM', tileM, PER_THREAD],
    ['tileN', tileN, PER_THREAD],
    ['tileK', tileK, 4],
  ] as const) {
    if (!Number.isInteger(v) || v < step || v % step !== 0) {
      throw new ShapeError('gemm_tiled', name, `must be a positive multiple of ${step}, got ${v}`);
    }
  }
  if ((tileM / PER_THREAD) * (tileN / PER_THREAD) > 256) {
    throw new ShapeError('gemm_tiled', 'tileM x tileN', `${tileM} x ${tileN} needs more than 256 invocations`);
  }
  if ((tileM + tileN) * tileK * 4 > 16384) {
    throw new ShapeError('gemm_tiled', 'tileK', `tiles of ${tileM}, ${tileN}, ${tileK} exceed 16 KiB of workgroup memory`);
  }
  return {
    name: 'gemm_tiled',
    source: tiledSource,
    bindings: BINDINGS,
    params: PARAMS,
    constants: {
      TRANS_A: opts.transA ? 1 : 0,
      TRANS_B: opts.transB ? 1 : 0,
      VEC4_A: opts.vec4A ? 1 : 0,
      VEC4_B: opts.vec4B ? 1 : 0,
      VEC4_C: opts.vec4C ? 1 : 0,
      WORKGROUP_X: tileN / PER_THREAD,
      WORKGROUP_Y: tileM / PER_THREAD,
      TILE_K: tileK,
    },
  };
}

/** The NN variant with scalar loads: the base spec the reflection test checks. */
export const gemmTiledSpec: KernelSpec = gemmTiledSpecFor();

const NAIVE_WORKGROUP = { x: 16, y: 16 } as const;

export function gemmNaiveSpecFor(opts: { transA?: boolean; transB?: boolean } = {}): KernelSpec {
  return {
    name: 'gemm_naive',
    source: naiveSource,
    bindings: BINDINGS,
    params: PARAMS,
    constants: {
      TRANS_A: opts.transA ? 1 : 0,
      TRANS_B: opts.transB ? 1 : 0,
      WORKGROUP_X: NAIVE_WORKGROUP.x,
      WORKGROUP_Y: NAIVE_WORKGROUP.y,
    },
  };
}

export const gemmNaiveSpec: KernelSpec = gemmNaiveSpecFor();

// The bias binding exists in every variant (layouts are fixed); without a bias
// it is bound to this 16-byte buffer, one per device, never read.
const dummyBias = new WeakMap<GPUDevice, GPUBuffer>();

function biasOrDummy(device: GPUDevice, buffers: GemmBuffers): BufferRef {
  if (buffers.bias) return buffers.bias;
  let dummy = dummyBias.get(device);
  if (!dummy) {
    dummy = device.createBuffer({ label: 'gemm dummy bias', size: 16, usage: storageUsage() });
    dummyBias.set(device, dummy);
  }
  return dummy;
}

/** Checks dimensions and buffer sizes; returns the params uniform values. */
function validate(where: string, buffers: GemmBuffers, shape: GemmShape): Record<string, number> {
  const { m, n, k } = shape;
  requirePositive(where, { m, n, k });
  requireFits(where, 'c', buffers.c, m * n);
  requireFits(where, 'a', buffers.a, m * k);
  requireFits(where, 'b', buffers.b, k * n);
  if (shape.bias) {
    if (!buffers.bias) throw new ShapeError(where, 'bias', 'shape.bias is set but no bias buffer was given');
    requireFits(where, 'bias', buffers.bias, n);
  }
  return { m, n, k, use_bias: shape.bias ? 1 : 0, relu: shape.relu ? 1 : 0 };
}

function requireGrid(where: string, device: GPUDevice, x: number, y: number): void {
  const max = device.limits.maxComputeWorkgroupsPerDimension;
  if (x > max) throw new ShapeError(where, 'n', `needs ${x} workgroups along x, over the limit ${max}`);
  if (y > max) throw new ShapeError(where, 'm', `needs ${y} workgroups along y, over the limit ${max}`);
}

/** Fewer workgroups than this leaves cores of a many-core CPU adapter idle. */
const MIN_WORKGROUPS = 8;

/**
 * Tile sizes for a shape. Small outputs (the dense layer's n = 10, batch 1)
 * get small tiles so a workgroup does not spend most of its time on padding,
 * and tiles shrink until there are enough workgroups to spread over cores.
 * A short k (dx = dy·Wᵀ has k = 10) gets a short TILE_K for the same reason.
 */
export function chooseGemmTiles(shape: { m: number; n: number; k: number }): Required<
  Pick<GemmTiledOptions, 'tileM' | 'tileN' | 'tileK'>
> {
  const fit = (d: number) => Math.min(64, 2 ** Math.max(3, Math.ceil(Math.log2(d))));
  let tileM = fit(shape.m);
  let tileN = fit(shape.n);
  const count = () => Math.ceil(shape.m / tileM) * Math.ceil(shape.n / tileN);
  while (count() < MIN_WORKGROUPS && Math.max(tileM, tileN) > PER_THREAD) {
    if (tileM >= tileN) tileM /= 2;
    else tileN /= 2;
  }
  // 8, 16 or 32 rather than k rounded up to 4: each value is its own pipeline.
  const tileK = shape.k <= 8 ? 8 : shape.k <= 16 ? 16 : GEMM_TILE_DEFAULTS.tileK;
  return { tileM, tileN, tileK };
}

/** The tiled GEMM (the one training uses). */
export async function prepareGemm(
  device: GPUDevice,
  buffers: GemmBuffers,
  shape: GemmShape,
  label = 'gemm_tiled',
): Promise<PreparedDispatch> {
  const params = validate(label, buffers, shape);
  const { m, n, k } = shape;
  const tiles = chooseGemmTiles(shape);
  const x = Math.ceil(n / tiles.tileN);
  const y = Math.ceil(m / tiles.tileM);
  requireGrid(label, device, x, y);
  const spec = gemmTiledSpecFor({
    transA: shape.transA,
    transB: shape.transB,
    vec4A: (shape.transA ? m : k) % 4 === 0,
    vec4B: (shape.transB ? k : n) % 4 === 0,
    vec4C: n % 4 === 0,
    ...tiles,
  });
  const kernel = await getKernel(device, spec);
  const resources = { c: buffers.c, a: buffers.a, b: buffers.b, bias: biasOrDummy(device, buffers) };
  return kernel.prepare({ label, resources, params, workgroups: [x, y] });
}

/** One invocation per output element: the reference point for tests and benchmarks. */
export async function prepareGemmNaive(
  device: GPUDevice,
  buffers: GemmBuffers,
  shape: GemmShape,
  label = 'gemm_naive',
): Promise<PreparedDispatch> {
  const params = validate(label, buffers, shape);
  const x = Math.ceil(shape.n / NAIVE_WORKGROUP.x);
  const y = Math.ceil(shape.m / NAIVE_WORKGROUP.y);
  requireGrid(label, device, x, y);
  const kernel = await getKernel(device, gemmNaiveSpecFor({ transA: shape.transA, transB: shape.transB }));
  const resources = { c: buffers.c, a: buffers.a, b: buffers.b, bias: biasOrDummy(device, buffers) };
  return kernel.prepare({ label, resources, params, workgroups: [x, y] });
}
