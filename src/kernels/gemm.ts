import naiveSource from '../../shaders/gemm_naive.wgsl?raw';
import tiledSource from '../../shaders/gemm_tiled.wgsl?raw';
import sgSource from '../../shaders/gemm_sg.wgsl?raw';
import blockedSource from '../../shaders/gemm_blocked.wgsl?raw';
import sgWideSource from '../../shaders/gemm_sg_wide.wgsl?raw';
import enableSubgroups from '../../shaders/common/enable_subgroups.wgsl?raw';
import tileFill from '../../shaders/common/gemm_tile_fill.wgsl?raw';
import subgroupCore from '../../shaders/common/subgroup_gemm.wgsl?raw';
import outF32 from '../../shaders/common/out_f32.wgsl?raw';
import outVec4 from '../../shaders/common/out_vec4.wgsl?raw';
import { activationCode, activationCore, shapeActivation, type ActivationName } from './activation';
import { ShapeError } from '../errors';
import { dummyStorage, requireFits, requirePositive, type BufferRef } from '../gpu/buffers';
import { fixedSubgroupSize, subgroupLanes } from '../gpu/device';
import { getKernel, grid1d, type KernelSpec, type PreparedDispatch } from '../gpu/kernel';
import { defaultTuner, requireTuneMode, type TuneCandidate, type TuneOptions } from '../gpu/tune';

export interface GemmBuffers {
  c: BufferRef;
  a: BufferRef;
  b: BufferRef;
  bias?: BufferRef;
}

/**
 * C(m, n) = f(op(A)·op(B) [+ bias(n) broadcast over rows]); overwrites C. f is
 * `activation` (default linear; `relu: true` is short for 'relu').
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
  activation?: ActivationName;
  relu?: boolean;
}

const BINDINGS = ['c', 'a', 'b', 'bias'] as const;
const PARAMS = ['m', 'n', 'k', 'use_bias'] as const;

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
  /** Each invocation computes 16 x 16 outputs instead of 8 x 8. */
  wide?: boolean;
  /** The C tile of one workgroup: multiples of 8 (16 when wide). */
  tileM?: number;
  tileN?: number;
  /** Depth of one step through k: a multiple of 4. */
  tileK?: number;
  /** The fused epilogue's activation (default linear). */
  activation?: ActivationName;
}

/**
 * Default: 128 x 128 tiles of C per workgroup of 8 x 8 invocations, each
 * owning 16 x 16 outputs; TILE_K = 16 makes the two tiles 8 KiB each (16 KiB
 * in all). The fastest measured at 512^3 on both CPU adapters (lavapipe and
 * SwiftShader), ahead of 8 x 8 per invocation with 64 x 64 x 32 tiles by about
 * 1.3x (lavapipe) and 2x (SwiftShader): both load every workgroup-memory
 * operand lane by lane, so FMAs per load decide the speed.
 */
export const GEMM_TILE_DEFAULTS = { wide: true, tileM: 128, tileN: 128, tileK: 16 } as const;

/** Outputs per invocation along m and n (PER_THREAD in the WGSL). */
function perThread(wide: boolean): number {
  return wide ? 16 : 8;
}

