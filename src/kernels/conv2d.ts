import gemmCore from '../../shaders/common/conv2d_gemm.wgsl?raw';
import blockedCore from '../../shaders/common/conv2d_gemm_blocked.wgsl?raw';
import divFloor from '../../shaders/common/div_floor.wgsl?raw';
import backwardFilterSource from '../../shaders/conv2d_backward_filter.wgsl?raw';
import backwardFilterSgSource from '../../shaders/conv2d_backward_filter_sg.wgsl?raw';
import filterReduceSource from '../../shaders/conv2d_backward_filter_reduce.wgsl?raw';
import backwardInputSource from '../../shaders/conv2d_backward_input.wgsl?raw';
import col2imSource from '../../shaders/conv2d_col2im.wgsl?raw';
import col2imVec4Source from '../../shaders/conv2d_col2im_vec4.wgsl?raw';
import forwardSource from '../../shaders/conv2d_forward.wgsl?raw';
import forwardSgSource from '../../shaders/conv2d_forward_sg.wgsl?raw';
import subgroupCore from '../../shaders/common/subgroup_gemm.wgsl?raw';
import { subgroupOutput } from './gemm';
import { activationCode, activationCore, shapeActivation, type ActivationName } from './activation';
import { ShapeError } from '../errors';
import { createStorage, dummyStorage, requireFits, requirePositive, type BufferRef } from '../gpu/buffers';
import { getKernel, grid1d, rowGrid, rowGridWorkgroups, sequence, type Kernel, type KernelSpec, type PreparedDispatch } from '../gpu/kernel';
import {
  SG_ROWS,
  defaultGemmCore,
  gemmMenu,
  prepareGemm,
  requireCore,
  requireSubgroupLanes,
  subgroupGrid,
  subgroupTiles,
  type GemmBuffers,
  type GemmCore,
  type GemmShape,
  type SubgroupTiles,
} from './gemm';
import { subgroupLanes } from '../gpu/device';
import { defaultTuner, requireTuneMode, type TuneCandidate, type TuneOptions } from '../gpu/tune';

export { defaultGemmCore, type GemmCore };

export type Padding = 'valid' | 'same';

export interface Conv2dShape {
  batch: number;
  inH: number;
  inW: number;
  inC: number;
  outC: number;
  kernelH: number;
  kernelW: number;
  /** Defaults to 1. */
  strideH?: number;
  /** Defaults to 1. */
  strideW?: number;
  padding: Padding;
}

export interface Conv2dGeometry {
  outH: number;
  outW: number;
  padTop: number;
  padLeft: number;
}

/** Output size and leading padding of one spatial axis, by the TF/Keras rules. */
function axis(
  where: string,
  name: string,
  input: number,
  kernel: number,
  stride: number,
  padding: Padding,
): { out: number; padBefore: number } {
  if (padding === 'valid') {
    if (kernel > input) {
      throw new ShapeError(
        where,
        `kernel${name}`,
        `kernel ${kernel} is larger than the input ${input} with 'valid' padding`,
      );
    }
    return { out: Math.floor((input - kernel) / stride) + 1, padBefore: 0 };
  }
  const out = Math.ceil(input / stride);
  const padTotal = Math.max((out - 1) * stride + kernel - input, 0);
  return { out, padBefore: Math.floor(padTotal / 2) };
}

/**
 * Output size and padding (TF/Keras rules). valid: out = floor((in - k)/s) + 1;
 * same: out = ceil(in/s), with the odd pixel of padding at the bottom/right.
 */
export function conv2dGeometry(shape: Conv2dShape, where = 'conv2d'): Conv2dGeometry {
  const { batch, inH, inW, inC, outC, kernelH, kernelW } = shape;
  const strideH = shape.strideH ?? 1;
  const strideW = shape.strideW ?? 1;
  requirePositive(where, { batch, inH, inW, inC, outC, kernelH, kernelW, strideH, strideW });
  if (shape.padding !== 'valid' && shape.padding !== 'same') {
    throw new ShapeError(where, 'padding', `must be 'valid' or 'same', got '${shape.padding}'`);
  }
  const h = axis(where, 'H', inH, kernelH, strideH, shape.padding);
  const w = axis(where, 'W', inW, kernelW, strideW, shape.padding);
  return { outH: h.out, outW: w.out, padTop: h.padBefore, padLeft: w.padBefore };
}

/** Everything the shaders need, validated, with the GEMM sizes. */
function resolveShape(shape: Conv2dShape, where: string) {
  const g = conv2dGeometry(shape, where);
  const strideH = shape.strideH ?? 1;
  const strideW = shape.strideW ?? 1;
  const { batch, inH, inW, inC, outC, kernelH, kernelW } = shape;
  const s = {
    ...g,
    batch,
    inH,
    inW,
    inC,
    outC,
    kernelH,
    kernelW,
    strideH,
    strideW,
    xSize: batch * inH * inW * inC,
    wSize: kernelH * kernelW * inC * outC,
    ySize: batch * g.outH * g.outW * outC,
    /** GEMM rows of the forward pass: output pixels. */
    pixels: batch * g.outH * g.outW,
    /** GEMM reduction of the forward pass: one filter's weights. */
    depth: kernelH * kernelW * inC,
  };
  // Shaders index with i32/u32: keep every flat index representable.
  for (const [name, v] of [['x', s.xSize], ['w', s.wSize], ['y', s.ySize]] as const) {
    if (v >= 2 ** 31) throw new ShapeError(where, name, `${v} elements exceed 2^31`);
  }
  return s;
}

// ---------------------------------------------------------------------------
// Tiling shared by the three GEMM kernels (shaders/common/conv2d_gemm.wgsl).

/**
 * Override constants of the GEMM core. Without BLOCK_M / BLOCK_N each thread
 * owns a 16 x 16 output block (shaders/common/conv2d_gemm.wgsl, the CPU
 * adapters' core); with them, BLOCK_M x BLOCK_N (conv2d_gemm_blocked.wgsl,
 * shaped for GPUs).
 */
