// The demo's settings: defaults (the paper's run: full MNIST, paper CNN,
// batch 128, 10 epochs), overridden by URL parameters for quick tries and
// tests, e.g. ?train=2000&test=500&epochs=1&batch=32, then by the form.

import type { ActivationName } from '../src/kernels/activation';
import { buildModel, PRESETS, paperCnn, type ModelSpec } from '../src/model/model';

export interface DemoSettings {
  preset: string;
  filters1: number;
  kernel1: number;
  filters2: number;
  kernel2: number;
  dropout: number;
  /** The paper CNN's activation, and batch normalization after each convolution. */
  activation: ActivationName;
  batchNorm: boolean;
  learningRate: number;
  batchSize: number;
  epochs: number;
  seed: number;
  trainCount: number;
  testCount: number;
}

export const MNIST_TRAIN_COUNT = 60000;
export const MNIST_TEST_COUNT = 10000;

export const DEFAULT_SETTINGS: DemoSettings = {
  preset: 'paper-cnn',
  filters1: 32,
  kernel1: 4,
  filters2: 64,
  kernel2: 3,
  dropout: 0.25,
  activation: 'relu',
  batchNorm: false,
  learningRate: 0.001,
  batchSize: 128,
  epochs: 10,
  seed: 1,
  trainCount: MNIST_TRAIN_COUNT,
  testCount: MNIST_TEST_COUNT,
};

type NumericKey = Exclude<keyof DemoSettings, 'preset' | 'activation' | 'batchNorm'>;

interface FieldRule {
  key: NumericKey;
  integer: boolean;
  min: number;
  max: number;
}

/** URL parameter name -> setting, with the range a value must fall in. */
export const URL_PARAMS: Record<string, FieldRule> = {
  train: { key: 'trainCount', integer: true, min: 1, max: MNIST_TRAIN_COUNT },
  test: { key: 'testCount', integer: true, min: 1, max: MNIST_TEST_COUNT },
  epochs: { key: 'epochs', integer: true, min: 1, max: 1000 },
  batch: { key: 'batchSize', integer: true, min: 1, max: 1000 },
  lr: { key: 'learningRate', integer: false, min: 1e-7, max: 1 },
  seed: { key: 'seed', integer: true, min: 0, max: 2 ** 31 - 1 },
  filters1: { key: 'filters1', integer: true, min: 1, max: 512 },
  kernel1: { key: 'kernel1', integer: true, min: 1, max: 9 },
  filters2: { key: 'filters2', integer: true, min: 1, max: 512 },
  kernel2: { key: 'kernel2', integer: true, min: 1, max: 5 },
  dropout: { key: 'dropout', integer: false, min: 0, max: 0.95 },
};

/** Checks one value against its rule; returns an error message or null. */
export function checkValue(name: string, value: number): string | null {
  const rule = URL_PARAMS[name];
  if (!Number.isFinite(value)) return `${name} must be a number`;
  if (rule.integer && !Number.isInteger(value)) return `${name} must be a whole number, got ${value}`;
  if (value < rule.min || value > rule.max) return `${name} must be between ${rule.min} and ${rule.max}, got ${value}`;
  return null;
}

export interface ParsedUrl {
  settings: DemoSettings;
  /** The parameters that were taken from the URL, for display. */
  applied: string[];
  /** Parameters that were present but unusable, with the reason. */
  problems: string[];
}

export function settingsFromUrl(search: string): ParsedUrl {
  const params = new URLSearchParams(search);
  const settings = { ...DEFAULT_SETTINGS };
  const applied: string[] = [];
  const problems: string[] = [];
  const model = params.get('model');
  if (model !== null) {
    if (Object.hasOwn(PRESETS, model)) {
      settings.preset = model;
      applied.push(`model=${model}`);
    } else {
      problems.push(`model=${model} is not a preset (${Object.keys(PRESETS).join(', ')})`);
    }
  }
  for (const [name, rule] of Object.entries(URL_PARAMS)) {
    const raw = params.get(name);
    if (raw === null) continue;
    const value = Number(raw);
    const problem = raw.trim() === '' ? `${name} is empty` : checkValue(name, value);
    if (problem) {
      problems.push(problem);
      continue;
    }
    settings[rule.key] = value;
    applied.push(`${name}=${raw}`);
  }
  return { settings, applied, problems };
}

/** The model the settings describe: the paper's CNN reshaped, or a preset as it is. */
export function modelSpecFor(s: DemoSettings): ModelSpec {
  if (s.preset === 'paper-cnn') {
    return paperCnn({
      filters1: s.filters1,
      kernel1: s.kernel1,
      filters2: s.filters2,
      kernel2: s.kernel2,
      dropout: s.dropout,
      activation: s.activation,
      batchNorm: s.batchNorm,
    });
  }
  const spec = PRESETS[s.preset];
  if (!spec) throw new Error(`unknown model preset '${s.preset}'`);
  return spec;
}

/**
 * The form values that describe `spec`, for showing a loaded checkpoint's
 * model: a preset by name, or the paper CNN's shape read back from its layers.
 * Returns null for a model the form cannot express.
 */
export function settingsFromSpec(spec: ModelSpec, base: DemoSettings): DemoSettings | null {
  const same = (a: ModelSpec, b: ModelSpec) => JSON.stringify(a) === JSON.stringify(b);
  const l = spec.layers;
  if (spec.name === 'paper-cnn' && l.length === 7 && l[0].type === 'conv2d' && l[2].type === 'conv2d' && l[5].type === 'dropout') {
    const k = (v: number | [number, number]) => (typeof v === 'number' ? v : v[0]);
    const s: DemoSettings = {
      ...base,
      preset: 'paper-cnn',
      filters1: l[0].filters,
      kernel1: k(l[0].kernelSize),
      filters2: l[2].filters,
      kernel2: k(l[2].kernelSize),
      dropout: l[5].rate,
      activation: l[0].activation ?? 'relu',
      batchNorm: false,
    };
    return same(modelSpecFor(s), spec) ? s : null;
  }
  for (const [name, preset] of Object.entries(PRESETS)) {
    if (name !== 'paper-cnn' && same(preset, spec)) return { ...base, preset: name };
  }
  return null;
}

/** One line for the form: the layers in order and the parameter count. Throws if the model cannot be built. */
export function describeModel(spec: ModelSpec): string {
  const model = buildModel(spec);
  const parts: string[] = [];
  for (const l of model.layers) {
    if (l.type === 'conv2d') {
      const stride = l.strideH > 1 || l.strideW > 1 ? ` stride ${l.strideH}` : '';
      parts.push(`conv ${l.filters}@${l.kernelH}×${l.kernelW}${stride}${l.activation !== 'linear' ? ` ${l.activation}` : ''}`);
    } else if (l.type === 'maxpool2d') {
      parts.push(`pool ${l.poolH}×${l.poolW}`);
    } else if (l.type === 'batchnorm') {
      parts.push(`batchnorm${l.activation !== 'linear' ? ` ${l.activation}` : ''}`);
    } else if (l.type === 'dropout') {
      parts.push(`dropout ${l.rate}`);
    } else if (l.type === 'dense') {
      parts.push(`dense ${l.units}${l.relu ? ' relu' : l.softmax ? ' softmax' : ''}`);
    }
  }
  return `${parts.join(' → ')} · ${model.paramCount.toLocaleString('en-US')} parameters`;
}
