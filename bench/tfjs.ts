// The peer: TensorFlow.js's WebGPU backend, on the same adapter, in the same
// process and run, on the same workloads. Only the benchmark depends on it.
//
// TF.js creates its own device from navigator.gpu (in Node the caller puts
// Dawn's GPU object there first), so "same adapter" means the same Vulkan
// driver through the same WebGPU implementation, with its own device.
//
// Timing. TF.js records ops lazily and submits in batches; reading a result
// back is what waits for the GPU. A sample runs `inner` ops and then awaits
// the last result, which is how our side is timed too (many dispatches, one
// wait). Training uses trainOnBatch, which reads the loss back every step:
// that is how TF.js trains (fit does the same per batch).

import type * as TF from '@tensorflow/tfjs';
import type { Conv2dShape } from '../src/kernels/conv2d';
import type { GemmShape } from '../src/kernels/gemm';
import type { MaxPoolShape } from '../src/kernels/maxpool';
import { summarize, type PeerResult } from './harness';

export interface TfjsPeer {
  version: string;
  /** The adapter TF.js's device came from, as TF.js reports it. */
  adapter: string;
  flags: Record<string, unknown>;
  matMul(shape: GemmShape, a: Float32Array, b: Float32Array, bias: Float32Array): Promise<PeerResult>;
  conv2d(shape: Conv2dShape & { relu: boolean }, pass: 'forward' | 'backward-input' | 'backward-filter'): Promise<PeerResult>;
  maxPool(shape: MaxPoolShape, pass: 'forward' | 'backward'): Promise<PeerResult>;
  /**
   * The paper's CNN at one batch size, warmed up: each step() runs one
   * trainOnBatch (or one predict and its read-back) and returns its ms.
   */
  stepper(mode: 'train' | 'predict', batch: number): Promise<Stepper>;
  dispose(): void;
}

export interface Stepper {
  op: string;
  step(): Promise<number>;
  dispose(): void;
}

interface PeerOptions {
  quick: boolean;
  log: (line: string) => void;
}