export interface GemmTiles {
  /** Threads along the output rows; the tile has BM = 16 * WG_M rows (BLOCK_M * WG_M). */
  WG_M: number;
  /** Threads along the output columns; BN = 16 * WG_N columns (BLOCK_N * WG_N). */
  WG_N: number;
  /** Thread groups splitting each reduction tile (backward filter only). */
  WG_S: number;
  /** Reduction indices per tile. */
  BK: number;
  /** Output rows per thread (4 or 8): the blocked core. */
  BLOCK_M?: number;
  /** Output columns per thread (4 or 8): the blocked core. */
  BLOCK_N?: number;
}

/** Workgroup memory the engine's kernels may use (ENGINE_MIN_LIMITS). */
const WORKGROUP_BYTES = 16384;

const tileRows = (t: GemmTiles) => (t.BLOCK_M ?? 16) * t.WG_M;
const tileCols = (t: GemmTiles) => (t.BLOCK_N ?? 16) * t.WG_N;
const tileThreads = (t: GemmTiles) => t.WG_M * t.WG_N * t.WG_S;
const tileBytes = (t: GemmTiles) => (tileRows(t) + tileCols(t)) * t.BK * 4;
/** The core a kernel includes for these tiles. */
const coreFor = (t: GemmTiles) => (t.BLOCK_M === undefined ? gemmCore : blockedCore);

/**
 * One variant of the GPU-shaped core (shaders/common/conv2d_gemm_blocked.wgsl):
 * each thread owns blockM x blockN outputs, the workgroup is wgM x wgN
 * threads (x wgS groups splitting each reduction tile, backward filter only),
 * so its tile is wgM * blockM rows by wgN * blockN columns, staged bk deep.
 */
export interface Conv2dBlockedVariant {
  blockM: 4 | 8;
  blockN: 4 | 8;
  wgM: number;
  wgN: number;
  /** Default 1. */
  wgS?: number;
  bk: number;
}

/**
 * The menu for conv2d_forward and conv2d_backward_input, whose GEMM rows are
 * output (or input) pixels, thousands of them, and whose columns are
 * channels, tens: tall tiles of 64-256 rows by 16-64 columns, 64-256
 * threads, 16-64 accumulators per thread, 8-32 deep, at most 16 KiB.
 */
export const CONV2D_PIXEL_MENU: readonly Conv2dBlockedVariant[] = [
  { blockM: 4, blockN: 4, wgM: 16, wgN: 4, bk: 16 },
  { blockM: 4, blockN: 4, wgM: 16, wgN: 8, bk: 16 },
  { blockM: 4, blockN: 4, wgM: 16, wgN: 16, bk: 16 },
  { blockM: 8, blockN: 4, wgM: 16, wgN: 8, bk: 16 },
  { blockM: 4, blockN: 8, wgM: 32, wgN: 8, bk: 8 },
  { blockM: 8, blockN: 8, wgM: 8, wgN: 8, bk: 32 },
  { blockM: 8, blockN: 8, wgM: 16, wgN: 8, bk: 16 },
  { blockM: 8, blockN: 8, wgM: 32, wgN: 8, bk: 8 },
];

/**
 * The menu for conv2d_backward_filter, whose rows are the KH*KW*C filter
 * taps (16 for the paper's conv1, 288 for conv2), columns the K channels
 * and reduction the pixels: row tiles of 16-128, and groups of threads that
 * split the reduction where the tile is small.
 */
export const CONV2D_FILTER_MENU: readonly Conv2dBlockedVariant[] = [
  { blockM: 4, blockN: 4, wgM: 4, wgN: 16, bk: 16 },
  { blockM: 4, blockN: 4, wgM: 4, wgN: 8, wgS: 4, bk: 32 },
  { blockM: 4, blockN: 4, wgM: 4, wgN: 16, wgS: 2, bk: 16 },
  { blockM: 4, blockN: 4, wgM: 8, wgN: 8, bk: 16 },
  { blockM: 4, blockN: 8, wgM: 8, wgN: 8, bk: 16 },
  { blockM: 8, blockN: 4, wgM: 8, wgN: 16, bk: 16 },
  { blockM: 8, blockN: 8, wgM: 8, wgN: 8, bk: 32 },
  { blockM: 8, blockN: 8, wgM: 16, wgN: 8, bk: 16 },
];

/** E.g. 'conv2d_forward 8x8 wg16x8 k16': kernel, block, threads (rows x columns [x groups]), depth. */
export function conv2dBlockedName(kernel: string, v: Conv2dBlockedVariant): string {
  const s = (v.wgS ?? 1) > 1 ? `x${v.wgS}` : '';
  return `${kernel} ${v.blockM}x${v.blockN} wg${v.wgM}x${v.wgN}${s} k${v.bk}`;
}

/** The override constants of a blocked variant. */
export function blockedTiles(v: Conv2dBlockedVariant): GemmTiles {
  for (const [name, x] of [['blockM', v.blockM], ['blockN', v.blockN]] as const) {
    if (x !== 4 && x !== 8) throw new ShapeError('conv2d', name, `must be 4 or 8, got ${x}`);
  }
  return { WG_M: v.wgM, WG_N: v.wgN, WG_S: v.wgS ?? 1, BK: v.bk, BLOCK_M: v.blockM, BLOCK_N: v.blockN };
}

/**
 * Why a blocked variant cannot run on this device, or null: its threads and
 * workgroup memory against the device's limits (the shaders' own
 * constraints are checkTiles', and every menu entry meets them).
 */
export function conv2dBlockedFits(device: GPUDevice, v: Conv2dBlockedVariant): string | null {
  const l = device.limits;
  const t = blockedTiles(v);
  const threads = tileThreads(t);
  if (threads > l.maxComputeInvocationsPerWorkgroup) {
    return `${threads} invocations > maxComputeInvocationsPerWorkgroup ${l.maxComputeInvocationsPerWorkgroup}`;
  }
  if (threads > l.maxComputeWorkgroupSizeX) return `workgroup x ${threads} > ${l.maxComputeWorkgroupSizeX}`;
  if (tileBytes(t) > l.maxComputeWorkgroupStorageSize) {
    return `${tileBytes(t)} bytes of workgroup memory > ${l.maxComputeWorkgroupStorageSize}`;
  }
  return null;
}

