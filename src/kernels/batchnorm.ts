// Batch normalization (Keras semantics) as three steps, each a separate
// dispatch rather than fused into the conv / dense epilogue:
//   stats    the batch mean and biased variance per channel (two passes:
//            per-chunk mean and M2, then Chan's combination), and in
//            training the moving averages
//   forward  y = f(gamma * xhat + beta), the activation after it fused in
//   backward dgamma, dbeta and dx through the batch statistics
// Why not in the GEMM epilogue: no output can be normalised before the whole
// batch's statistics exist, so the forward needs a grid-wide barrier between
// statistics and normalisation whatever is fused. Fusing only the partial sums
// into the epilogue would save one read of the conv output, but needs a
// partial-sums output in every GEMM core (tiled, subgroup, and the variants
// that come), whose tiles do not follow channel chunks. The separate passes
// are memory-bound and small next to the convolutions: on lavapipe (a busy
// 2-core machine, medians of 10) at the paper CNN's conv1, batch 128, the
// conv forward took 63 ms, stats 28, forward 23, backward 36; at conv2, conv
// forward 363 ms, stats 58, forward 16, backward 60. Fusing the statistics
// into the epilogue could save at most the stats pass's read of the output.
// Batch 1 of a dense layer (one row per unit): variance 0, the output is
// f(beta) and no gradient reaches x or gamma, as in Keras.
import statsSource from '../../shaders/batchnorm_stats.wgsl?raw';
import statsReduceSource from '../../shaders/batchnorm_stats_reduce.wgsl?raw';
import forwardSource from '../../shaders/batchnorm_forward.wgsl?raw';
import sumsSource from '../../shaders/batchnorm_backward_sums.wgsl?raw';
import backwardReduceSource from '../../shaders/batchnorm_backward_reduce.wgsl?raw';
import backwardSource from '../../shaders/batchnorm_backward.wgsl?raw';
import { ShapeError } from '../errors';
import { createStorage, dummyStorage, requireFits, requirePositive, type BufferRef } from '../gpu/buffers';
import { getKernel, sequence, type KernelSpec, type PreparedDispatch } from '../gpu/kernel';
import { activationCode, activationCore, type ActivationName } from './activation';

/** Keras's defaults. */
export const BATCHNORM_DEFAULTS = { momentum: 0.99, epsilon: 1e-3 } as const;

/**
 * x is (rows, channels): an NHWC conv output has rows = N * H * W, a dense
 * output rows = N. `activation` is the one applied after the normalisation.
 */
export interface BatchNormShape {
  rows: number;
  channels: number;
  epsilon?: number;
  momentum?: number;
  activation?: ActivationName;
}

const INVOCATIONS = 128;
const PER_CHANNEL = 64;
/** At most this many chunks: the reductions over chunks stay short. */
const MAX_CHUNKS = 64;
/** Rows per chunk at least: enough work per workgroup to amortise it. */
const MIN_CHUNK_ROWS = 256;

/** How the rows split into chunks, and the workgroup shape of the per-chunk passes. */
export function batchNormPlan(shape: { rows: number; channels: number }) {
  const workgroupCols = Math.min(64, Math.max(4, 2 ** Math.ceil(Math.log2(shape.channels))));
  const chunkRows = Math.max(MIN_CHUNK_ROWS, Math.ceil(shape.rows / MAX_CHUNKS));
  return {
    workgroupCols,
    workgroupRows: INVOCATIONS / workgroupCols,
    chunkRows,
    chunks: Math.ceil(shape.rows / chunkRows),
    colGroups: Math.ceil(shape.channels / workgroupCols),
  };
}

function chunkSpec(name: string, source: string, bindings: string[], params: string[], cols: number, includes?: string[], activation = 0): KernelSpec {
  return {
    name,
    source,
    includes,
    bindings,
    params,
    constants: {
      WORKGROUP_COLS: cols,
      WORKGROUP_ROWS: INVOCATIONS / cols,
      ...(includes ? { ACTIVATION: activation } : {}),
    },
  };
}

const statsSpecFor = (cols: number) =>
  chunkSpec('batchnorm_stats', statsSource, ['partial', 'x'], ['rows', 'channels', 'chunk_rows'], cols);
const statsReduceSpecFor = (update: boolean): KernelSpec => ({
  name: 'batchnorm_stats_reduce',
  source: statsReduceSource,
  bindings: ['mean', 'variance', 'moving_mean', 'moving_variance', 'partial'],
  params: ['rows', 'channels', 'chunk_rows', 'chunks', 'momentum'],
  constants: { WORKGROUP_SIZE: PER_CHANNEL, UPDATE_MOVING: update ? 1 : 0 },
});
const forwardSpecFor = (cols: number, activation: number) =>
  chunkSpec(
    'batchnorm_forward',
    forwardSource,
    ['y', 'x', 'mean', 'variance', 'gamma', 'beta'],
    ['rows', 'channels', 'chunk_rows', 'epsilon'],
    cols,
    [activationCore],
    activation,
  );
