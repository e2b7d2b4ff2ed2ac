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

  const bad: [string, ModelSpec, RegExp][] = [
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