/** A ShapeError unless `v` fits this device. */
function requireBlockedFits(device: GPUDevice, where: string, kernel: string, v: Conv2dBlockedVariant): GemmTiles {
  const why = conv2dBlockedFits(device, v);
  if (why) throw new ShapeError(where, 'variant', `${conv2dBlockedName(kernel, v)} does not fit this device: ${why}`);
  return blockedTiles(v);
}

/** How one conv2d kernel runs: on a core at its shape-based tiles, or one blocked variant. */
type ConvImpl = { core: GemmCore } | { blocked: Conv2dBlockedVariant };

/** What the conv2d prepare* functions take besides the shape. */
export interface Conv2dOptions extends TuneOptions {
  /** Pins the core ('tiled' or 'subgroup') at its shape-based tiles; no tuning happens then. */
  core?: GemmCore;
  /** Pins one variant of the kernel's blocked menu; no tuning happens then. */
  variant?: Conv2dBlockedVariant;
}

/** The tuning problem of one conv2d kernel at one shape: what the cache key names. */
export function conv2dProblem(kernel: string, shape: Conv2dShape): string {
  const s = resolveShape(shape, kernel);
  return (
    `${kernel} n=${s.batch} in=${s.inH}x${s.inW}x${s.inC} kernel=${s.kernelH}x${s.kernelW}x${s.outC} ` +
    `stride=${s.strideH}x${s.strideW} ${shape.padding}`
  );
}

/**
 * Candidates in the order the tuner tries them: the default core (what
 * 'off' runs) first, then the blocked variants, then the other core. Where
 * there are two cores (the CPU adapters), the other one's 16 x 16 blocks
 * take seconds to compile, so the tuner's budget goes to the small kernels
 * first; on a GPU every candidate fits the budget anyway.
 */
function defaultFirst(cores: TuneCandidate[], blocked: TuneCandidate[]): TuneCandidate[] {
  const [first, ...others] = cores;
  return [first, ...blocked, ...others];
}

/** The cores a device can run, its default first. */
function coresOf(device: GPUDevice): GemmCore[] {
  return subgroupLanes(device) !== null ? ['subgroup', 'tiled'] : ['tiled'];
}

/**
 * Pinned (a core or a variant) or 'off': that implementation, without the
 * tuner; otherwise the tuner's choice among `candidates()` (the default first).
 */
async function tunedOrPinned(
  device: GPUDevice,
  where: string,
  problem: () => string,
  options: Conv2dOptions,
  pinned: (impl: ConvImpl) => Promise<PreparedDispatch>,
  byDefault: ConvImpl,
  candidates: () => TuneCandidate[],
): Promise<PreparedDispatch> {
  const tune = requireTuneMode(where, options.tune ?? 'off');
  if (options.variant !== undefined) return pinned({ blocked: options.variant });
  if (options.core !== undefined) return pinned({ core: requireCore(where, options.core) });
  if (tune === 'off') return pinned(byDefault);
  return (options.tuner ?? defaultTuner(device)).choose(problem(), candidates(), tune);
}

// Tile shapes come from a short menu on purpose: every distinct set of
// constants is a separate pipeline, and one takes seconds of CPU to compile on
// lavapipe and SwiftShader (the 16 x 16 register block is a lot of code).

/** 2 or 4 column threads: 32 or 64 columns per tile. */
function columnThreads(cols: number): number {
  return cols <= 32 ? 2 : 4;
}

/**
 * Tiles for the forward and backward-input GEMMs: many rows (one per pixel),
 * few columns (channels). 128-row tiles; 32 or 64 columns.
 */
export function pixelGemmTiles(cols: number): GemmTiles {
  return { WG_M: 8, WG_N: columnThreads(cols), WG_S: 1, BK: 16 };
}

/**
 * Tiles for the backward-filter GEMM: rows are the R = KH*KW*C filter taps,
 * often few (16 for the first MNIST layer) and not a multiple of 16. Up to 32
 * taps: 16-row tiles; otherwise 96 or 128 rows, whichever wastes fewer. WG_S
 * thread groups split each reduction tile so that WG_SIZE is a multiple of BK
 * (16 pixels, one per loading thread) and of BN / 4 (the db sums need that).
 */
export function filterGemmTiles(rows: number, cols: number): GemmTiles {
  const WG_N = columnThreads(cols);
  const threadRows = Math.ceil(rows / 16);
  const padded = (m: number) => Math.ceil(threadRows / m) * m;
  const WG_M = threadRows <= 2 ? 1 : padded(6) < padded(8) ? 6 : 8;
  const BK = 16;
  let WG_S = 1;
  while ((WG_M * WG_S) % 4 !== 0 || (WG_M * WG_N * WG_S) % BK !== 0) WG_S *= 2;
  return { WG_M, WG_N, WG_S, BK };
}

/** Checks what the shaders assume of the tiles; a bug in the chooser if it throws. */
function checkTiles(where: string, t: GemmTiles, filter: boolean): void {
  const threads = tileThreads(t);
  const problems: string[] = [];
  if (threads > 256) problems.push('more than 256 threads');
  if (t.BK % t.WG_S !== 0) problems.push('WG_S does not divide BK');
  if (threads % t.BK !== 0) problems.push('BK does not divide the thread count');
  if (filter && threads % (tileCols(t) / 4) !== 0) problems.push('db needs WG_SIZE % (BN / 4) == 0');
  if (tileBytes(t) > WORKGROUP_BYTES) problems.push('tiles exceed 16 KiB');
  if (problems.length > 0) {
    throw new ShapeError(where, 'tiles', `${JSON.stringify(t)}: ${problems.join('; ')}`);
  }
}

/** M tiles over x (and y past the limit), column tiles over z. */
function pixelGrid(device: GPUDevice, where: string, rows: number, cols: number, t: GemmTiles) {
  const max = device.limits.maxComputeWorkgroupsPerDimension;
  const [gx, gy] = grid1d(Math.ceil(rows / tileRows(t)), max);
  const gz = Math.ceil(cols / tileCols(t));
  if (gy > max || gz > max) {
    throw new ShapeError(where, 'batch', `needs more than ${max} x ${max} workgroups`);
  }
  return [gx, gy, gz] as [number, number, number];
}