/** The tiled kernel's spec for one variant (each variant is its own pipeline). */
export function gemmTiledSpecFor(opts: GemmTiledOptions = {}): KernelSpec {
  const wide = opts.wide ?? GEMM_TILE_DEFAULTS.wide;
  const tileM = opts.tileM ?? GEMM_TILE_DEFAULTS.tileM;
  const tileN = opts.tileN ?? GEMM_TILE_DEFAULTS.tileN;
  const tileK = opts.tileK ?? GEMM_TILE_DEFAULTS.tileK;
  const per = perThread(wide);
  for (const [name, v, step] of [
    ['tileM', tileM, per],
    ['tileN', tileN, per],
    ['tileK', tileK, 4],
  ] as const) {
    if (!Number.isInteger(v) || v < step || v % step !== 0) {
      throw new ShapeError('gemm_tiled', name, `must be a positive multiple of ${step}, got ${v}`);
    }
  }
  if ((tileM / per) * (tileN / per) > 256) {
    throw new ShapeError('gemm_tiled', 'tileM x tileN', `${tileM} x ${tileN} needs more than 256 invocations`);
  }
  if ((tileM + tileN) * tileK * 4 > 16384) {
    throw new ShapeError('gemm_tiled', 'tileK', `tiles of ${tileM}, ${tileN}, ${tileK} exceed 16 KiB of workgroup memory`);
  }
  return {
    name: 'gemm_tiled',
    source: tiledSource,
    includes: [activationCore, tileFill],
    bindings: BINDINGS,
    params: PARAMS,
    constants: {
      TRANS_A: opts.transA ? 1 : 0,
      TRANS_B: opts.transB ? 1 : 0,
      VEC4_A: opts.vec4A ? 1 : 0,
      VEC4_B: opts.vec4B ? 1 : 0,
      VEC4_C: opts.vec4C ? 1 : 0,
      WIDE: wide ? 1 : 0,
      WORKGROUP_X: tileN / per,
      WORKGROUP_Y: tileM / per,
      TILE_K: tileK,
      ACTIVATION: activationCode('gemm_tiled', opts.activation),
    },
  };
}

/** The NN variant with scalar loads: the base spec the reflection test checks. */
export const gemmTiledSpec: KernelSpec = gemmTiledSpecFor();

const NAIVE_WORKGROUP = { x: 16, y: 16 } as const;

export function gemmNaiveSpecFor(opts: { transA?: boolean; transB?: boolean; activation?: ActivationName } = {}): KernelSpec {
  return {
    name: 'gemm_naive',
    source: naiveSource,
    includes: [activationCore],
    bindings: BINDINGS,
    params: PARAMS,
    constants: {
      TRANS_A: opts.transA ? 1 : 0,
      TRANS_B: opts.transB ? 1 : 0,
      WORKGROUP_X: NAIVE_WORKGROUP.x,
      WORKGROUP_Y: NAIVE_WORKGROUP.y,
      ACTIVATION: activationCode('gemm_naive', opts.activation),
    },
  };
}

export const gemmNaiveSpec: KernelSpec = gemmNaiveSpecFor();

// The bias binding exists in every variant (layouts are fixed); without a bias
// it is bound to this 16-byte buffer, one per device, never read.
function biasOrDummy(device: GPUDevice, buffers: GemmBuffers): BufferRef {
  return buffers.bias ?? dummyStorage(device);
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
  activationCode(where, shapeActivation(shape)); // validates the name
  return { m, n, k, use_bias: shape.bias ? 1 : 0 };
}

function requireGrid(where: string, device: GPUDevice, x: number, y: number): void {
  const max = device.limits.maxComputeWorkgroupsPerDimension;
  if (x > max) throw new ShapeError(where, 'n', `needs ${x} workgroups along x, over the limit ${max}`);
  if (y > max) throw new ShapeError(where, 'm', `needs ${y} workgroups along y, over the limit ${max}`);
}

/** Fewer workgroups than this leaves cores of a many-core CPU adapter idle. */
const MIN_WORKGROUPS = 8;

/**
 * Tile sizes for a shape. Large outputs use 16 x 16 per invocation and tiles
 * up to the 128 x 128 default. Small ones (the dense layer's n = 10, batch 1) get 8 x 8 per
 * invocation and tiles no larger than the output, so a workgroup does not
 * spend its time on padding; tiles then shrink until there are enough
 * workgroups to spread over the cores. TILE_K is as deep as 16 KiB allows,
 * and shallower for a short k (dx = dy·Wᵀ has k = 10), from 8 / 16 / 32 only:
 * every distinct value is another pipeline to compile.
 */
export function chooseGemmTiles(shape: { m: number; n: number; k: number }): Required<
  Pick<GemmTiledOptions, 'wide' | 'tileM' | 'tileN' | 'tileK'>
