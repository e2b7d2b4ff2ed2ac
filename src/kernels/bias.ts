import source from '../../shaders/bias_backward.wgsl?raw';
import { ShapeError } from '../errors';
import { createStorage, requireFits, requirePositive, type BufferRef } from '../gpu/buffers';
import { getKernel, sequence, type PreparedDispatch } from '../gpu/kernel';
import type { KernelSpec } from '../gpu/kernel';

const BINDINGS = ['out', 'inp'] as const;
const PARAMS = ['rows', 'cols', 'chunk_rows'] as const;
const INVOCATIONS = 128;

/** One workgroup shape: WORKGROUP_COLS columns x (128 / WORKGROUP_COLS) row lanes. */
export function biasBackwardSpecFor(workgroupCols = 32): KernelSpec {
  if (![4, 8, 16, 32, 64].includes(workgroupCols)) {
    throw new ShapeError('bias_backward', 'workgroupCols', `must be a power of two in 4..64, got ${workgroupCols}`);
  }
  return {
    name: 'bias_backward',
    source,
    bindings: BINDINGS,
    params: PARAMS,
    constants: { WORKGROUP_COLS: workgroupCols, WORKGROUP_ROWS: INVOCATIONS / workgroupCols },
  };
}

export const biasBackwardSpec: KernelSpec = biasBackwardSpecFor();

/** Rows one workgroup sums in the first pass: enough work to amortise it. */
const CHUNK_ROWS = 1024;
/** At most this many chunks, so the second pass is one short reduction. */
const MAX_CHUNKS = 256;

export interface BiasBackwardPlan {
  /** Columns per workgroup (a power of two) and row lanes per workgroup. */
  workgroupCols: number;
  workgroupRows: number;
  /** Rows per first-pass workgroup, and how many chunks (1: a single pass). */
  chunkRows: number;
  chunks: number;
}

/**
 * How a shape is split: one pass when the rows fit one chunk, else two. The
 * workgroup is as wide as the columns (up to 64) so no lane idles on the
 * dense layer's 10 or the convs' 32 / 64 channels.
 */
export function biasBackwardPlan(shape: { rows: number; cols: number }): BiasBackwardPlan {
  const workgroupCols = Math.min(64, Math.max(4, 2 ** Math.ceil(Math.log2(shape.cols))));
  const chunkRows = Math.max(CHUNK_ROWS, Math.ceil(shape.rows / MAX_CHUNKS));
  return {
    workgroupCols,
    workgroupRows: INVOCATIONS / workgroupCols,
    chunkRows,
    chunks: Math.ceil(shape.rows / chunkRows),
  };
}

/**
 * db(cols) = sum over rows of dy(rows, cols); overwrites db. Used for dense
 * bias gradients (rows = batch, cols = units) and conv bias gradients (dy is
 * NHWC, so rows = N * OH * OW, cols = Cout). Deterministic: no atomics.
 */
export async function prepareBiasBackward(
  device: GPUDevice,
  buffers: { db: BufferRef; dy: BufferRef },
  shape: { rows: number; cols: number },
  label = 'bias_backward',
): Promise<PreparedDispatch> {
  const { rows, cols } = shape;
  requirePositive(label, { rows, cols });
  requireFits(label, 'db', buffers.db, cols);
  requireFits(label, 'dy', buffers.dy, rows * cols);
  const { workgroupCols, chunkRows, chunks } = biasBackwardPlan(shape);
  const colGroups = Math.ceil(cols / workgroupCols);
  const max = device.limits.maxComputeWorkgroupsPerDimension;
  if (colGroups > max) {
    throw new ShapeError(label, 'cols', `${cols} columns need ${colGroups} workgroups, over the limit ${max}`);
  }
  const kernel = await getKernel(device, biasBackwardSpecFor(workgroupCols));
  if (chunks === 1) {
    return kernel.prepare({
      label,
      resources: { out: buffers.db, inp: buffers.dy },
      params: { rows, cols, chunk_rows: rows },
      workgroups: [colGroups, 1],
    });
  }
  // Two passes: per-chunk partial sums (many workgroups in parallel), then
  // the sum of the partials. The scratch buffer belongs to this dispatch.
  const scratch = createStorage(device, chunks * cols * 4, `${label} partial sums`);
  const partials = kernel.prepare({
    label: `${label} partials`,
    resources: { out: scratch, inp: buffers.dy },
    params: { rows, cols, chunk_rows: chunkRows },
    workgroups: [colGroups, chunks],
  });
  const total = kernel.prepare({
    label: `${label} total`,
    resources: { out: buffers.db, inp: scratch },
    params: { rows: chunks, cols, chunk_rows: chunks },
    workgroups: [colGroups, 1],
  });
  const both = sequence(label, [partials, total]);
  return {
    label,
    kernel: both.kernel,
    encode: (pass) => both.encode(pass),
    destroy() {
      both.destroy();
      scratch.destroy();
    },
  };
}