// ---------------------------------------------------------------------------
// The params fields the three conv2d shaders share (the convolution's shape),
// and those the forward and backward-input shaders add in front, in order.
const SHAPE_PARAMS = [
  'in_h',
  'in_w',
  'in_c',
  'out_c',
  'out_h',
  'out_w',
  'kernel_w',
  'stride_h',
  'stride_w',
  'pad_top',
  'pad_left',
] as const;
const GEOMETRY_PARAMS = ['rows', 'depth', ...SHAPE_PARAMS] as const;

// forward

function forwardSpec(tiles: GemmTiles, activation: number): KernelSpec {
  return {
    name: 'conv2d_forward',
    source: forwardSource,
    includes: [activationCore, coreFor(tiles)],
    bindings: ['y', 'x', 'w', 'b'],
    params: GEOMETRY_PARAMS,
    constants: { ...tiles, ACTIVATION: activation },
  };
}

/** The forward kernel at the tiles of the reference CNN's conv2 (64 channels). */
export const conv2dForwardSpec: KernelSpec = forwardSpec(pixelGemmTiles(64), 1);
/** The forward kernel on the blocked core (the pixel menu's first variant). */
export const conv2dForwardBlockedSpec: KernelSpec = forwardSpec(blockedTiles(CONV2D_PIXEL_MENU[0]), 1);

export interface Conv2dForwardBuffers {
  y: BufferRef;
  x: BufferRef;
  w: BufferRef;
  b: BufferRef;
}

/** The subgroup forward kernel; y is written as vec4s when K % 4 == 0. */
function forwardSgSpec(tiles: SubgroupTiles, outC: number, activation: number): KernelSpec {
  return {
    name: 'conv2d_forward_sg',
    source: forwardSgSource,
    includes: [subgroupCore, activationCore, subgroupOutput(outC)],
    bindings: ['out', 'x', 'w', 'b', 'w4'],
    params: GEOMETRY_PARAMS,
    constants: { ...tiles, VEC4_W: outC % 4 === 0 ? 1 : 0, ACTIVATION: activation },
  };
}

/** The subgroup forward kernel as lavapipe builds it for conv2 (64 channels). */
export const conv2dForwardSgSpec: KernelSpec = forwardSgSpec(subgroupTiles(8, 64), 64, 1);
/** The same with scalar stores (K % 4 != 0). */
export const conv2dForwardSgScalarSpec: KernelSpec = forwardSgSpec(subgroupTiles(8, 10), 10, 1);

/**
 * y = f(conv(x, w) + b); overwrites y. f is `activation` (default linear;
 * `relu: true` is short for 'relu'). With `tune: 'off'` (the default), on
 * `core` (default defaultGemmCore) at its shape-based tiles, or on the pinned
 * `variant` of CONV2D_PIXEL_MENU; with 'auto' or 'cached-only', what the
 * tuner picks among all of them for this shape (the result then carries
 * `variant`; 'auto' runs the candidates on these buffers).
 */
export async function prepareConv2dForward(
  device: GPUDevice,
  buffers: Conv2dForwardBuffers,
  shape: Conv2dShape & { activation?: ActivationName; relu?: boolean },
  label = 'conv2d_forward',
  options: Conv2dOptions = {},
): Promise<PreparedDispatch> {
  const s = resolveShape(shape, label);
  requireFits(label, 'y', buffers.y, s.ySize);
  requireFits(label, 'x', buffers.x, s.xSize);
  requireFits(label, 'w', buffers.w, s.wSize);
  requireFits(label, 'b', buffers.b, s.outC);
  const activation = activationCode(label, shapeActivation(shape));
  const on = (impl: ConvImpl) => forwardOn(device, buffers, s, activation, label, impl);
  return tunedOrPinned(device, label, () => conv2dProblem('conv2d_forward', shape), options, on, { core: defaultGemmCore(device) }, () =>
    defaultFirst(
      coresOf(device).map((core) => ({ variant: core === 'subgroup' ? 'conv2d_forward_sg' : 'conv2d_forward', prepare: () => on({ core }) })),
      CONV2D_PIXEL_MENU.filter((v) => conv2dBlockedFits(device, v) === null).map((v) => ({
        variant: conv2dBlockedName('conv2d_forward', v),
        prepare: () => on({ blocked: v }),
      })),
    ),
  );
}

async function forwardOn(
  device: GPUDevice,
  buffers: Conv2dForwardBuffers,
  s: ReturnType<typeof resolveShape>,
  activation: number,
  label: string,
  impl: ConvImpl,
): Promise<PreparedDispatch> {
  const subgroup = 'core' in impl && impl.core === 'subgroup';
  let kernel: Kernel;
  let workgroups: [number, number, number];
  if (subgroup) {
    const tiles = subgroupTiles(requireSubgroupLanes(device, label), s.outC);
    workgroups = subgroupGrid(device, label, s.pixels, s.outC, tiles);
    kernel = await getKernel(device, forwardSgSpec(tiles, s.outC, activation));
  } else {
    const tiles = 'core' in impl ? pixelGemmTiles(s.outC) : requireBlockedFits(device, label, 'conv2d_forward', impl.blocked);
    checkTiles(label, tiles, false);
    workgroups = pixelGrid(device, label, s.pixels, s.outC, tiles);
    kernel = await getKernel(device, forwardSpec(tiles, activation));
  }
  // The subgroup kernel names its output binding `out` (shaders/common/out_*.wgsl).
  const y: Record<string, BufferRef> = subgroup
    ? { out: buffers.y, w4: s.outC % 4 === 0 ? buffers.w : dummyStorage(device) }
    : { y: buffers.y };
  return kernel.prepare({
    label,
    resources: { ...y, x: buffers.x, w: buffers.w, b: buffers.b },
    params: {
      rows: s.pixels,
      depth: s.depth,
      in_h: s.inH,
      in_w: s.inW,
      in_c: s.inC,
      out_c: s.outC,
      out_h: s.outH,
      out_w: s.outW,
      kernel_w: s.kernelW,
      stride_h: s.strideH,
      stride_w: s.strideW,
      pad_top: s.padTop,
      pad_left: s.padLeft,
    },
    workgroups,
  });
}

// ---------------------------------------------------------------------------
// backward input