> {
  // 16 x 16 per invocation once both sides hold at least four such blocks.
  const wide = Math.min(shape.m, shape.n) >= 64;
  const per = perThread(wide);
  const largest = wide ? GEMM_TILE_DEFAULTS.tileM : 64;
  // Up to the largest tile: the next power of two. Beyond it: as many tiles
  // as the largest needs, each as small as covers d (288 -> 3 x 96, not 3 x
  // 128 with a quarter of the last tile wasted).
  const fit = (d: number) => {
    if (d <= largest) return Math.max(per, 2 ** Math.ceil(Math.log2(d)));
    const tiles = Math.ceil(d / largest);
    return Math.ceil(d / tiles / per) * per;
  };
  let tileM = fit(shape.m);
  let tileN = fit(shape.n);
  const count = () => Math.ceil(shape.m / tileM) * Math.ceil(shape.n / tileN);
  while (count() < MIN_WORKGROUPS && Math.max(tileM, tileN) > per) {
    // Halve, staying a multiple of the per-invocation block.
    if (tileM >= tileN) tileM = Math.ceil(tileM / 2 / per) * per;
    else tileN = Math.ceil(tileN / 2 / per) * per;
  }
  const deepest = 4096 / (tileM + tileN); // floats of 16 KiB per row of both tiles
  const tileK = [32, 16, 8].find((d) => d <= deepest && (d === 8 || shape.k > d / 2))!;
  return { wide, tileM, tileN, tileK };
}

/**
 * Which GEMM core a kernel runs on:
 * - 'tiled': gemm_tiled and shaders/common/conv2d_gemm.wgsl, tiles staged in
 *   workgroup memory, 16 x 16 outputs per invocation. Any adapter.
 * - 'subgroup': gemm_sg and shaders/common/subgroup_gemm.wgsl, no workgroup
 *   memory, A shared between lanes by subgroupBroadcast. Needs
 *   subgroupLanes(device) (subgroups of exactly 4 or 8 lanes: the CPU
 *   adapters), where it is 1.5-5x faster (bench/results).
 * The default is 'subgroup' wherever subgroupLanes allows it.
 */
export type GemmCore = 'tiled' | 'subgroup';

export function defaultGemmCore(device: GPUDevice): GemmCore {
  return subgroupLanes(device) !== null ? 'subgroup' : 'tiled';
}

/** `core` if it names a core; otherwise a ShapeError naming `where`. */
export function requireCore(where: string, core: unknown): GemmCore {
  if (core === 'tiled' || core === 'subgroup') return core;
  throw new ShapeError(where, 'core', `must be 'tiled' or 'subgroup', got ${String(core)}`);
}

/** subgroupLanes(device), or a ShapeError saying why the subgroup core cannot run. */
export function requireSubgroupLanes(device: GPUDevice, where: string): 4 | 8 {
  const lanes = subgroupLanes(device);
  if (lanes === null) {
    throw new ShapeError(
      where,
      'core',
      "'subgroup' needs the 'subgroups' feature and a fixed subgroup size of 4 or 8, which this device does not have (use 'tiled')",
    );
  }
  return lanes;
}

/** Constants of the subgroup core: SG lanes, CQ column quads per lane. */
export interface SubgroupTiles {
  SG: number;
  CQ: number;
}

/** Rows of a subgroup kernel's output tile (BM in subgroup_gemm.wgsl). */
export const SG_ROWS = 32;

/**
 * Two column quads per lane unless one wastes fewer padded columns: 64
 * columns take one 64-wide tile, 288 (conv2's backward-input GEMM) nine
 * 32-wide tiles instead of five 64-wide ones (~15% faster on lavapipe), 10
 * one 32-wide tile.
 */
export function subgroupTiles(lanes: 4 | 8, cols: number): SubgroupTiles {
  const padded = (cq: number) => Math.ceil(cols / (4 * cq * lanes)) * 4 * cq * lanes;
  return { SG: lanes, CQ: padded(2) <= padded(1) ? 2 : 1 };
}

/** Row tiles over x (and y past the limit), column tiles over z. */
export function subgroupGrid(
  device: GPUDevice,
  where: string,
  rows: number,
  cols: number,
  t: SubgroupTiles,
): [number, number, number] {
  const max = device.limits.maxComputeWorkgroupsPerDimension;
  const [gx, gy] = grid1d(Math.ceil(rows / SG_ROWS), max);
  const gz = Math.ceil(cols / (4 * t.CQ * t.SG));
  if (gy > max || gz > max) {
    throw new ShapeError(where, 'rows', `needs more than ${max} x ${max} workgroups`);
  }
  return [gx, gy, gz];
}

