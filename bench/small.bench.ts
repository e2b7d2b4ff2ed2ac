// The small kernels of a training step: softmax cross-entropy (batch 128, 10
// classes), Adam (the paper CNN's parameters, and 1M parameters) and the
// batch gather (mnist_batch, batch 128). All memory-bound; at these sizes the
// smallest are mostly the cost of a dispatch, which the table shows too.

import { createStorage, readF32, readU32, uploadStorage } from '../src/gpu/buffers';
import { ADAM_DEFAULTS, prepareAdam } from '../src/kernels/adam';
import { packBytes, prepareMnistBatch } from '../src/kernels/mnist_batch';
import { prepareSoftmaxCrossEntropy } from '../src/kernels/softmax_cross_entropy';
import { buildModel, PAPER_CNN } from '../src/model/model';
import { adamStep } from '../src/reference/adam';
import { mnistBatch } from '../src/reference/mnist_batch';
import { softmaxCrossEntropy } from '../src/reference/softmax_cross_entropy';
import { Rng } from '../src/util/rng';
import { measureKernel, validate, type BenchContext, type BenchRow, type Ceilings } from './harness';

const ULP = 2 ** -24;

async function softmaxRow(ctx: BenchContext, ceilings: Ceilings, batch: number, classes: number): Promise<BenchRow> {
  const { device } = ctx;
  const row: BenchRow = {
    group: 'small',
    name: 'softmax_cross_entropy',
    shape: `${batch}x${classes}`,
    bound: 'memory',
    // logits and labels in; dlogits, loss and pred out.
    bytes: 4 * (2 * batch * classes + 3 * batch),
  };
  const rng = new Rng(batch * classes);
  const logitsHost = rng.floats(batch * classes, -4, 4);
  const labelsHost = Uint32Array.from({ length: batch }, () => rng.int(classes));
  return measureKernel(ctx, row, ceilings, async () => {
    const dlogits = createStorage(device, batch * classes * 4, 'dlogits');
    const loss = createStorage(device, batch * 4, 'loss');
    const pred = createStorage(device, batch * 4, 'pred');
    const metrics = createStorage(device, 16, 'metrics');
    const logits = uploadStorage(device, logitsHost, 'logits');
    const labels = uploadStorage(device, labelsHost, 'labels');
    const d = await prepareSoftmaxCrossEntropy(device, { dlogits, loss, pred, metrics, logits, labels }, { batch, classes });
    const want = softmaxCrossEntropy(logitsHost, labelsHost, batch, classes);
    return {
      dispatches: [d],
      check: async () => {
        validate('softmax_cross_entropy pred', await readU32(device, pred, batch), want.pred, { atol: 0, rtol: 0 });
        // A log-sum-exp over 10 logits: tens of ulp of the loss (~2-10).
        validate('softmax_cross_entropy loss', await readF32(device, loss, batch), want.loss, { atol: 64 * ULP, rtol: 64 * ULP });
        // softmax - onehot, divided by B: tens of ulp of 1, over B.
        return validate('softmax_cross_entropy dlogits', await readF32(device, dlogits, batch * classes), want.dlogits, {
          atol: (32 * ULP) / batch,
          rtol: 0,
        });
      },
      destroy: () => [dlogits, loss, pred, metrics, logits, labels].forEach((b) => b.destroy()),
    };
  });
}