/**
 * Integers the shaders divide with float reciprocals (div_floor in
 * conv2d_gemm.wgsl) stay below this, where the estimate is off by one at most.
 */
const MAX_EXACT_FLOAT_INDEX = 2 ** 22;

function backwardInputSpec(tiles: GemmTiles): KernelSpec {
  return {
    name: 'conv2d_backward_input',
    source: backwardInputSource,
    includes: [divFloor, coreFor(tiles)],
    bindings: ['dx', 'dy', 'w'],
    params: GEOMETRY_PARAMS,
    constants: { ...tiles },
  };
}

/** The backward-input kernel at the tiles of conv2 (32 input channels). */
export const conv2dBackwardInputSpec: KernelSpec = backwardInputSpec(pixelGemmTiles(32));
/** The backward-input kernel on the blocked core (the pixel menu's first variant). */
export const conv2dBackwardInputBlockedSpec: KernelSpec = backwardInputSpec(blockedTiles(CONV2D_PIXEL_MENU[0]));

export interface Conv2dBackwardInputBuffers {
  dx: BufferRef;
  dy: BufferRef;
  w: BufferRef;
}

/**
 * How conv2d's backward input runs:
 * - 'gemm': dcol = dy · wᵀ with a GEMM (on the `core` the options name,
 *   default defaultGemmCore: gemm_sg or gemm_tiled) into a private workspace of
 *   N*OH*OW*KH*KW*C floats, then conv2d_col2im adds each input's taps. No
 *   zero taps, and the GEMM is KH*KW*C columns wide.
 * - 'implicit': conv2d_backward_input, one implicit GEMM over the transposed
 *   convolution; no workspace, but it multiplies the zero taps that 'valid'
 *   padding leaves (~44% for 3x3 on 10x10) and is only C columns wide.
 * On lavapipe at conv2 of the paper's CNN, batch 128, 'gemm' takes about
 * half the time of 'implicit' (bench/results). The default is 'gemm'
 * whenever its workspace fits.
 */
export type BackwardInputMethod = 'gemm' | 'implicit';

/** The largest dcol workspace the default will allocate. */
const MAX_DCOL_BYTES = 256 * 2 ** 20;

/** Bytes of the 'gemm' method's workspace for this shape. */
export function backwardInputWorkspaceBytes(shape: Conv2dShape): number {
  const s = resolveShape(shape, 'conv2d_backward_input');
  return s.pixels * s.depth * 4;
}

/** Why this device cannot hold the 'gemm' method's workspace, or null. */
function dcolProblem(device: GPUDevice, s: { pixels: number; depth: number }): string | null {
  const bytes = s.pixels * s.depth * 4;
  const limit = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  if (bytes <= limit && s.pixels * s.depth < 2 ** 31) return null;
  return `'gemm' needs a ${bytes}-byte workspace (N*OH*OW*KH*KW*C floats); this device binds at most ${limit}`;
}

/** The method prepareConv2dBackwardInput picks when none is given. */
export function defaultBackwardInputMethod(device: GPUDevice, shape: Conv2dShape): BackwardInputMethod {
  const s = resolveShape(shape, 'conv2d_backward_input');
  const max = device.limits.maxComputeWorkgroupsPerDimension;
  const gridFits = rowGridWorkgroups(col2imGrid(s)).every((g) => g <= max);
  const small = backwardInputWorkspaceBytes(shape) <= MAX_DCOL_BYTES;
  return small && dcolProblem(device, s) === null && gridFits ? 'gemm' : 'implicit';
}

/**
 * dx = conv-transpose of dy with w (dy: gradient w.r.t. the pre-activation
 * conv output); overwrites dx. `method` as BackwardInputMethod describes; the
 * default follows defaultBackwardInputMethod. 'gemm' runs its GEMM on `core`
 * (default defaultGemmCore); 'implicit' runs on `core` or on the pinned
 * `variant` of CONV2D_PIXEL_MENU. With `tune` 'auto' or 'cached-only' and
 * nothing pinned, the tuner picks among both methods and all their
 * variants (where the default method is 'gemm'; else among the implicit
 * ones). The 'gemm' method's workspace is freed by the returned dispatch's
 * destroy().
 */
export async function prepareConv2dBackwardInput(
  device: GPUDevice,
  buffers: Conv2dBackwardInputBuffers,
  shape: Conv2dShape,
  label = 'conv2d_backward_input',
  options: { method?: BackwardInputMethod } & Conv2dOptions = {},
): Promise<PreparedDispatch> {
  const s = resolveShape(shape, label);
  requireFits(label, 'dx', buffers.dx, s.xSize);
  requireFits(label, 'dy', buffers.dy, s.ySize);
  requireFits(label, 'w', buffers.w, s.wSize);
  const method = options.method ?? defaultBackwardInputMethod(device, shape);
  if (method !== 'gemm' && method !== 'implicit') {
    throw new ShapeError(label, 'method', `must be 'gemm' or 'implicit', got ${String(method)}`);
  }
  if (method === 'gemm' && options.variant !== undefined) {
    throw new ShapeError(label, 'variant', "pins an implicit-GEMM variant; it needs method 'implicit'");
  }
  const implicit = (impl: ConvImpl) => backwardInputImplicit(device, buffers, s, label, impl);
  const dcol = dcolShape(s);
  const viaGemm = (core: GemmCore) =>
    backwardInputGemm(device, buffers, shape, label, (b) => prepareGemm(device, b, dcol, `${label} dcol`, { core }));
  const pinned = (impl: ConvImpl) => ('core' in impl && method === 'gemm' ? viaGemm(impl.core) : implicit(impl));
  const candidates = (): TuneCandidate[] => {
    const implicitOnes: TuneCandidate[] = defaultFirst(
      [{ variant: 'conv2d_backward_input', prepare: () => implicit({ core: 'tiled' }) }],
      CONV2D_PIXEL_MENU.filter((v) => conv2dBlockedFits(device, v) === null).map((v) => ({
        variant: conv2dBlockedName('conv2d_backward_input', v),
        prepare: () => implicit({ blocked: v }),
      })),
    );
    // The dcol GEMM's whole menu, each with its col2im: the default method
    // decides whether the workspace is allowed at all.
    const gemmOnes: TuneCandidate[] =
      defaultBackwardInputMethod(device, shape) === 'gemm'
        ? gemmMenu(device, dcol, `${label} dcol`).map((e) => ({
            variant: `${e.variant}+conv2d_col2im`,
            prepare: () => backwardInputGemm(device, buffers, shape, label, e.prepare),
          }))
        : [];
    // The tiled implicit kernel (a 16 x 16 core, seconds to compile on a CPU adapter) goes last.
    if (method === 'implicit') return [...implicitOnes, ...gemmOnes];
    const [tiledImplicit, ...blockedImplicit] = implicitOnes;
    return [...gemmOnes, ...blockedImplicit, tiledImplicit];
  };
  return tunedOrPinned(
    device,
    label,
    () => conv2dProblem('conv2d_backward_input', shape),
    options,
    pinned,
    { core: defaultGemmCore(device) },
    candidates,
  );
}