export interface PrepareGemmOptions extends TuneOptions {
  /** Pins the core; no tuning happens then. */
  core?: GemmCore;
}

/**
 * C = f(op(A)·op(B) [+ bias]), f the fused activation. With `tune: 'off'` (the default) or a
 * `core`, on that core (default: defaultGemmCore). With 'auto' or
 * 'cached-only', the variant gemmCandidates lists that the tuner picks for
 * this shape on this adapter; 'auto' runs the candidates on `buffers` (C is
 * overwritten, as by every run). The result then carries `variant`.
 */
export async function prepareGemm(
  device: GPUDevice,
  buffers: GemmBuffers,
  shape: GemmShape,
  label?: string,
  options: PrepareGemmOptions = {},
): Promise<PreparedDispatch> {
  const where = label ?? 'gemm';
  const tune = requireTuneMode(where, options.tune ?? 'off');
  if (tune === 'off' || options.core !== undefined) {
    const core = requireCore(where, options.core ?? defaultGemmCore(device));
    return core === 'subgroup'
      ? prepareGemmSubgroup(device, buffers, shape, label)
      : prepareGemmTiled(device, buffers, shape, label);
  }
  validate(where, buffers, shape);
  const tuner = options.tuner ?? defaultTuner(device);
  return tuner.choose(gemmProblem(shape), gemmCandidates(device, buffers, shape, label), tune);
}

/** The tuning problem of a GEMM shape: what the cache key names. */
export function gemmProblem(shape: GemmShape): string {
  const t = `${shape.transA ? 'T' : 'N'}${shape.transB ? 'T' : 'N'}`;
  return `gemm ${t} m=${shape.m} n=${shape.n} k=${shape.k}`;
}

/** A GEMM variant not yet bound to buffers (what gemmMenu lists). */
export interface GemmMenuEntry {
  variant: string;
  prepare(buffers: GemmBuffers): Promise<PreparedDispatch>;
}

/**
 * The variants of one GEMM shape on this device, the shape-based default
 * first (what tune: 'off' runs): the default core, every gemm_blocked
 * variant of GEMM_BLOCKED_MENU and gemm_sg_wide variant of GEMM_SG_WIDE_MENU
 * that fits the device, then the other core where the device has it. Kernels that run a GEMM on
 * buffers of their own (conv2d's backward input) bind it themselves.
 */
export function gemmMenu(device: GPUDevice, shape: GemmShape, label?: string): GemmMenuEntry[] {
  const cores: GemmCore[] = subgroupLanes(device) !== null ? ['subgroup', 'tiled'] : ['tiled'];
  const [first, ...others] = cores.map(
    (core): GemmMenuEntry =>
      core === 'subgroup'
        ? { variant: 'gemm_sg', prepare: (b) => prepareGemmSubgroup(device, b, shape, label) }
        : { variant: 'gemm_tiled', prepare: (b) => prepareGemmTiled(device, b, shape, label) },
  );
  const out: GemmMenuEntry[] = [first];
  for (const v of GEMM_BLOCKED_MENU) {
    if (gemmBlockedFits(device, v, shape) !== null) continue;
    out.push({ variant: gemmBlockedName(v), prepare: (b) => prepareGemmBlocked(device, b, shape, label, v) });
  }
  for (const v of GEMM_SG_WIDE_MENU) {
    if (gemmSgWideFits(device, v, shape) !== null) continue;
    out.push({ variant: gemmSgWideName(v), prepare: (b) => prepareGemmSgWide(device, b, shape, label, v) });
  }
  // The other core last: where there are two (the CPU adapters) its 16 x 16
  // blocks take seconds to compile, and the tuner's budget is better spent on
  // the small kernels first.
  return [...out, ...others];
}

/**
 * One variant of gemm_sg_wide: each workgroup is one subgroup of the
 * device's fixed size SG, arranged laneRows x SG / laneRows; each lane owns
 * rowQuads x colQuads blocks of 4 x 4 outputs.
 */
export interface GemmSgWideVariant {
  laneRows: 1 | 2 | 4;
  rowQuads: 1 | 2;
  colQuads: 1 | 2;
}