const sumsSpecFor = (cols: number, activation: number) =>
  chunkSpec(
    'batchnorm_backward_sums',
    sumsSource,
    ['partial', 'dy', 'x', 'mean', 'variance', 'gamma', 'beta'],
    ['rows', 'channels', 'chunk_rows', 'epsilon'],
    cols,
    [activationCore],
    activation,
  );
const backwardReduceSpec: KernelSpec = {
  name: 'batchnorm_backward_reduce',
  source: backwardReduceSource,
  bindings: ['dgamma', 'dbeta', 'sums', 'partial'],
  params: ['channels', 'chunks'],
  constants: { WORKGROUP_SIZE: PER_CHANNEL },
};
const backwardSpecFor = (cols: number, activation: number) =>
  chunkSpec(
    'batchnorm_backward',
    backwardSource,
    ['dx', 'dy', 'x', 'mean', 'variance', 'gamma', 'beta', 'sums'],
    ['rows', 'channels', 'chunk_rows', 'epsilon'],
    cols,
    [activationCore],
    activation,
  );

/** The specs at the paper CNN's conv1 (32 channels) and relu, for the reflection test. */
export const batchNormStatsSpec = statsSpecFor(32);
export const batchNormStatsReduceSpec = statsReduceSpecFor(true);
export const batchNormForwardSpec = forwardSpecFor(32, 1);
export const batchNormBackwardSumsSpec = sumsSpecFor(32, 1);
export { backwardReduceSpec as batchNormBackwardReduceSpec };
export const batchNormBackwardSpec = backwardSpecFor(32, 1);

function validate(where: string, shape: BatchNormShape) {
  const { rows, channels } = shape;
  requirePositive(where, { rows, channels });
  const epsilon = shape.epsilon ?? BATCHNORM_DEFAULTS.epsilon;
  const momentum = shape.momentum ?? BATCHNORM_DEFAULTS.momentum;
  if (!(epsilon > 0)) throw new ShapeError(where, 'epsilon', `must be > 0, got ${epsilon}`);
  if (!(momentum >= 0 && momentum <= 1)) throw new ShapeError(where, 'momentum', `must be in [0, 1], got ${momentum}`);
  if (rows * channels >= 2 ** 31) throw new ShapeError(where, 'rows', `${rows * channels} elements exceed 2^31`);
  return { rows, channels, epsilon, momentum, activation: activationCode(where, shape.activation), n: rows * channels };
}

export interface BatchNormStatsBuffers {
  mean: BufferRef;
  variance: BufferRef;
  /** Updated in place (training); omit both for statistics only. */
  movingMean?: BufferRef;
  movingVariance?: BufferRef;
  x: BufferRef;
}

/**
 * mean, variance (biased) of x per channel, both overwritten; with moving
 * buffers, also moving = momentum * moving + (1 - momentum) * batch. The
 * workspace is freed by the returned dispatch's destroy().
 */
export async function prepareBatchNormStats(
  device: GPUDevice,
  buffers: BatchNormStatsBuffers,
  shape: BatchNormShape,
  label = 'batchnorm_stats',
): Promise<PreparedDispatch> {
  const s = validate(label, shape);
  const update = buffers.movingMean !== undefined || buffers.movingVariance !== undefined;
  if (update && (!buffers.movingMean || !buffers.movingVariance)) {
    throw new ShapeError(label, 'moving', 'give both movingMean and movingVariance, or neither');
  }
  for (const name of ['mean', 'variance', 'movingMean', 'movingVariance'] as const) {
    const b = buffers[name];
    if (b) requireFits(label, name, b, s.channels);
  }
  requireFits(label, 'x', buffers.x, s.n);
  const plan = batchNormPlan(s);
  const [stats, reduce] = await Promise.all([getKernel(device, statsSpecFor(plan.workgroupCols)), getKernel(device, statsReduceSpecFor(update))]);
  const partial = createStorage(device, plan.chunks * 2 * s.channels * 4, `${label} partial`);
  const dummy = dummyStorage(device);
  const both = sequence(label, [
    stats.prepare({
      label: `${label} chunks`,
      resources: { partial, x: buffers.x },
      params: { rows: s.rows, channels: s.channels, chunk_rows: plan.chunkRows },
      workgroups: [plan.colGroups, plan.chunks],
    }),
    reduce.prepare({
      label: `${label} reduce`,
      resources: {
        mean: buffers.mean,
        variance: buffers.variance,
        moving_mean: buffers.movingMean ?? dummy,
        moving_variance: buffers.movingVariance ?? dummy,
        partial,
      },
      params: { rows: s.rows, channels: s.channels, chunk_rows: plan.chunkRows, chunks: plan.chunks, momentum: s.momentum },
      workgroups: [Math.ceil(s.channels / PER_CHANNEL)],
    }),
  ]);
  return { ...both, destroy() { both.destroy(); partial.destroy(); } };
}

