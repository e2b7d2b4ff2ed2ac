import backwardSource from '../../shaders/maxpool_backward.wgsl?raw';
import backwardDisjointSource from '../../shaders/maxpool_backward_disjoint.wgsl?raw';
import backwardDisjointVec4Source from '../../shaders/maxpool_backward_disjoint_vec4.wgsl?raw';
import forwardVec4Source from '../../shaders/maxpool_forward_vec4.wgsl?raw';
import poolBand from '../../shaders/common/pool_band.wgsl?raw';
import forwardSource from '../../shaders/maxpool_forward.wgsl?raw';
import { ShapeError } from '../errors';
import { requireFits, requirePositive, type BufferRef } from '../gpu/buffers';
import { getKernel, rowGrid, type KernelSpec, type PreparedDispatch } from '../gpu/kernel';

// 2-D max pooling over NHWC tensors, Keras MaxPooling2D semantics. Forward
// writes the max and its flat index; backward routes dy through that index:
// one thread per pooled element writing its own band of dx where windows do
// not overlap (maxpool_backward_disjoint), a gather per dx element where they
// do (maxpool_backward). Where C is a multiple of 4, the forward and the
// disjoint backward have _vec4 twins that move four channels per thread.

// Every kernel runs a 3-D grid: x over one row's (column, channel) pairs, y
// over rows, z over images.
const WORKGROUP_SIZE = 64;

const GEOMETRY_PARAMS = [
  'inH',
  'inW',
  'channels',
  'outH',
  'outW',
  'poolH',
  'poolW',
  'strideH',
  'strideW',
  'padTop',
  'padLeft',
] as const;

export const maxPoolForwardSpec: KernelSpec = {
  name: 'maxpool_forward',
  source: forwardSource,
  bindings: ['y', 'argmax', 'x'],
  params: GEOMETRY_PARAMS,
  constants: { WORKGROUP_SIZE },
};

export const maxPoolForwardVec4Spec: KernelSpec = {
  ...maxPoolForwardSpec,
  name: 'maxpool_forward_vec4',
  source: forwardVec4Source,
};

export const maxPoolBackwardSpec: KernelSpec = {
  name: 'maxpool_backward',
  source: backwardSource,
  bindings: ['dx', 'dy', 'argmax', 'y'],
  params: [...GEOMETRY_PARAMS, 'relu'],
  constants: { WORKGROUP_SIZE },
};

export const maxPoolBackwardDisjointSpec: KernelSpec = {
  name: 'maxpool_backward_disjoint',
  source: backwardDisjointSource,
  includes: [poolBand],
  bindings: ['dx', 'dy', 'argmax', 'y'],
  params: [
    'inH',
    'inW',
    'channels',
    'outH',
    'outW',
    'strideH',
    'strideW',
    'padTop',
    'padLeft',
    'relu',
  ],
  constants: { WORKGROUP_SIZE },
};

export const maxPoolBackwardDisjointVec4Spec: KernelSpec = {
  ...maxPoolBackwardDisjointSpec,
  name: 'maxpool_backward_disjoint_vec4',
  source: backwardDisjointVec4Source,
};

export interface MaxPoolShape {
  batch: number;
  inH: number;
  inW: number;
  channels: number;
  poolH: number;
  poolW: number;
  /** Defaults to poolH (Keras: strides=None means the pool size). */
  strideH?: number;
  /** Defaults to poolW. */
  strideW?: number;
  /** Defaults to 'valid'. */
  padding?: 'valid' | 'same';
}

/**
 * Output size and leading padding, as Keras computes them: 'valid' gives
 * floor((in - pool) / stride) + 1 with no padding; 'same' gives
 * ceil(in / stride) with the padding split evenly, the odd one at the end.
 */
export function maxPoolGeometry(
  shape: MaxPoolShape,
  where = 'maxpool',
): { outH: number; outW: number; padTop: number; padLeft: number } {
  const { batch, inH, inW, channels, poolH, poolW } = shape;
  const strideH = shape.strideH ?? poolH;
  const strideW = shape.strideW ?? poolW;
  const padding = shape.padding ?? 'valid';
  requirePositive(where, { batch, inH, inW, channels, poolH, poolW, strideH, strideW });
  if (padding !== 'valid' && padding !== 'same') {
    throw new ShapeError(where, 'padding', `must be 'valid' or 'same', got ${String(padding)}`);
  }
  if (batch * inH * inW * channels > 0xffffffff) {
    // argmax stores a u32 flat index into x.
    throw new ShapeError(
      where,
      'batch',
      `x has ${batch * inH * inW * channels} elements, over 2^32`,
    );
  }
  if (padding === 'same') {
    const outH = Math.ceil(inH / strideH);
    const outW = Math.ceil(inW / strideW);
    const padH = Math.max((outH - 1) * strideH + poolH - inH, 0);
    const padW = Math.max((outW - 1) * strideW + poolW - inW, 0);
    return { outH, outW, padTop: Math.floor(padH / 2), padLeft: Math.floor(padW / 2) };
  }
  if (poolH > inH) {
    throw new ShapeError(
      where,
      'poolH',
      `pool ${poolH} is larger than the input height ${inH} ('valid' padding)`,
    );
  }
  if (poolW > inW) {
    throw new ShapeError(
      where,
      'poolW',
      `pool ${poolW} is larger than the input width ${inW} ('valid' padding)`,
    );
  }
  return {
    outH: Math.floor((inH - poolH) / strideH) + 1,
    outW: Math.floor((inW - poolW) / strideW) + 1,
    padTop: 0,
    padLeft: 0,
  };
}