/**
 * The menu, relative to the subgroup size so that every entry builds for
 * any fixed size from 4 lanes up: the CPU adapters (4, 8), where the tests
 * run each one, and GPUs (16-64), where the tuner times them. On 32 lanes
 * the tiles run from 16 x 64 to 64 x 128 (laneRows 1, 2x2 quads: 8 x 256).
 */
export const GEMM_SG_WIDE_MENU: readonly GemmSgWideVariant[] = [
  { laneRows: 1, rowQuads: 2, colQuads: 1 },
  { laneRows: 2, rowQuads: 1, colQuads: 2 },
  { laneRows: 2, rowQuads: 2, colQuads: 2 },
  { laneRows: 4, rowQuads: 1, colQuads: 1 },
  { laneRows: 4, rowQuads: 2, colQuads: 1 },
  { laneRows: 4, rowQuads: 2, colQuads: 2 },
];

/** E.g. 'gemm_sg_wide 8x8 r2': outputs per lane, lane rows. */
export function gemmSgWideName(v: GemmSgWideVariant): string {
  return `gemm_sg_wide ${4 * v.rowQuads}x${4 * v.colQuads} r${v.laneRows}`;
}

function sgWideTile(v: GemmSgWideVariant, lanes: number): { tileM: number; tileN: number } {
  return { tileM: v.laneRows * v.rowQuads * 4, tileN: (lanes / v.laneRows) * v.colQuads * 4 };
}

/** Why `v` cannot run on this device (for this shape), or null when it can. */
export function gemmSgWideFits(device: GPUDevice, v: GemmSgWideVariant, shape?: { m: number; n: number }): string | null {
  const lanes = fixedSubgroupSize(device);
  if (lanes === null) return "needs the 'subgroups' feature and a fixed subgroup size (subgroupMinSize == subgroupMaxSize)";
  const l = device.limits;
  if (lanes % v.laneRows !== 0) return `${v.laneRows} lane rows do not divide ${lanes} lanes`;
  if (lanes > l.maxComputeInvocationsPerWorkgroup || lanes > l.maxComputeWorkgroupSizeX) {
    return `${lanes} invocations exceed the workgroup limits`;
  }
  return shape ? cTileGridProblem(device, shape, sgWideTile(v, lanes)) : null;
}

/** The wide-subgroup kernel's spec for one variant, lane count and layout. */
export function gemmSgWideSpecFor(
  v: GemmSgWideVariant,
  lanes: number,
  opts: { transA?: boolean; transB?: boolean; vec4C?: boolean; activation?: ActivationName } = {},
): KernelSpec {
  return {
    name: 'gemm_sg_wide',
    source: sgWideSource,
    includes: [enableSubgroups, activationCore],
    bindings: BINDINGS,
    params: PARAMS,
    constants: {
      ACTIVATION: activationCode('gemm_sg_wide', opts.activation),
      TRANS_A: opts.transA ? 1 : 0,
      TRANS_B: opts.transB ? 1 : 0,
      VEC4_C: opts.vec4C ? 1 : 0,
      SG: lanes,
      LANE_ROWS: v.laneRows,
      ROW_QUADS: v.rowQuads,
      COL_QUADS: v.colQuads,
    },
  };
}

/** The menu's first variant at 32 lanes, NN: the base spec the reflection test checks. */
export const gemmSgWideSpec: KernelSpec = gemmSgWideSpecFor(GEMM_SG_WIDE_MENU[0], 32);

/** The GEMM as one gemm_sg_wide variant (devices with a fixed subgroup size). */
export async function prepareGemmSgWide(
  device: GPUDevice,
  buffers: GemmBuffers,
  shape: GemmShape,
  label = 'gemm_sg_wide',
  variant: GemmSgWideVariant = GEMM_SG_WIDE_MENU[0],
): Promise<PreparedDispatch> {
  const params = validate(label, buffers, shape);
  const why = gemmSgWideFits(device, variant);
  if (why) throw new ShapeError(label, 'variant', `${gemmSgWideName(variant)} does not fit this device: ${why}`);
  const lanes = fixedSubgroupSize(device)!;
  const spec = gemmSgWideSpecFor(variant, lanes, {
    transA: shape.transA,
    transB: shape.transB,
    vec4C: shape.n % 4 === 0,
    activation: shapeActivation(shape),
  });
  return prepareOnCTiles(device, buffers, shape, label, params, sgWideTile(variant, lanes), spec);
}