export interface BatchNormForwardBuffers {
  y: BufferRef;
  x: BufferRef;
  mean: BufferRef;
  variance: BufferRef;
  gamma: BufferRef;
  beta: BufferRef;
}

/** y = f(gamma * (x - mean) / sqrt(variance + epsilon) + beta); overwrites y. */
export async function prepareBatchNormForward(
  device: GPUDevice,
  buffers: BatchNormForwardBuffers,
  shape: BatchNormShape,
  label = 'batchnorm_forward',
): Promise<PreparedDispatch> {
  const s = validate(label, shape);
  requireFits(label, 'y', buffers.y, s.n);
  requireFits(label, 'x', buffers.x, s.n);
  for (const name of ['mean', 'variance', 'gamma', 'beta'] as const) requireFits(label, name, buffers[name], s.channels);
  const plan = batchNormPlan(s);
  const kernel = await getKernel(device, forwardSpecFor(plan.workgroupCols, s.activation));
  return kernel.prepare({
    label,
    resources: { ...buffers },
    params: { rows: s.rows, channels: s.channels, chunk_rows: plan.chunkRows, epsilon: s.epsilon },
    workgroups: [plan.colGroups, plan.chunks],
  });
}

export interface BatchNormBackwardBuffers {
  dx: BufferRef;
  dgamma: BufferRef;
  dbeta: BufferRef;
  dy: BufferRef;
  x: BufferRef;
  /** The batch statistics the forward pass normalised with. */
  mean: BufferRef;
  variance: BufferRef;
  gamma: BufferRef;
  beta: BufferRef;
}

/**
 * dx, dgamma, dbeta (all overwritten) of y = f(BN(x)) in training mode, from
 * dy = dL/dy; `activation` f is differentiated at the recomputed u (use
 * 'linear' when dy is already w.r.t. u). The workspace is freed by destroy().
 */
export async function prepareBatchNormBackward(
  device: GPUDevice,
  buffers: BatchNormBackwardBuffers,
  shape: BatchNormShape,
  label = 'batchnorm_backward',
): Promise<PreparedDispatch> {
  const s = validate(label, shape);
  for (const name of ['dx', 'dy', 'x'] as const) requireFits(label, name, buffers[name], s.n);
  for (const name of ['dgamma', 'dbeta', 'mean', 'variance', 'gamma', 'beta'] as const) requireFits(label, name, buffers[name], s.channels);
  const plan = batchNormPlan(s);
  const [sumsKernel, reduce, dxKernel] = await Promise.all([
    getKernel(device, sumsSpecFor(plan.workgroupCols, s.activation)),
    getKernel(device, backwardReduceSpec),
    getKernel(device, backwardSpecFor(plan.workgroupCols, s.activation)),
  ]);
  const partial = createStorage(device, plan.chunks * 2 * s.channels * 4, `${label} partial`);
  const sums = createStorage(device, 2 * s.channels * 4, `${label} sums`);
  const stats = { mean: buffers.mean, variance: buffers.variance, gamma: buffers.gamma, beta: buffers.beta };
  const all = sequence(label, [
    sumsKernel.prepare({
      label: `${label} chunks`,
      resources: { partial, dy: buffers.dy, x: buffers.x, ...stats },
      params: { rows: s.rows, channels: s.channels, chunk_rows: plan.chunkRows, epsilon: s.epsilon },
      workgroups: [plan.colGroups, plan.chunks],
    }),
    reduce.prepare({
      label: `${label} reduce`,
      resources: { dgamma: buffers.dgamma, dbeta: buffers.dbeta, sums, partial },
      params: { channels: s.channels, chunks: plan.chunks },
      workgroups: [Math.ceil(s.channels / PER_CHANNEL)],
    }),
    dxKernel.prepare({
      label: `${label} dx`,
      resources: { dx: buffers.dx, dy: buffers.dy, x: buffers.x, ...stats, sums },
      params: { rows: s.rows, channels: s.channels, chunk_rows: plan.chunkRows, epsilon: s.epsilon },
      workgroups: [plan.colGroups, plan.chunks],
    }),
  ]);
  return { ...all, destroy() { all.destroy(); partial.destroy(); sums.destroy(); } };
}
