// The model description: a stack of layers, validated and shape-inferred once
// when the model is built. Everything downstream (the training plan, the CPU
// reference, checkpoints) works from the resolved `Model`, never the raw spec.

import { ShapeError } from '../errors';
import { ACTIVATIONS, isActivation, type ActivationName } from '../kernels/activation';
import { BATCHNORM_DEFAULTS } from '../kernels/batchnorm';
import { conv2dGeometry, type Padding } from '../kernels/conv2d';
import { maxPoolGeometry } from '../kernels/maxpool';

export type { ActivationName };
/** A dense layer's activations: the shared ones, and softmax for the output. */
export type Activation = ActivationName | 'softmax';

export type LayerSpec =
  | {
      type: 'conv2d';
      filters: number;
      kernelSize: number | [number, number];
      strides?: number | [number, number];
      padding?: Padding;
      activation?: ActivationName;
    }
  | {
      /** Keras MaxPooling2D / AveragePooling2D (padding not counted in the mean). */
      type: 'maxpool2d' | 'avgpool2d';
      poolSize?: number | [number, number];
      strides?: number | [number, number];
      padding?: Padding;
    }
  | { type: 'flatten' }
  | { type: 'dropout'; rate: number }
  /**
   * Keras's BatchNormalization after a conv2d (per channel) or dense (per
   * unit): momentum 0.99 and epsilon 1e-3 unless given. An activation layer
   * after it is fused into it (Conv2D linear -> BatchNormalization -> ReLU).
   */
  | { type: 'batchnorm'; momentum?: number; epsilon?: number }
  | { type: 'relu' }
  /** An activation on its own, fused into the linear conv2d or dense before it. */
  | { type: 'activation'; activation: ActivationName }
  | { type: 'dense'; units: number; activation?: Activation };

export interface ModelSpec {
  name: string;
  /** (height, width, channels) of one input image. */
  inputShape: [number, number, number];
  layers: LayerSpec[];
}

/** (H, W, C) for image tensors, [units] after flatten/dense. Per sample. */
export type Shape = number[];

export interface ParamInfo {
  /** Checkpoint name, Keras style: conv2d/kernel, conv2d_1/bias, dense/kernel. */
  name: string;
  shape: number[];
  size: number;
  fanIn: number;
  fanOut: number;
  init: 'glorot_uniform' | 'zeros' | 'ones';
  /**
   * false for batchnorm's moving statistics: kept with the weights (and in
   * checkpoints) but never updated by Adam. Default true.
   */
  trainable?: boolean;
}

interface LayerBase {
  index: number;
  /** Keras-like unique name: conv2d, conv2d_1, max_pooling2d, dense, ... */
  name: string;
  inShape: Shape;
  outShape: Shape;
  params: ParamInfo[];
}

export type ResolvedLayer = LayerBase &
  (
    | {
        type: 'conv2d';
        filters: number;
        kernelH: number;
        kernelW: number;
        strideH: number;
        strideW: number;
        padding: Padding;
        activation: ActivationName;
        /** activation === 'relu' (kept for readers of the older field). */
        relu: boolean;
      }
    | {
        type: 'maxpool2d' | 'avgpool2d';
        poolH: number;
        poolW: number;
        strideH: number;
        strideW: number;
        padding: Padding;
      }
    | { type: 'flatten' }
    | { type: 'dropout'; rate: number }
    | { type: 'dense'; units: number; activation: ActivationName; relu: boolean; softmax: boolean }
    | {
        type: 'batchnorm';
        /** Channels of a conv2d output, units of a dense one. */
        channels: number;
        momentum: number;
        epsilon: number;
        activation: ActivationName;
        relu: boolean;
      }
  );

export interface Model {
  spec: ModelSpec;
  inputShape: Shape;
  layers: ResolvedLayer[];
  params: ParamInfo[];
  classes: number;
  paramCount: number;
}

const size = (shape: Shape) => shape.reduce((a, b) => a * b, 1);

function pair(v: number | [number, number] | undefined, fallback: [number, number]): [number, number] {
  if (v === undefined) return fallback;
  return typeof v === 'number' ? [v, v] : v;
}

/**
 * Validates the spec and infers every shape. A standalone `relu` or
 * `activation` is fused into the conv2d or dense before it. Errors name the layer by index and type.
 */