async function adamRow(ctx: BenchContext, ceilings: Ceilings, n: number, what: string): Promise<BenchRow> {
  const { device } = ctx;
  const row: BenchRow = {
    group: 'small',
    name: 'adam',
    shape: `${n} params (${what})`,
    bound: 'memory',
    // param, m, v read and written, grad read.
    bytes: 4 * 7 * n,
  };
  const rng = new Rng(n);
  const param = rng.floats(n);
  const m = rng.floats(n, -0.1, 0.1);
  const v = rng.floats(n, 0, 0.01);
  const grad = rng.floats(n);
  const t = 10;
  return measureKernel(ctx, row, ceilings, async () => {
    const bufs = {
      param: uploadStorage(device, param, 'param'),
      m: uploadStorage(device, m, 'm'),
      v: uploadStorage(device, v, 'v'),
      grad: uploadStorage(device, grad, 'grad'),
      step: uploadStorage(device, new Uint32Array([t - 1, 0, 0, 0]), 'step'),
    };
    const d = await prepareAdam(device, bufs, { n });
    return {
      dispatches: [d],
      check: async () => {
        const want = { param: Float64Array.from(param), m: Float64Array.from(m), v: Float64Array.from(v) };
        // The hyperparameters as the f32 values the shader sees.
        const f = Math.fround;
        const h = ADAM_DEFAULTS;
        adamStep(want.param, want.m, want.v, grad, t, { lr: f(h.lr), beta1: f(h.beta1), beta2: f(h.beta2), epsilon: f(h.epsilon) });
        // One step (test/kernels/adam.test.ts derives these): m to ~4 ulp of
        // |g| <= 1, v to ~3 ulp relative, param to ~0.5 ulp of itself plus
        // ~32 ulp of a step of size ~lr.
        validate('adam m', await readF32(device, bufs.m, n), want.m, { atol: 4 * ULP, rtol: 0 });
        validate('adam v', await readF32(device, bufs.v, n), want.v, { atol: 0, rtol: 3 * ULP });
        return validate('adam param', await readF32(device, bufs.param, n), want.param, {
          atol: 32 * ULP * ADAM_DEFAULTS.lr,
          rtol: ULP,
        });
      },
      destroy: () => Object.values(bufs).forEach((b) => b.destroy()),
    };
  });
}

async function gatherRow(ctx: BenchContext, ceilings: Ceilings, batch: number): Promise<BenchRow> {
  const { device } = ctx;
  const pixels = 784;
  const imageCount = 4096;
  const row: BenchRow = {
    group: 'small',
    name: 'mnist_batch (batch gather)',
    shape: `${batch}x${pixels} from ${imageCount} images`,
    bound: 'memory',
    // bytes in, floats out, labels and perm entries.
    bytes: batch * pixels * 5 + batch * 9,
  };
  const rng = new Rng(batch);
  const images = Uint8Array.from({ length: imageCount * pixels }, () => rng.int(256));
  const labelBytes = Uint8Array.from({ length: imageCount }, () => rng.int(10));
  const perm = Uint32Array.from(rng.permutation(imageCount));
  return measureKernel(ctx, row, ceilings, async () => {
    const bufs = {
      x: createStorage(device, batch * pixels * 4, 'x'),
      labels: createStorage(device, batch * 4, 'labels'),
      images: uploadStorage(device, packBytes(images), 'images'),
      labelBytes: uploadStorage(device, packBytes(labelBytes), 'labelBytes'),
      perm: uploadStorage(device, perm, 'perm'),
      step: uploadStorage(device, new Uint32Array([0, 3, 0, 0]), 'step'),
    };
    const d = await prepareMnistBatch(device, bufs, { batch, imageCount, pixels });
    return {
      dispatches: [d],
      check: async () => {
        const want = mnistBatch(images, labelBytes, perm, 3, { batch, imageCount, pixels });
        validate('mnist_batch labels', await readU32(device, bufs.labels, batch), want.labels, { atol: 0, rtol: 0 });
        // A byte times f32(1/255), rounded once: exact against the reference.
        return validate('mnist_batch x', await readF32(device, bufs.x, batch * pixels), want.x, { atol: 0, rtol: 0 });
      },
      destroy: () => Object.values(bufs).forEach((b) => b.destroy()),
    };
  });
}

export async function benchSmallKernels(ctx: BenchContext, ceilings: Ceilings): Promise<BenchRow[]> {
  const model = buildModel(PAPER_CNN);
  const rows = [
    await softmaxRow(ctx, ceilings, 128, 10),
    await adamRow(ctx, ceilings, model.paramCount, 'paper CNN'),
    await adamRow(ctx, ceilings, 1 << 20, '1M'),
    await gatherRow(ctx, ceilings, 128),
  ];
  return rows;
}