/** dcol (N*OH*OW, KH*KW*C) = dy (N*OH*OW, K) · wᵀ, w stored (KH*KW*C, K). */
function dcolShape(s: ReturnType<typeof resolveShape>): GemmShape {
  return { m: s.pixels, n: s.depth, k: s.outC, transB: true };
}

async function backwardInputImplicit(
  device: GPUDevice,
  buffers: Conv2dBackwardInputBuffers,
  s: ReturnType<typeof resolveShape>,
  label: string,
  impl: ConvImpl,
): Promise<PreparedDispatch> {
  // The shader divides by the stride with float reciprocals (div_floor).
  if (Math.max(s.inH + s.padTop, s.inW + s.padLeft) >= MAX_EXACT_FLOAT_INDEX) {
    throw new ShapeError(label, 'inH', `spatial size ${s.inH}x${s.inW} exceeds 2^22`);
  }
  // One implicit kernel; a pinned 'subgroup' core has no implicit form and runs the tiled one.
  const tiles = 'core' in impl ? pixelGemmTiles(s.inC) : requireBlockedFits(device, label, 'conv2d_backward_input', impl.blocked);
  checkTiles(label, tiles, false);
  const rows = s.batch * s.inH * s.inW;
  const workgroups = pixelGrid(device, label, rows, s.inC, tiles);
  const kernel = await getKernel(device, backwardInputSpec(tiles));
  return kernel.prepare({
    label,
    resources: { dx: buffers.dx, dy: buffers.dy, w: buffers.w },
    params: {
      rows,
      depth: s.kernelH * s.kernelW * s.outC,
      in_h: s.inH,
      in_w: s.inW,
      in_c: s.inC,
      out_c: s.outC,
      out_h: s.outH,
      out_w: s.outW,
      kernel_w: s.kernelW,
      stride_h: s.strideH,
      stride_w: s.strideW,
      pad_top: s.padTop,
      pad_left: s.padLeft,
    },
    workgroups,
  });
}

/** The 'gemm' method: `gemm` (prepared on the dcol workspace) and then col2im. */
async function backwardInputGemm(
  device: GPUDevice,
  buffers: Conv2dBackwardInputBuffers,
  shape: Conv2dShape,
  label: string,
  gemm: (b: GemmBuffers) => Promise<PreparedDispatch>,
): Promise<PreparedDispatch> {
  const s = resolveShape(shape, label);
  const problem = dcolProblem(device, s);
  if (problem) throw new ShapeError(label, 'method', problem);
  const dcol = createStorage(device, s.pixels * s.depth * 4, `${label} dcol`);
  const parts: PreparedDispatch[] = [];
  try {
    parts.push(await gemm({ c: dcol, a: buffers.dy, b: buffers.w }));
    parts.push(await prepareConv2dCol2im(device, { dx: buffers.dx, dcol }, shape, `${label} col2im`));
    const both = sequence(label, parts);
    return {
      ...both,
      destroy() {
        both.destroy();
        dcol.destroy();
      },
    };
  } catch (e) {
    for (const p of parts) p.destroy();
    dcol.destroy();
    throw e;
  }
}

const COL2IM_WORKGROUP = 64;

export const conv2dCol2imSpec: KernelSpec = {
  name: 'conv2d_col2im',
  source: col2imSource,
  bindings: ['dx', 'dcol'],
  params: [
    'in_h',
    'in_w',
    'in_c',
    'out_h',
    'out_w',
    'kernel_h',
    'kernel_w',
    'stride_h',
    'stride_w',
    'pad_top',
    'pad_left',
  ],
  constants: { WORKGROUP_SIZE: COL2IM_WORKGROUP },
};

export const conv2dCol2imVec4Spec: KernelSpec = {
  ...conv2dCol2imSpec,
  name: 'conv2d_col2im_vec4',
  source: col2imVec4Source,
};

/** Channels one col2im thread moves: 4 (conv2d_col2im_vec4) where C % 4 == 0. */
export function col2imChannelsPerThread(inC: number): 1 | 4 {
  return inC % 4 === 0 ? 4 : 1;
}

/** One thread per (column, channel or channel quad) of an input row. */
function col2imGrid(s: { inW: number; inC: number; inH: number; batch: number }) {
  const rowLength = (s.inW * s.inC) / col2imChannelsPerThread(s.inC);
  return { rowLength, rows: s.inH, batch: s.batch, workgroupSize: COL2IM_WORKGROUP };
}

export interface Conv2dCol2imBuffers {
  dx: BufferRef;
  dcol: BufferRef;
}

/**
 * dx (N, H, W, C) = the sum, over taps, of the per-tap columns dcol
 * (N, OH, OW, KH, KW, C) that reach each input; overwrites dx.
 */
