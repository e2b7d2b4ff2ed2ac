import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors';
import { buildModel, PAPER_CNN, paperCnn, PRESETS, type ModelSpec } from '../../src/model/model';

const spec = (layers: ModelSpec['layers'], inputShape: ModelSpec['inputShape'] = [28, 28, 1]): ModelSpec => ({
  name: 't',
  inputShape,
  layers,
});

describe('buildModel', () => {
  it("infers the paper CNN's shapes and parameter count", () => {
    const m = buildModel(PAPER_CNN);
    expect(m.layers.map((l) => l.outShape)).toEqual([[25, 25, 32], [12, 12, 32], [10, 10, 64], [5, 5, 64], [1600], [1600], [10]]);
    // conv1 4*4*1*32+32, conv2 3*3*32*64+64, dense 1600*10+10 (Keras reports 34,826)
    expect(m.paramCount).toBe(544 + 18496 + 16010);
    expect(m.params.map((p) => p.name)).toEqual([
      'conv2d/kernel', 'conv2d/bias', 'conv2d_1/kernel', 'conv2d_1/bias', 'dense/kernel', 'dense/bias',
    ]);
    expect(m.classes).toBe(10);
  });

  it('builds every preset and reshaped variants of the paper CNN', () => {
    for (const p of Object.values(PRESETS)) expect(buildModel(p).paramCount).toBeGreaterThan(0);
    const m = buildModel(paperCnn({ filters1: 16, kernel1: 5, filters2: 24, kernel2: 5, hidden: 64 }));
    expect(m.layers[m.layers.length - 2].outShape).toEqual([64]);
  });

  it('fuses a standalone ReLU into the layer before it', () => {
    const m = buildModel(spec([{ type: 'conv2d', filters: 3, kernelSize: 3 }, { type: 'relu' }, { type: 'flatten' }, { type: 'dense', units: 10, activation: 'softmax' }]));
    expect(m.layers[0].type === 'conv2d' && m.layers[0].relu).toBe(true);
    expect(m.layers).toHaveLength(3);
  });

  it('fuses a standalone activation, and keeps each layer\'s activation', () => {
    const m = buildModel(spec([
      { type: 'conv2d', filters: 3, kernelSize: 3, activation: 'elu' },
      { type: 'conv2d', filters: 3, kernelSize: 3 },
      { type: 'activation', activation: 'gelu' },
      { type: 'flatten' },
      { type: 'dense', units: 8, activation: 'tanh' },
      { type: 'dense', units: 10, activation: 'softmax' },
    ]));
    expect(m.layers.map((l) => ('activation' in l ? l.activation : l.type))).toEqual(['elu', 'gelu', 'flatten', 'tanh', 'linear']);
  });

  it('builds batchnorm (Keras names, moving statistics not trainable) and average pooling', () => {
    const m = buildModel(paperCnn({ batchNorm: true, activation: 'elu' }));
    expect(m.params.filter((p) => p.name.startsWith('batch_normalization_1/')).map((p) => [p.name, p.shape[0], p.init, p.trainable])).toEqual([
      ['batch_normalization_1/gamma', 64, 'ones', true],
      ['batch_normalization_1/beta', 64, 'zeros', true],
      ['batch_normalization_1/moving_mean', 64, 'zeros', false],
      ['batch_normalization_1/moving_variance', 64, 'ones', false],
    ]);
    expect(m.layers.map((l) => l.type)).toEqual(['conv2d', 'batchnorm', 'maxpool2d', 'conv2d', 'batchnorm', 'maxpool2d', 'flatten', 'dropout', 'dense']);
    expect(m.layers[1].type === 'batchnorm' && m.layers[1].activation).toBe('elu');
    expect(m.paramCount).toBe(544 + 18496 + 16010 + 4 * (32 + 64));
    const p = buildModel(spec([{ type: 'avgpool2d', poolSize: 3, strides: 2, padding: 'same' }, { type: 'flatten' }, { type: 'dense', units: 10, activation: 'softmax' }]));
    expect([p.layers[0].name, p.layers[0].outShape]).toEqual(['average_pooling2d', [14, 14, 1]]);
  });

  const bad: [string, ModelSpec, RegExp][] = [
    ['batchnorm after a pool', spec([{ type: 'maxpool2d' }, { type: 'batchnorm' }, { type: 'flatten' }, { type: 'dense', units: 10, activation: 'softmax' }]), /layer 1 \(batchnorm\): position/],
    ['batchnorm momentum above 1', spec([{ type: 'conv2d', filters: 2, kernelSize: 3 }, { type: 'batchnorm', momentum: 1.5 }, { type: 'flatten' }, { type: 'dense', units: 10, activation: 'softmax' }]), /layer 1 \(batchnorm\): momentum/],
    ['an unknown activation', spec([{ type: 'conv2d', filters: 2, kernelSize: 3, activation: 'swish' as 'relu' }, { type: 'flatten' }, { type: 'dense', units: 10, activation: 'softmax' }]), /layer 0 \(conv2d\): activation: must be one of/],
    ['an activation after an activated layer', spec([{ type: 'conv2d', filters: 2, kernelSize: 3, activation: 'relu' }, { type: 'activation', activation: 'tanh' }, { type: 'flatten' }, { type: 'dense', units: 10, activation: 'softmax' }]), /layer 1 \(activation\): position/],
    ['a kernel larger than its input', spec([{ type: 'conv2d', filters: 4, kernelSize: 30 }, { type: 'flatten' }, { type: 'dense', units: 10, activation: 'softmax' }]), /layer 0 \(conv2d\)/],
    ['zero filters', spec([{ type: 'conv2d', filters: 0, kernelSize: 3 }, { type: 'flatten' }, { type: 'dense', units: 10, activation: 'softmax' }]), /layer 0 \(conv2d\): filters/],
    ['dense on an image', spec([{ type: 'dense', units: 10, activation: 'softmax' }]), /layer 0 \(dense\): input/],
    ['conv after flatten', spec([{ type: 'flatten' }, { type: 'conv2d', filters: 2, kernelSize: 1 }, { type: 'dense', units: 10, activation: 'softmax' }]), /layer 1 \(conv2d\): input/],
    ['a pool larger than its input', spec([{ type: 'maxpool2d', poolSize: 3 }, { type: 'flatten' }, { type: 'dense', units: 10, activation: 'softmax' }], [2, 2, 1]), /layer 0 \(maxpool2d\)/],
    ['dropout rate 1', spec([{ type: 'flatten' }, { type: 'dropout', rate: 1 }, { type: 'dense', units: 10, activation: 'softmax' }]), /layer 1 \(dropout\): rate/],
    ['no softmax output', spec([{ type: 'flatten' }, { type: 'dense', units: 10 }]), /output/],
    ['a ReLU with nothing to fuse into', spec([{ type: 'relu' }, { type: 'flatten' }, { type: 'dense', units: 10, activation: 'softmax' }]), /layer 0 \(relu\)/],
  ];
  for (const [what, s, message] of bad) {
    it(`rejects ${what} with an error naming the layer`, () => {
      expect(() => buildModel(s)).toThrow(ShapeError);
      expect(() => buildModel(s)).toThrow(message);
    });
  }
});