export async function createTfjsPeer(options: PeerOptions): Promise<TfjsPeer> {
  const tf = await import('@tensorflow/tfjs');
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!(await tf.setBackend('webgpu'))) throw new Error('TF.js could not start its webgpu backend');
  await tf.ready();
  const backend = tf.backend() as unknown as { adapterInfo?: { vendor?: string; architecture?: string; description?: string } };
  const info = backend.adapterInfo ?? {};
  const adapter = [info.vendor, info.architecture, info.description].filter((s) => s).join(' / ') || 'unknown';
  const flags = tf.env().getFlags();
  const quick = options.quick;

  /** Wall time of one op, `inner` ops between syncs. */
  const timeOp = async (what: string, run: () => TF.Tensor): Promise<PeerResult> => {
    try {
      const once = async () => {
        const t = run();
        await t.data();
        t.dispose();
      };
      await once();
      const t0 = performance.now();
      await once();
      const one = performance.now() - t0;
      const inner = Math.max(1, Math.min(200, Math.ceil((quick ? 25 : 60) / Math.max(one, 1e-3))));
      // Ops of seconds (matMul 1024 on SwiftShader takes ~30 s): the timed
      // warm-up run counts as a sample, and the quick run takes 2 in all.
      const long = one > 1000;
      const samples = quick ? (long ? 2 : 5) : long ? 5 : 11;
      const xs: number[] = long ? [one] : [];
      while (xs.length < samples) {
        const start = performance.now();
        let last: TF.Tensor | null = null;
        for (let i = 0; i < inner; i++) {
          last?.dispose();
          last = run();
        }
        await last!.data();
        xs.push((performance.now() - start) / inner);
        last!.dispose();
      }
      const { ms, spread } = summarize(xs);
      return { op: what, ms, spread, samples };
    } catch (e) {
      return { op: what, samples: 0, error: (e as Error).message };
    }
  };

  /** Runs body with a tracker for its input tensors, disposed afterwards. */
  const withInputs = async (body: (held: <T extends TF.Tensor>(t: T) => T) => Promise<PeerResult>) => {
    const inputs: TF.Tensor[] = [];
    try {
      return await body((t) => {
        inputs.push(t);
        return t;
      });
    } finally {
      for (const t of inputs) t.dispose();
    }
  };

  const cnn = (): TF.Sequential => {
    const model = tf.sequential();
    model.add(tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 32, kernelSize: 4, activation: 'relu' }));
    model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    model.add(tf.layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu' }));
    model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    model.add(tf.layers.flatten());
    model.add(tf.layers.dropout({ rate: 0.25 }));
    model.add(tf.layers.dense({ units: 10, activation: 'softmax' }));
    // The same loss and metric our step computes (softmax_cross_entropy also
    // counts correct predictions).
    model.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    return model;
  };
  let model: TF.Sequential | null = null;
  const batchOf = (batch: number) => {
    const x = tf.randomUniform([batch, 28, 28, 1], 0, 1, 'float32', 7);
    const labels = tf.randomUniform([batch], 0, 10, 'int32', 8);
    const y = tf.oneHot(labels as TF.Tensor1D, 10);
    labels.dispose();
    return { x, y };
  };

  return {
    version: tf.version.tfjs,
    adapter,
    flags,

    matMul: (shape, a, b, bias) => withInputs(async (held) => {
      const { m, n, k } = shape;
      const ta = held(tf.tensor2d(a, shape.transA ? [k, m] : [m, k]));
      const tb = held(tf.tensor2d(b, shape.transB ? [n, k] : [k, n]));
      const tbias = held(tf.tensor1d(bias.subarray(0, n)));
      const op = shape.bias ? 'tf.fused.matMul (+bias)' : 'tf.matMul';
      return timeOp(op, () =>
        shape.bias
          ? tf.fused.matMul({ a: ta, b: tb, transposeA: shape.transA, transposeB: shape.transB, bias: tbias })
          : tf.matMul(ta, tb, shape.transA, shape.transB),
      );
    }),

    conv2d: (shape, pass) => withInputs(async (held) => {
      const { batch, inH, inW, inC, outC, kernelH, kernelW } = shape;
      const strides: [number, number] = [shape.strideH ?? 1, shape.strideW ?? 1];
      const x = held(tf.randomUniform([batch, inH, inW, inC], -1, 1, 'float32', 1)) as TF.Tensor4D;
      const w = held(tf.randomUniform([kernelH, kernelW, inC, outC], -1, 1, 'float32', 2)) as TF.Tensor4D;
      const bias = held(tf.randomUniform([outC], -1, 1, 'float32', 3)) as TF.Tensor1D;
      const y = held(tf.conv2d(x, w, strides, shape.padding));
      const dy = held(tf.randomUniform(y.shape, -1, 1, 'float32', 4)) as TF.Tensor4D;
      if (pass === 'forward') {
        return timeOp('tf.fused.conv2d (+bias, relu)', () =>
          tf.fused.conv2d({ x, filter: w, strides, pad: shape.padding, bias, activation: shape.relu ? 'relu' : 'linear' }),
        );
      }
      if (pass === 'backward-input') {
        return timeOp('Conv2DBackpropInput', () =>
          tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, {
            strides,
            pad: shape.padding,
            dataFormat: 'NHWC',
            inputShape: x.shape,
          } as unknown as TF.NamedAttrMap) as TF.Tensor,
        );
      }
      return timeOp('Conv2DBackpropFilter', () =>
        tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
          strides,
          pad: shape.padding,
          dataFormat: 'NHWC',
          filterShape: w.shape,
        } as unknown as TF.NamedAttrMap) as TF.Tensor,
      );
    }),

    maxPool: (shape, pass) => withInputs(async (held) => {
      const x = held(tf.randomUniform([shape.batch, shape.inH, shape.inW, shape.channels], -1, 1, 'float32', 5)) as TF.Tensor4D;
      const size: [number, number] = [shape.poolH, shape.poolW];
      const strides: [number, number] = [shape.strideH ?? shape.poolH, shape.strideW ?? shape.poolW];
      const pad = shape.padding ?? 'valid';
      if (pass === 'forward') return timeOp('tf.maxPool', () => tf.maxPool(x, size, strides, pad));
      const y = held(tf.maxPool(x, size, strides, pad));
      const dy = held(tf.randomUniform(y.shape, -1, 1, 'float32', 6));
      return timeOp('MaxPoolGrad', () =>
        tf.engine().runKernel('MaxPoolGrad', { dy, input: x, output: y }, {
          filterSize: size,
          strides,
          pad,
        } as unknown as TF.NamedAttrMap) as TF.Tensor,
      );
    }),

    async stepper(mode, batch) {
      model ??= cnn();
      const m = model;
      const { x, y } = batchOf(batch);
      const run =
        mode === 'train'
          ? async () => {
              await m.trainOnBatch(x, y);
            }
          : async () => {
              const out = m.predict(x, { batchSize: batch }) as TF.Tensor;
              await out.data();
              out.dispose();
            };
      const step = async () => {
        const t0 = performance.now();
        await run();
        return performance.now() - t0;
      };
      // The first step compiles TF.js's pipelines; the second settles it.
      await step();
      await step();
      return {
        op: mode === 'train' ? 'trainOnBatch' : 'predict',
        step,
        dispose() {
          x.dispose();
          y.dispose();
        },
      };
    },

    dispose() {
      model?.dispose();
      model = null;
    },
  };
}