export async function prepareConv2dCol2im(
  device: GPUDevice,
  buffers: Conv2dCol2imBuffers,
  shape: Conv2dShape,
  label = 'conv2d_col2im',
): Promise<PreparedDispatch> {
  const s = resolveShape(shape, label);
  requireFits(label, 'dx', buffers.dx, s.xSize);
  requireFits(label, 'dcol', buffers.dcol, s.pixels * s.depth);
  const workgroups = rowGrid(device, label, col2imGrid(s));
  const vec4 = col2imChannelsPerThread(s.inC) === 4;
  const kernel = await getKernel(device, vec4 ? conv2dCol2imVec4Spec : conv2dCol2imSpec);
  return kernel.prepare({
    label,
    resources: { dx: buffers.dx, dcol: buffers.dcol },
    params: {
      in_h: s.inH,
      in_w: s.inW,
      in_c: s.inC,
      out_h: s.outH,
      out_w: s.outW,
      kernel_h: s.kernelH,
      kernel_w: s.kernelW,
      stride_h: s.strideH,
      stride_w: s.strideW,
      pad_top: s.padTop,
      pad_left: s.padLeft,
    },
    workgroups,
  });
}

// ---------------------------------------------------------------------------
// backward filter (split-K GEMM + deterministic reduction)

function backwardFilterSpec(tiles: GemmTiles): KernelSpec {
  return {
    name: 'conv2d_backward_filter',
    source: backwardFilterSource,
    includes: [divFloor, coreFor(tiles)],
    bindings: ['partial', 'x', 'dy'],
    params: ['pixels', 'depth', 'chunk', ...SHAPE_PARAMS, 'db_offset'],
    constants: { ...tiles },
  };
}

/** The backward-filter kernel at the tiles of conv2 (R = 288, K = 64). */
export const conv2dBackwardFilterSpec: KernelSpec = backwardFilterSpec(filterGemmTiles(288, 64));
/** The backward-filter kernel on the blocked core (a filter-menu variant with split groups). */
export const conv2dBackwardFilterBlockedSpec: KernelSpec = backwardFilterSpec(blockedTiles(CONV2D_FILTER_MENU[1]));

function backwardFilterSgSpec(tiles: SubgroupTiles, vec4: boolean, outC: number): KernelSpec {
  return {
    name: 'conv2d_backward_filter_sg',
    source: backwardFilterSgSource,
    includes: [subgroupCore, subgroupOutput(outC)],
    bindings: ['out', 'x', 'dy', 'x4', 'dy4'],
    params: ['pixels', 'depth', 'chunk', ...SHAPE_PARAMS, 'db_offset'],
    constants: { ...tiles, VEC4: vec4 ? 1 : 0 },
  };
}

/**
 * The subgroup kernels read 4 channels at once through second, vec4-typed
 * bindings of x and of dy (or w) when both channel counts are multiples of 4:
 * one lane-varying load instead of four (~15% faster on lavapipe).
 * Read-only bindings may alias; without vec4, a dummy buffer fills them.
 */
function sgVec4(s: { inC: number; outC: number }): boolean {
  return s.inC % 4 === 0 && s.outC % 4 === 0;
}

function sgVec4Views(device: GPUDevice, s: { inC: number; outC: number }, x: BufferRef, y: BufferRef) {
  const vec4 = sgVec4(s);
  return { x4: vec4 ? x : dummyStorage(device), dy4: vec4 ? y : dummyStorage(device) };
}

/** The subgroup backward-filter kernel as lavapipe builds it for conv2. */
export const conv2dBackwardFilterSgSpec: KernelSpec = backwardFilterSgSpec(subgroupTiles(8, 64), true, 64);

const REDUCE_WORKGROUP = 64;

export const conv2dBackwardFilterReduceSpec: KernelSpec = {
  name: 'conv2d_backward_filter_reduce',
  source: filterReduceSource,
  bindings: ['dw', 'db', 'partial'],
  params: ['weights', 'out_c', 'dw_parts', 'db_parts', 'db_offset'],
  constants: { WORKGROUP_SIZE: REDUCE_WORKGROUP },
};

/** Workgroups the split-K pass aims for: enough to keep 16+ cores busy. */
const FILTER_TARGET_WORKGROUPS = 64;
/** The shader splits pixel indices with float reciprocals (div_floor). */
const MAX_FILTER_PIXELS = MAX_EXACT_FLOAT_INDEX - 1024;

/** How the pixels are split between workgroups, and the workspace layout. */
export function filterSplit(
  pixels: number,
  weights: number,
  outC: number,
  tiles: GemmTiles,
  maxWorkspaceBytes: number,
) {
  const mTiles = Math.ceil(weights / outC / tileRows(tiles));
  const nTiles = Math.ceil(outC / tileCols(tiles));
  const dbGroups = (tileThreads(tiles) * 4) / tileCols(tiles);
  const steps = Math.ceil(pixels / tiles.BK);
  let splits = Math.min(steps, Math.max(1, Math.ceil(FILTER_TARGET_WORKGROUPS / (mTiles * nTiles))));
  // Fewer splits when the partials would not fit the workspace limit.
  const bytesPerSplit = (tiles.WG_S * weights + dbGroups * outC) * 4;
  splits = Math.max(1, Math.min(splits, Math.floor(maxWorkspaceBytes / bytesPerSplit)));
  const chunk = Math.ceil(steps / splits) * tiles.BK;
  splits = Math.ceil(pixels / chunk);
  const dwParts = splits * tiles.WG_S;
  const dbParts = splits * dbGroups;
  const dbOffset = dwParts * weights;
  return { mTiles, nTiles, splits, chunk, dwParts, dbParts, dbOffset, floats: dbOffset + dbParts * outC };
}

/**
 * The split of the subgroup kernel: 32-row tiles, one partial per split (its
 * lanes keep separate columns), pixels split into chunks of any length.
 */
export function subgroupFilterSplit(
  pixels: number,
  weights: number,
  outC: number,
  tiles: SubgroupTiles,
  maxWorkspaceBytes: number,
) {
  const mTiles = Math.ceil(weights / outC / SG_ROWS);
  const nTiles = Math.ceil(outC / (4 * tiles.CQ * tiles.SG));
  let splits = Math.min(pixels, Math.max(1, Math.ceil(FILTER_TARGET_WORKGROUPS / (mTiles * nTiles))));
  splits = Math.max(1, Math.min(splits, Math.floor(maxWorkspaceBytes / ((weights + outC) * 4))));
  const chunk = Math.ceil(pixels / splits);
  splits = Math.ceil(pixels / chunk);
  const dbOffset = splits * weights;
  return { mTiles, nTiles, splits, chunk, dwParts: splits, dbParts: splits, dbOffset, floats: dbOffset + splits * outC };
}