export function buildModel(spec: ModelSpec): Model {
  const [h0, w0, c0] = spec.inputShape;
  for (const [dim, v] of [['height', h0], ['width', w0], ['channels', c0]] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new ShapeError(`model ${spec.name}`, `inputShape.${dim}`, `must be a positive integer, got ${v}`);
    }
  }
  if (spec.layers.length === 0) {
    throw new ShapeError(`model ${spec.name}`, 'layers', 'the model has no layers');
  }
  const counts = new Map<string, number>();
  const uniqueName = (base: string) => {
    const n = counts.get(base) ?? 0;
    counts.set(base, n + 1);
    return n === 0 ? base : `${base}_${n}`;
  };
  const layers: ResolvedLayer[] = [];
  let shape: Shape = [h0, w0, c0];
  spec.layers.forEach((l, i) => {
    const where = `layer ${i} (${l.type})`;
    const positive = (dims: Record<string, number>) => {
      for (const [dim, v] of Object.entries(dims)) {
        if (!Number.isInteger(v) || v < 1) throw new ShapeError(where, dim, `must be a positive integer, got ${v}`);
      }
    };
    const needImage = () => {
      if (shape.length !== 3) {
        throw new ShapeError(where, 'input', `needs an image (H, W, C) input, got (${shape.join(', ')}); put it before flatten`);
      }
      return shape as [number, number, number];
    };
    switch (l.type) {
      case 'conv2d': {
        const [h, w, c] = needImage();
        const [kh, kw] = pair(l.kernelSize, [1, 1]);
        const [sh, sw] = pair(l.strides, [1, 1]);
        positive({ filters: l.filters, 'kernelSize[0]': kh, 'kernelSize[1]': kw, 'strides[0]': sh, 'strides[1]': sw });
        const padding = l.padding ?? 'valid';
        const g = conv2dGeometry(
          { batch: 1, inH: h, inW: w, inC: c, outC: l.filters, kernelH: kh, kernelW: kw, strideH: sh, strideW: sw, padding },
          where,
        );
        const activation = l.activation ?? 'linear';
        if (!isActivation(activation)) {
          throw new ShapeError(where, 'activation', `must be one of ${ACTIVATIONS.join(', ')}, got '${String(activation)}'`);
        }
        const name = uniqueName('conv2d');
        const outShape = [g.outH, g.outW, l.filters];
        layers.push({
          type: 'conv2d', index: i, name, inShape: shape, outShape,
          filters: l.filters, kernelH: kh, kernelW: kw, strideH: sh, strideW: sw, padding,
          activation, relu: activation === 'relu',
          params: [
            { name: `${name}/kernel`, shape: [kh, kw, c, l.filters], size: kh * kw * c * l.filters,
              fanIn: kh * kw * c, fanOut: kh * kw * l.filters, init: 'glorot_uniform' },
            { name: `${name}/bias`, shape: [l.filters], size: l.filters, fanIn: 0, fanOut: 0, init: 'zeros' },
          ],
        });
        shape = outShape;
        break;
      }
      case 'maxpool2d':
      case 'avgpool2d': {
        const [h, w, c] = needImage();
        const [ph, pw] = pair(l.poolSize, [2, 2]);
        const [sh, sw] = pair(l.strides, [ph, pw]);
        positive({ 'poolSize[0]': ph, 'poolSize[1]': pw, 'strides[0]': sh, 'strides[1]': sw });
        const padding = l.padding ?? 'valid';
        const g = maxPoolGeometry(
          { batch: 1, inH: h, inW: w, channels: c, poolH: ph, poolW: pw, strideH: sh, strideW: sw, padding },
          where,
        );
        const outShape = [g.outH, g.outW, c];
        layers.push({
          type: l.type, index: i, name: uniqueName(l.type === 'maxpool2d' ? 'max_pooling2d' : 'average_pooling2d'), inShape: shape, outShape,
          poolH: ph, poolW: pw, strideH: sh, strideW: sw, padding, params: [],
        });
        shape = outShape;
        break;
      }
      case 'flatten': {
        const outShape = [size(shape)];
        layers.push({ type: 'flatten', index: i, name: uniqueName('flatten'), inShape: shape, outShape, params: [] });
        shape = outShape;
        break;
      }
      case 'dropout': {
        if (!(l.rate >= 0 && l.rate < 1)) throw new ShapeError(where, 'rate', `must be in [0, 1), got ${l.rate}`);
        layers.push({ type: 'dropout', index: i, name: uniqueName('dropout'), inShape: shape, outShape: shape, rate: l.rate, params: [] });
        break;
      }
      case 'relu':
      case 'activation': {
        const activation = l.type === 'relu' ? 'relu' : l.activation;
        if (!isActivation(activation)) {
          throw new ShapeError(where, 'activation', `must be one of ${ACTIVATIONS.join(', ')}, got '${String(activation)}'`);
        }
        const prev = layers[layers.length - 1];
        const fusable = prev && (prev.type === 'conv2d' || prev.type === 'dense' || prev.type === 'batchnorm');
        if (!fusable || prev.activation !== 'linear' || (prev.type === 'dense' && prev.softmax)) {
          throw new ShapeError(where, 'position', `a ${activation} layer must directly follow a linear conv2d, dense or batchnorm layer (it is fused into it)`);
        }
        prev.activation = activation;
        prev.relu = activation === 'relu';
        break;
      }
      case 'batchnorm': {
        const prev = layers[layers.length - 1];
        if (!prev || (prev.type !== 'conv2d' && prev.type !== 'dense') || (prev.type === 'dense' && prev.softmax)) {
          throw new ShapeError(where, 'position', 'batchnorm must directly follow a conv2d or a hidden dense layer');
        }
        const momentum = l.momentum ?? BATCHNORM_DEFAULTS.momentum;
        const epsilon = l.epsilon ?? BATCHNORM_DEFAULTS.epsilon;
        if (!(momentum >= 0 && momentum <= 1)) throw new ShapeError(where, 'momentum', `must be in [0, 1], got ${momentum}`);
        if (!(epsilon > 0)) throw new ShapeError(where, 'epsilon', `must be > 0, got ${epsilon}`);
        const channels = shape[shape.length - 1];
        const name = uniqueName('batch_normalization');
        const vector = (p: string, init: ParamInfo['init'], trainable: boolean): ParamInfo => ({
          name: `${name}/${p}`, shape: [channels], size: channels, fanIn: 0, fanOut: 0, init, trainable,
        });
        layers.push({
          type: 'batchnorm', index: i, name, inShape: shape, outShape: shape, channels, momentum, epsilon,
          activation: 'linear', relu: false,
          // Keras's names and order; PyTorch's BatchNorm2d calls them weight,
          // bias, running_mean, running_var.
          params: [
            vector('gamma', 'ones', true),
            vector('beta', 'zeros', true),
            vector('moving_mean', 'zeros', false),
            vector('moving_variance', 'ones', false),
          ],
        });
        break;
      }
      case 'dense': {
        if (shape.length !== 1) {
          throw new ShapeError(where, 'input', `needs a flat input, got (${shape.join(', ')}); add a flatten layer before it`);
        }
        positive({ units: l.units });
        const name = uniqueName('dense');
        const fanIn = shape[0];
        const activation = l.activation ?? 'linear';
        if (activation !== 'softmax' && !isActivation(activation)) {
          throw new ShapeError(where, 'activation', `must be softmax or one of ${ACTIVATIONS.join(', ')}, got '${String(activation)}'`);
        }
        layers.push({
          type: 'dense', index: i, name, inShape: shape, outShape: [l.units], units: l.units,
          activation: activation === 'softmax' ? 'linear' : activation,
          relu: activation === 'relu', softmax: activation === 'softmax',
          params: [
            { name: `${name}/kernel`, shape: [fanIn, l.units], size: fanIn * l.units, fanIn, fanOut: l.units, init: 'glorot_uniform' },
            { name: `${name}/bias`, shape: [l.units], size: l.units, fanIn: 0, fanOut: 0, init: 'zeros' },
          ],
        });
        shape = [l.units];
        break;
      }
      default: {
        const unknown = l as { type: string };
        throw new ShapeError(where, 'type', `unknown layer type '${unknown.type}'`);
      }
    }
  });
  const last = layers[layers.length - 1];
  if (last.type !== 'dense' || !last.softmax) {
    throw new ShapeError(`model ${spec.name}`, 'output', 'the last layer must be dense with softmax activation (categorical cross-entropy)');
  }
  layers.forEach((l, k) => {
    if (l.type === 'dense' && l.softmax && k !== layers.length - 1) {
      throw new ShapeError(`layer ${l.index} (dense)`, 'activation', 'softmax is only supported on the output layer');
    }
  });
  if (last.units < 2) throw new ShapeError(`layer ${last.index} (dense)`, 'units', 'the output needs at least 2 classes');
  const params = layers.flatMap((l) => l.params);
  return { spec, inputShape: [h0, w0, c0], layers, params, classes: last.units, paramCount: params.reduce((a, p) => a + p.size, 0) };
}

