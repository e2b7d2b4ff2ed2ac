import activationWgsl from '../../shaders/common/activation.wgsl?raw';
import forwardSource from '../../shaders/activation_forward.wgsl?raw';
import backwardSource from '../../shaders/activation_backward.wgsl?raw';
import { ShapeError } from '../errors';
import { requireFits, requirePositive, type BufferRef } from '../gpu/buffers';
import { getKernel, grid1d, type KernelSpec, type PreparedDispatch } from '../gpu/kernel';

/**
 * The activations a conv2d, dense or batchnorm layer can apply (softmax is
 * separate: only the output layer has it, fused into the cross-entropy).
 * gelu is the tanh approximation (Keras gelu(approximate=True), PyTorch
 * GELU(approximate='tanh')); leaky_relu has Keras's alpha 0.3, elu alpha 1.
 */
export const ACTIVATIONS = ['linear', 'relu', 'leaky_relu', 'elu', 'tanh', 'sigmoid', 'gelu'] as const;
export type ActivationName = (typeof ACTIVATIONS)[number];

export function isActivation(v: unknown): v is ActivationName {
  return typeof v === 'string' && (ACTIVATIONS as readonly string[]).includes(v);
}

/** The ACTIVATION override of shaders/common/activation.wgsl for `a`. */
export function activationCode(where: string, a: ActivationName | undefined): number {
  const name = a ?? 'linear';
  const code = ACTIVATIONS.indexOf(name);
  if (code < 0) {
    throw new ShapeError(where, 'activation', `must be one of ${ACTIVATIONS.join(', ')}, got '${String(a)}'`);
  }
  return code;
}

/** Whether f'(u) follows from f(u) (activation_backward's FROM_OUTPUT). */
export function gradFromOutput(a: ActivationName): boolean {
  return a !== 'gelu';
}

/** The activation of a shape that gives `activation` or the older `relu` flag. */
export function shapeActivation(shape: { activation?: ActivationName; relu?: boolean }): ActivationName {
  return shape.activation ?? (shape.relu ? 'relu' : 'linear');
}

/** shaders/common/activation.wgsl, for the kernels that fuse an activation (a const, not a re-export, so the published declarations name no shader module). */
export const activationCore: string = activationWgsl;

const WORKGROUP_SIZE = 256;

function forwardSpec(activation: number): KernelSpec {
  return {
    name: 'activation_forward',
    source: forwardSource,
    includes: [activationCore],
    bindings: ['y', 'u'],
    params: ['n'],
    constants: { WORKGROUP_SIZE, ACTIVATION: activation },
  };
}

function backwardSpec(activation: number, fromOutput: boolean): KernelSpec {
  return {
    name: 'activation_backward',
    source: backwardSource,
    includes: [activationCore],
    bindings: ['dx', 'dy', 'saved'],
    params: ['n'],
    constants: { WORKGROUP_SIZE, ACTIVATION: activation, FROM_OUTPUT: fromOutput ? 1 : 0 },
  };
}

/** The specs at gelu, for the reflection test. */
export const activationForwardSpec: KernelSpec = forwardSpec(6);
export const activationBackwardSpec: KernelSpec = backwardSpec(6, false);

function grid(device: GPUDevice, n: number): [number, number] {
  return grid1d(Math.ceil(n / WORKGROUP_SIZE), device.limits.maxComputeWorkgroupsPerDimension);
}

/** y = f(u) over n elements; overwrites y. */
export async function prepareActivationForward(
  device: GPUDevice,
  buffers: { y: BufferRef; u: BufferRef },
  shape: { n: number; activation: ActivationName },
  label = 'activation_forward',
): Promise<PreparedDispatch> {
  const { n } = shape;
  requirePositive(label, { n });
  for (const name of ['y', 'u'] as const) requireFits(label, name, buffers[name], n);
  const kernel = await getKernel(device, forwardSpec(activationCode(label, shape.activation)));
  return kernel.prepare({ label, resources: { ...buffers }, params: { n }, workgroups: grid(device, n) });
}

export interface ActivationBackwardBuffers {
  dx: BufferRef;
  dy: BufferRef;
  /** The forward output y when fromOutput, else the pre-activation u. */
  saved: BufferRef;
}

/**
 * dx = dy * f'(u) over n elements; overwrites dx. `fromOutput` (default
 * gradFromOutput(activation)) says whether `saved` holds y = f(u) or u.
 */
export async function prepareActivationBackward(
  device: GPUDevice,
  buffers: ActivationBackwardBuffers,
  shape: { n: number; activation: ActivationName; fromOutput?: boolean },
  label = 'activation_backward',
): Promise<PreparedDispatch> {
  const { n, activation } = shape;
  requirePositive(label, { n });
  for (const name of ['dx', 'dy', 'saved'] as const) requireFits(label, name, buffers[name], n);
  const fromOutput = shape.fromOutput ?? gradFromOutput(activation);
  if (fromOutput && !gradFromOutput(activation)) {
    throw new ShapeError(label, 'fromOutput', `${activation}'s gradient needs the pre-activation, not the output`);
  }
  const kernel = await getKernel(device, backwardSpec(activationCode(label, activation), fromOutput));
  return kernel.prepare({ label, resources: { ...buffers }, params: { n }, workgroups: grid(device, n) });
}

/** dx = dy * (y > 0): ReLU's backward, from its output y. */
export async function prepareReluBackward(
  device: GPUDevice,
  buffers: { dx: BufferRef; dy: BufferRef; y: BufferRef },
  shape: { n: number },
  label = 'relu_backward',
): Promise<PreparedDispatch> {
  return prepareActivationBackward(device, { dx: buffers.dx, dy: buffers.dy, saved: buffers.y }, { n: shape.n, activation: 'relu' }, label);
}

export type ReluBackwardBuffers = { dx: BufferRef; dy: BufferRef; y: BufferRef };