/** Validates the shape and returns the params shared by both kernels. */
function geometryParams(shape: MaxPoolShape, where: string) {
  const g = maxPoolGeometry(shape, where);
  const inputs = shape.batch * shape.inH * shape.inW * shape.channels;
  const outputs = shape.batch * g.outH * g.outW * shape.channels;
  const params = {
    inH: shape.inH,
    inW: shape.inW,
    channels: shape.channels,
    outH: g.outH,
    outW: g.outW,
    poolH: shape.poolH,
    poolW: shape.poolW,
    strideH: shape.strideH ?? shape.poolH,
    strideW: shape.strideW ?? shape.poolW,
    padTop: g.padTop,
    padLeft: g.padLeft,
  };
  return { inputs, outputs, params };
}

/** Channels one thread of the forward and disjoint-backward kernels moves. */
export function maxPoolChannelsPerThread(shape: MaxPoolShape): 1 | 4 {
  return shape.channels % 4 === 0 ? 4 : 1;
}

/** Which backward kernel a shape gets: 'disjoint' unless windows overlap. */
export function maxPoolBackwardKernel(shape: MaxPoolShape): 'disjoint' | 'gather' {
  const overlapH = (shape.strideH ?? shape.poolH) < shape.poolH;
  const overlapW = (shape.strideW ?? shape.poolW) < shape.poolW;
  return overlapH || overlapW ? 'gather' : 'disjoint';
}

export interface MaxPoolForwardBuffers {
  y: BufferRef;
  argmax: BufferRef;
  x: BufferRef;
}

/**
 * y (N, OH, OW, C) = window max of x (N, H, W, C); argmax (N, OH, OW, C) u32 =
 * flat NHWC index into x of that max (first on ties, row-major window order).
 * Overwrites y and argmax. Padded positions never win.
 */
export async function prepareMaxPoolForward(
  device: GPUDevice,
  buffers: MaxPoolForwardBuffers,
  shape: MaxPoolShape,
  label = 'maxpool_forward',
): Promise<PreparedDispatch> {
  const { inputs, outputs, params } = geometryParams(shape, label);
  const per = maxPoolChannelsPerThread(shape);
  const workgroups = rowGrid(device, label, { rowLength: (params.outW * params.channels) / per, rows: params.outH, batch: shape.batch, workgroupSize: WORKGROUP_SIZE });
  requireFits(label, 'y', buffers.y, outputs);
  requireFits(label, 'argmax', buffers.argmax, outputs);
  requireFits(label, 'x', buffers.x, inputs);
  const kernel = await getKernel(device, per === 4 ? maxPoolForwardVec4Spec : maxPoolForwardSpec);
  return kernel.prepare({
    label,
    resources: { y: buffers.y, argmax: buffers.argmax, x: buffers.x },
    params,
    workgroups,
  });
}

export interface MaxPoolBackwardBuffers {
  dx: BufferRef;
  dy: BufferRef;
  argmax: BufferRef;
  y: BufferRef;
}

/**
 * dx (N, H, W, C) = sum of dy over the windows whose argmax is this element;
 * overwrites every element of dx. With relu: true, a window passes gradient
 * only where its pooled value y > 0 (the backward of a preceding ReLU, fused).
 * The kernel follows maxPoolBackwardKernel(shape).
 */
export async function prepareMaxPoolBackward(
  device: GPUDevice,
  buffers: MaxPoolBackwardBuffers,
  shape: MaxPoolShape & { relu: boolean },
  label = 'maxpool_backward',
): Promise<PreparedDispatch> {
  const { inputs, outputs, params } = geometryParams(shape, label);
  if (typeof shape.relu !== 'boolean') {
    throw new ShapeError(label, 'relu', `must be a boolean, got ${String(shape.relu)}`);
  }
  requireFits(label, 'dx', buffers.dx, inputs);
  requireFits(label, 'dy', buffers.dy, outputs);
  requireFits(label, 'argmax', buffers.argmax, outputs);
  requireFits(label, 'y', buffers.y, outputs);
  const resources = { dx: buffers.dx, dy: buffers.dy, argmax: buffers.argmax, y: buffers.y };
  const relu = shape.relu ? 1 : 0;
  if (maxPoolBackwardKernel(shape) === 'disjoint') {
    // One thread per pooled element (per four channels of one with _vec4).
    const { poolH: _h, poolW: _w, ...disjointParams } = params;
    const per = maxPoolChannelsPerThread(shape);
    const workgroups = rowGrid(device, label, { rowLength: (params.outW * params.channels) / per, rows: params.outH, batch: shape.batch, workgroupSize: WORKGROUP_SIZE });
    const spec = per === 4 ? maxPoolBackwardDisjointVec4Spec : maxPoolBackwardDisjointSpec;
    const kernel = await getKernel(device, spec);
    return kernel.prepare({ label, resources, params: { ...disjointParams, relu }, workgroups });
  }
  // One thread per input element.
  const workgroups = rowGrid(device, label, { rowLength: params.inW * params.channels, rows: params.inH, batch: shape.batch, workgroupSize: WORKGROUP_SIZE });
  const kernel = await getKernel(device, maxPoolBackwardSpec);
  return kernel.prepare({ label, resources, params: { ...params, relu }, workgroups });
}