/** The paper's CNN: 99.07% test accuracy after 10 epochs with Keras. */
export const PAPER_CNN: ModelSpec = {
  name: 'paper-cnn',
  inputShape: [28, 28, 1],
  layers: [
    { type: 'conv2d', filters: 32, kernelSize: 4, activation: 'relu' },
    { type: 'maxpool2d', poolSize: 2 },
    { type: 'conv2d', filters: 64, kernelSize: 3, activation: 'relu' },
    { type: 'maxpool2d', poolSize: 2 },
    { type: 'flatten' },
    { type: 'dropout', rate: 0.25 },
    { type: 'dense', units: 10, activation: 'softmax' },
  ],
};

/** Options that shape the paper's CNN, for comparing configurations. */
export interface CnnOptions {
  filters1?: number;
  kernel1?: number;
  filters2?: number;
  kernel2?: number;
  dropout?: number;
  hidden?: number;
  /** The activation of the convolutions and the hidden layer (default relu). */
  activation?: ActivationName;
  /** BatchNormalization after each convolution (and the hidden layer), before its activation. */
  batchNorm?: boolean;
}

export function paperCnn(o: CnnOptions = {}): ModelSpec {
  const activation = o.activation ?? 'relu';
  // With batchnorm: Conv2D (linear) -> BatchNormalization -> activation, as Keras users write it.
  const activated = (layer: LayerSpec & { type: 'conv2d' | 'dense' }): LayerSpec[] =>
    o.batchNorm
      ? [{ ...layer, activation: 'linear' }, { type: 'batchnorm' }, { type: 'activation', activation }]
      : [{ ...layer, activation }];
  const layers: LayerSpec[] = [
    ...activated({ type: 'conv2d', filters: o.filters1 ?? 32, kernelSize: o.kernel1 ?? 4 }),
    { type: 'maxpool2d', poolSize: 2 },
    ...activated({ type: 'conv2d', filters: o.filters2 ?? 64, kernelSize: o.kernel2 ?? 3 }),
    { type: 'maxpool2d', poolSize: 2 },
    { type: 'flatten' },
    { type: 'dropout', rate: o.dropout ?? 0.25 },
  ];
  if (o.hidden) layers.push(...activated({ type: 'dense', units: o.hidden }));
  layers.push({ type: 'dense', units: 10, activation: 'softmax' });
  return { name: 'paper-cnn', inputShape: [28, 28, 1], layers };
}

export const PRESETS: Record<string, ModelSpec> = {
  'paper-cnn': PAPER_CNN,
  /** A smaller, faster variant for quick runs and tests. */
  'small-cnn': {
    name: 'small-cnn',
    inputShape: [28, 28, 1],
    layers: [
      { type: 'conv2d', filters: 8, kernelSize: 5, strides: 2, activation: 'relu' },
      { type: 'maxpool2d', poolSize: 2 },
      { type: 'flatten' },
      { type: 'dense', units: 32, activation: 'relu' },
      { type: 'dense', units: 10, activation: 'softmax' },
    ],
  },
  /** One dense hidden layer, no convolution. */
  mlp: {
    name: 'mlp',
    inputShape: [28, 28, 1],
    layers: [
      { type: 'flatten' },
      { type: 'dense', units: 128, activation: 'relu' },
      { type: 'dropout', rate: 0.2 },
      { type: 'dense', units: 10, activation: 'softmax' },
    ],
  },
};