/** A GEMM kernel whose workgroups each own one tileM x tileN tile of C (x over n, y over m). */
async function prepareOnCTiles(
  device: GPUDevice,
  buffers: GemmBuffers,
  shape: GemmShape,
  label: string,
  params: Record<string, number>,
  tile: { tileM: number; tileN: number },
  spec: KernelSpec,
): Promise<PreparedDispatch> {
  const [x, y] = cTileGrid(shape, tile);
  requireGrid(label, device, x, y);
  const kernel = await getKernel(device, spec);
  const resources = { c: buffers.c, a: buffers.a, b: buffers.b, bias: biasOrDummy(device, buffers) };
  return kernel.prepare({ label, resources, params, workgroups: [x, y] });
}

function cTileGrid(shape: { m: number; n: number }, tile: { tileM: number; tileN: number }): [number, number] {
  return [Math.ceil(shape.n / tile.tileN), Math.ceil(shape.m / tile.tileM)];
}

/** Why the C-tile grid of `shape` exceeds the device's workgroup counts, or null. */
function cTileGridProblem(device: GPUDevice, shape: { m: number; n: number }, tile: { tileM: number; tileN: number }): string | null {
  const max = device.limits.maxComputeWorkgroupsPerDimension;
  return cTileGrid(shape, tile).some((g) => g > max) ? `grid over ${max} workgroups` : null;
}

/** gemmMenu bound to `buffers`: the tuner's candidates for one GEMM. */
export function gemmCandidates(
  device: GPUDevice,
  buffers: GemmBuffers,
  shape: GemmShape,
  label?: string,
): TuneCandidate[] {
  return gemmMenu(device, shape, label).map((e) => ({ variant: e.variant, prepare: () => e.prepare(buffers) }));
}

/**
 * One variant of gemm_blocked: each invocation owns blockM x blockN outputs,
 * a workgroup is workgroupX x workgroupY invocations (its C tile is
 * workgroupY * blockM rows by workgroupX * blockN columns), and the
 * reduction is staged tileK deep.
 */
export interface GemmBlockedVariant {
  blockM: 4 | 8;
  blockN: 4 | 8;
  workgroupX: number;
  workgroupY: number;
  tileK: number;
}

/**
 * The menu the tuner times, shaped for GPUs: 16-64 accumulators per
 * invocation (gemm_tiled's 256 spill on a GPU), 64-256 invocations, tiles of
 * 32 x 32 to 128 x 128, 8 to 32 deep, at most 16 KiB of workgroup memory
 * (the spec's default limit).
 */
export const GEMM_BLOCKED_MENU: readonly GemmBlockedVariant[] = [
  { blockM: 4, blockN: 4, workgroupX: 8, workgroupY: 8, tileK: 32 },
  { blockM: 4, blockN: 4, workgroupX: 16, workgroupY: 16, tileK: 16 },
  { blockM: 4, blockN: 8, workgroupX: 8, workgroupY: 16, tileK: 16 },
  { blockM: 8, blockN: 4, workgroupX: 16, workgroupY: 8, tileK: 16 },
  { blockM: 8, blockN: 8, workgroupX: 8, workgroupY: 8, tileK: 32 },
  { blockM: 8, blockN: 8, workgroupX: 16, workgroupY: 8, tileK: 16 },
  { blockM: 8, blockN: 8, workgroupX: 16, workgroupY: 16, tileK: 8 },
  { blockM: 8, blockN: 8, workgroupX: 16, workgroupY: 16, tileK: 16 },
];

/** E.g. 'gemm_blocked 8x8 wg16x16 k16': block, workgroup, reduction depth. */
export function gemmBlockedName(v: GemmBlockedVariant): string {
  return `gemm_blocked ${v.blockM}x${v.blockN} wg${v.workgroupX}x${v.workgroupY} k${v.tileK}`;
}

