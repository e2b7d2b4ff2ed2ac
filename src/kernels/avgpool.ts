import backwardSource from '../../shaders/avgpool_backward.wgsl?raw';
import forwardSource from '../../shaders/avgpool_forward.wgsl?raw';
import { requireFits, type BufferRef } from '../gpu/buffers';
import { getKernel, rowGrid, type KernelSpec, type PreparedDispatch } from '../gpu/kernel';
import { maxPoolGeometry, type MaxPoolShape } from './maxpool';

// 2-D average pooling over NHWC tensors, Keras AveragePooling2D semantics
// (padding not counted in the mean). The window geometry is max pooling's;
// one thread per output element forward, a gather per input element backward.

const WORKGROUP_SIZE = 64;
const PARAMS = ['inH', 'inW', 'channels', 'outH', 'outW', 'poolH', 'poolW', 'strideH', 'strideW', 'padTop', 'padLeft'] as const;

export const avgPoolForwardSpec: KernelSpec = {
  name: 'avgpool_forward',
  source: forwardSource,
  bindings: ['y', 'x'],
  params: PARAMS,
  constants: { WORKGROUP_SIZE },
};

export const avgPoolBackwardSpec: KernelSpec = {
  name: 'avgpool_backward',
  source: backwardSource,
  bindings: ['dx', 'dy'],
  params: PARAMS,
  constants: { WORKGROUP_SIZE },
};

/** Average pooling takes max pooling's shape (and geometry). */
export type AvgPoolShape = MaxPoolShape;

function resolve(shape: AvgPoolShape, where: string) {
  const g = maxPoolGeometry(shape, where);
  return {
    inputs: shape.batch * shape.inH * shape.inW * shape.channels,
    outputs: shape.batch * g.outH * g.outW * shape.channels,
    params: {
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
    },
  };
}

/** y (N, OH, OW, C) = mean of x over each window's covered elements; overwrites y. */
export async function prepareAvgPoolForward(
  device: GPUDevice,
  buffers: { y: BufferRef; x: BufferRef },
  shape: AvgPoolShape,
  label = 'avgpool_forward',
): Promise<PreparedDispatch> {
  const { inputs, outputs, params } = resolve(shape, label);
  requireFits(label, 'y', buffers.y, outputs);
  requireFits(label, 'x', buffers.x, inputs);
  const workgroups = rowGrid(device, label, { rowLength: params.outW * params.channels, rows: params.outH, batch: shape.batch, workgroupSize: WORKGROUP_SIZE });
  const kernel = await getKernel(device, avgPoolForwardSpec);
  return kernel.prepare({ label, resources: { y: buffers.y, x: buffers.x }, params, workgroups });
}

/** dx (N, H, W, C) = sum over covering windows of dy / window count; overwrites dx. */
export async function prepareAvgPoolBackward(
  device: GPUDevice,
  buffers: { dx: BufferRef; dy: BufferRef },
  shape: AvgPoolShape,
  label = 'avgpool_backward',
): Promise<PreparedDispatch> {
  const { inputs, outputs, params } = resolve(shape, label);
  requireFits(label, 'dx', buffers.dx, inputs);
  requireFits(label, 'dy', buffers.dy, outputs);
  const workgroups = rowGrid(device, label, { rowLength: params.inW * params.channels, rows: params.inH, batch: shape.batch, workgroupSize: WORKGROUP_SIZE });
  const kernel = await getKernel(device, avgPoolBackwardSpec);
  return kernel.prepare({ label, resources: { dx: buffers.dx, dy: buffers.dy }, params, workgroups });
}