/**
 * The backward filter's default core: 'subgroup' where defaultGemmCore allows
 * it and the filter has at least 32 taps (KH*KW*C), a whole row tile; below
 * that the tiled kernel's 16-row tiles waste less (conv1 of the paper's CNN,
 * 16 taps: 31 ms tiled vs 40 ms subgroup on lavapipe at batch 128).
 */
export function defaultBackwardFilterCore(device: GPUDevice, shape: Conv2dShape): GemmCore {
  const s = resolveShape(shape, 'conv2d_backward_filter');
  return s.depth >= SG_ROWS ? defaultGemmCore(device) : 'tiled';
}

export interface Conv2dBackwardFilterBuffers {
  dw: BufferRef;
  db: BufferRef;
  x: BufferRef;
  dy: BufferRef;
}

/**
 * dw = sum over (n, oh, ow) of x-patch * dy; db = sum of dy; both overwritten.
 * Allocates a private workspace for the split-K partial sums, freed by the
 * returned dispatch's destroy(). With `tune: 'off'` (the default), on `core`
 * (default defaultBackwardFilterCore) or the pinned `variant` of
 * CONV2D_FILTER_MENU; with 'auto' or 'cached-only', the tuner's choice among
 * all of them.
 */
export async function prepareConv2dBackwardFilter(
  device: GPUDevice,
  buffers: Conv2dBackwardFilterBuffers,
  shape: Conv2dShape,
  label = 'conv2d_backward_filter',
  options: Conv2dOptions = {},
): Promise<PreparedDispatch> {
  const s = resolveShape(shape, label);
  requireFits(label, 'dw', buffers.dw, s.wSize);
  requireFits(label, 'db', buffers.db, s.outC);
  requireFits(label, 'x', buffers.x, s.xSize);
  requireFits(label, 'dy', buffers.dy, s.ySize);
  const on = (impl: ConvImpl) => backwardFilterOn(device, buffers, s, label, impl);
  const byDefault = defaultBackwardFilterCore(device, shape);
  return tunedOrPinned(device, label, () => conv2dProblem('conv2d_backward_filter', shape), options, on, { core: byDefault }, () =>
    defaultFirst(
      [byDefault, ...coresOf(device).filter((c) => c !== byDefault)].map((core) => ({
        variant: core === 'subgroup' ? 'conv2d_backward_filter_sg' : 'conv2d_backward_filter',
        prepare: () => on({ core }),
      })),
      CONV2D_FILTER_MENU.filter((v) => conv2dBlockedFits(device, v) === null).map((v) => ({
        variant: conv2dBlockedName('conv2d_backward_filter', v),
        prepare: () => on({ blocked: v }),
      })),
    ),
  );
}

async function backwardFilterOn(
  device: GPUDevice,
  buffers: Conv2dBackwardFilterBuffers,
  s: ReturnType<typeof resolveShape>,
  label: string,
  impl: ConvImpl,
): Promise<PreparedDispatch> {
  const core = 'core' in impl ? impl.core : 'tiled';
  const max = device.limits.maxComputeWorkgroupsPerDimension;
  const workspaceLimit = device.limits.maxStorageBufferBindingSize;
  let spec: KernelSpec;
  let split: ReturnType<typeof filterSplit>;
  if (core === 'subgroup') {
    const tiles = subgroupTiles(requireSubgroupLanes(device, label), s.outC);
    split = subgroupFilterSplit(s.pixels, s.wSize, s.outC, tiles, workspaceLimit);
    spec = backwardFilterSgSpec(tiles, sgVec4(s), s.outC);
  } else {
    if (s.pixels > MAX_FILTER_PIXELS) {
      throw new ShapeError(label, 'batch', `N*OH*OW = ${s.pixels} exceeds ${MAX_FILTER_PIXELS}`);
    }
    const tiles =
      'core' in impl ? filterGemmTiles(s.depth, s.outC) : requireBlockedFits(device, label, 'conv2d_backward_filter', impl.blocked);
    checkTiles(label, tiles, true);
    split = filterSplit(s.pixels, s.wSize, s.outC, tiles, workspaceLimit);
    spec = backwardFilterSpec(tiles);
  }
  if (split.mTiles > max || split.nTiles > max || split.splits > max) {
    throw new ShapeError(label, 'kernel', `needs more than ${max} workgroups along one axis`);
  }
  const [gemm, reduce] = await Promise.all([
    getKernel(device, spec),
    getKernel(device, conv2dBackwardFilterReduceSpec),
  ]);
  const workspace = createStorage(device, split.floats * 4, `${label} workspace`);
  const partials = gemm.prepare({
    label: `${label} partials`,
    // The subgroup kernel names the workspace `out` (shaders/common/out_*.wgsl).
    resources:
      core === 'subgroup'
        ? { out: workspace, x: buffers.x, dy: buffers.dy, ...sgVec4Views(device, s, buffers.x, buffers.dy) }
        : { partial: workspace, x: buffers.x, dy: buffers.dy },
    params: {
      pixels: s.pixels,
      depth: s.depth,
      chunk: split.chunk,
      in_h: s.inH,
      in_w: s.inW,
      in_c: s.inC,
      out_c: s.outC,
      out_h: s.outH,
      out_w: s.outW,
      kernel_w: s.kernelW,
      stride_h: s.strideH,
      stride_w: s.strideW,
      pad_top: s.padTop,
      pad_left: s.padLeft,
      db_offset: split.dbOffset,
    },
    workgroups: [split.mTiles, split.splits, split.nTiles],
  });
  const sums = reduce.prepare({
    label: `${label} reduce`,
    resources: { dw: buffers.dw, db: buffers.db, partial: workspace },
    params: {
      weights: s.wSize,
      out_c: s.outC,
      dw_parts: split.dwParts,
      db_parts: split.dbParts,
      db_offset: split.dbOffset,
    },
    workgroups: grid1d(Math.ceil((s.wSize + s.outC) / REDUCE_WORKGROUP), max),
  });
  const both = sequence(label, [partials, sums]);
  return {
    ...both,
    destroy() {
      both.destroy();
      workspace.destroy();
    },
  };
}