function blockedTile(v: GemmBlockedVariant): { tileM: number; tileN: number; bytes: number } {
  const tileM = v.workgroupY * v.blockM;
  const tileN = v.workgroupX * v.blockN;
  return { tileM, tileN, bytes: (tileM + tileN) * v.tileK * 4 };
}

/**
 * Why `v` cannot run on this device (for this shape), or null when it can:
 * invocations and workgroup sizes, workgroup memory, and the grid against
 * the device's limits.
 */
export function gemmBlockedFits(device: GPUDevice, v: GemmBlockedVariant, shape?: { m: number; n: number }): string | null {
  const l = device.limits;
  const { tileM, tileN, bytes } = blockedTile(v);
  if (v.workgroupX * v.workgroupY > l.maxComputeInvocationsPerWorkgroup) {
    return `${v.workgroupX * v.workgroupY} invocations > maxComputeInvocationsPerWorkgroup ${l.maxComputeInvocationsPerWorkgroup}`;
  }
  if (v.workgroupX > l.maxComputeWorkgroupSizeX) return `workgroup x ${v.workgroupX} > ${l.maxComputeWorkgroupSizeX}`;
  if (v.workgroupY > l.maxComputeWorkgroupSizeY) return `workgroup y ${v.workgroupY} > ${l.maxComputeWorkgroupSizeY}`;
  if (bytes > l.maxComputeWorkgroupStorageSize) {
    return `${bytes} bytes of workgroup memory > ${l.maxComputeWorkgroupStorageSize}`;
  }
  return shape ? cTileGridProblem(device, shape, { tileM, tileN }) : null;
}

/** The blocked kernel's spec for one variant and one layout. */
export function gemmBlockedSpecFor(
  v: GemmBlockedVariant,
  opts: { transA?: boolean; transB?: boolean; vec4A?: boolean; vec4B?: boolean; vec4C?: boolean; activation?: ActivationName } = {},
): KernelSpec {
  for (const [name, x] of [['blockM', v.blockM], ['blockN', v.blockN]] as const) {
    if (x !== 4 && x !== 8) throw new ShapeError('gemm_blocked', name, `must be 4 or 8, got ${x}`);
  }
  if (!Number.isInteger(v.tileK) || v.tileK < 4 || v.tileK % 4 !== 0) {
    throw new ShapeError('gemm_blocked', 'tileK', `must be a positive multiple of 4, got ${v.tileK}`);
  }
  for (const [name, x] of [['workgroupX', v.workgroupX], ['workgroupY', v.workgroupY]] as const) {
    if (!Number.isInteger(x) || x < 1) throw new ShapeError('gemm_blocked', name, `must be a positive integer, got ${x}`);
  }
  return {
    name: 'gemm_blocked',
    source: blockedSource,
    includes: [activationCore, tileFill],
    bindings: BINDINGS,
    params: PARAMS,
    constants: {
      ACTIVATION: activationCode('gemm_blocked', opts.activation),
      TRANS_A: opts.transA ? 1 : 0,
      TRANS_B: opts.transB ? 1 : 0,
      VEC4_A: opts.vec4A ? 1 : 0,
      VEC4_B: opts.vec4B ? 1 : 0,
      VEC4_C: opts.vec4C ? 1 : 0,
      BLOCK_M: v.blockM,
      BLOCK_N: v.blockN,
      WORKGROUP_X: v.workgroupX,
      WORKGROUP_Y: v.workgroupY,
      TILE_K: v.tileK,
    },
  };
}

/** The menu's first variant, NN, scalar loads: the base spec the reflection test checks. */
export const gemmBlockedSpec: KernelSpec = gemmBlockedSpecFor(GEMM_BLOCKED_MENU[0]);

/** The GEMM as one gemm_blocked variant (any adapter whose limits fit it). */
export async function prepareGemmBlocked(
  device: GPUDevice,
  buffers: GemmBuffers,
  shape: GemmShape,
  label = 'gemm_blocked',
  variant: GemmBlockedVariant = GEMM_BLOCKED_MENU[0],
): Promise<PreparedDispatch> {
  const params = validate(label, buffers, shape);
  const { m, n, k } = shape;
  const why = gemmBlockedFits(device, variant);
  if (why) throw new ShapeError(label, 'variant', `${gemmBlockedName(variant)} does not fit this device: ${why}`);
  const spec = gemmBlockedSpecFor(variant, {
    transA: shape.transA,
    transB: shape.transB,
    vec4A: (shape.transA ? m : k) % 4 === 0,
    vec4B: (shape.transB ? k : n) % 4 === 0,
    vec4C: n % 4 === 0,
    activation: shapeActivation(shape),
  });
  return prepareOnCTiles(device, buffers, shape, label, params, blockedTile(variant), spec);
}

/** The tiled GEMM, on any adapter. */
export async function prepareGemmTiled(
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
    activation: shapeActivation(shape),
  });
  const kernel = await getKernel(device, spec);
  const resources = { c: buffers.c, a: buffers.a, b: buffers.b, bias: biasOrDummy(device, buffers) };
  return kernel.prepare({ label, resources, params, workgroups: [x, y] });
}

/**
 * The output binding of a subgroup kernel whose rows are `cols` long:
 * vec4 stores when cols % 4 == 0 (shaders/common/out_vec4.wgsl), else
 * floats (out_f32.wgsl). Both name it `out`.
 */
export function subgroupOutput(cols: number): string {
  return cols % 4 === 0 ? outVec4 : outF32;
}

/** The subgroup kernel's spec: SG lanes, CQ column quads per lane, rows of n. */
export function gemmSgSpecFor(opts: {
  transA?: boolean;
  transB?: boolean;
  SG: number;
  CQ: number;
  n: number;
  activation?: ActivationName;
}): KernelSpec {
  return {
    name: 'gemm_sg',
    source: sgSource,
    includes: [subgroupCore, activationCore, subgroupOutput(opts.n)],
    bindings: ['out', 'a', 'b', 'bias'],
    params: PARAMS,
    constants: {
      TRANS_A: opts.transA ? 1 : 0,
      TRANS_B: opts.transB ? 1 : 0,
      SG: opts.SG,
      CQ: opts.CQ,
      ACTIVATION: activationCode('gemm_sg', opts.activation),
    },
  };
}

/** The NN variant as lavapipe builds it (8 lanes, 64 columns per workgroup, vec4 stores). */
export const gemmSgSpec: KernelSpec = gemmSgSpecFor({ SG: 8, CQ: 2, n: 64 });
/** The same with scalar stores (n % 4 != 0: the dense layer's 10 outputs). */
export const gemmSgScalarSpec: KernelSpec = gemmSgSpecFor({ SG: 8, CQ: 1, n: 10 });

/**
 * The GEMM on the subgroup core (shaders/common/subgroup_gemm.wgsl): needs
 * subgroupLanes(device) (subgroups of exactly 4 or 8 lanes, the CPU
 * adapters), and is 1.7x faster than prepareGemmTiled there on the conv2
 * backward-input product (12800 x 288 x 64). Same buffers, shape and result.
 */
export async function prepareGemmSubgroup(
  device: GPUDevice,
  buffers: GemmBuffers,
  shape: GemmShape,
  label = 'gemm_sg',
): Promise<PreparedDispatch> {
  const params = validate(label, buffers, shape);
  const tiles = subgroupTiles(requireSubgroupLanes(device, label), shape.n);
  const workgroups = subgroupGrid(device, label, shape.m, shape.n, tiles);
  const kernel = await getKernel(
    device,
    gemmSgSpecFor({ transA: shape.transA, transB: shape.transB, ...tiles, n: shape.n, activation: shapeActivation(shape) }),
  );
  const resources = { out: buffers.c, a: buffers.a, b: buffers.b, bias: biasOrDummy(device, buffers) };
  return kernel.prepare({ label, resources, params, workgroups });
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
  const kernel = await getKernel(
    device,
    gemmNaiveSpecFor({ transA: shape.transA, transB: shape.transB, activation: shapeActivation(shape) }),
  );
  const resources = { c: buffers.c, a: buffers.a, b: buffers.b, bias: biasOrDummy(device, buffers) };
  return kernel.prepare({ label, resources, params, workgroups: [x, y] });
}
