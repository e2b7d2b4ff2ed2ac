import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors';
import { createStorage, readF32, readU32, uploadStorage } from '../../src/gpu/buffers';
import { prepareSoftmaxCrossEntropy } from '../../src/kernels/softmax_cross_entropy';
import { softmaxCrossEntropy } from '../../src/reference/softmax_cross_entropy';
import { Rng } from '../../src/util/rng';
import { allclose, allequal } from '../util/allclose';
import { runDispatches, testDevice } from '../util/device';

const ULP = 2 ** -24;

// loss = log(s) - (x[label] - max) with s = sum of C exponentials in [1, C]:
// WGSL's log has an absolute error below 2^-21 near 1 (3 ulp elsewhere), the
// f32 sum of C terms adds ~C ulp, and the subtraction rounds at 1 ulp of loss.
const lossTol = (classes: number) => ({ atol: 2 ** -21 + (classes + 4) * ULP, rtol: 2 * ULP });
// dlogits = (e / s - onehot) / B: exp (a few ulp), the sum (~C ulp) and the
// division (2.5 ulp) give p a relative error ~(C + 8) ulp; p - 1 at the label
// is exact, so the error is at most (C + 8) ulp of 1 / B.
const dlogitsTol = (batch: number, classes: number) => ({
  atol: ((classes + 8) * ULP) / batch,
  rtol: 0,
});
// The loss sum adds B positive terms: a serial sum of B / 256 per thread then a
// tree of 8 levels, ~(B / 256 + 8) ulp, then the add into metrics and its f32
// rounding: (B / 256 + 12) ulp relative, on top of the per-row errors (atol).
const sumTol = (batch: number, classes: number) => ({
  atol: batch * lossTol(classes).atol,
  rtol: (batch / 256 + 12) * ULP,
});

interface Case {
  batch: number;
  classes: number;
  logits: Float32Array;
  labels: Uint32Array;
}

async function run(c: Case, metricsStart = new Float32Array(3), repeats = 1) {
  const device = await testDevice();
  const { batch, classes } = c;
  const dlogits = createStorage(device, batch * classes * 4, 'dlogits');
  const loss = createStorage(device, batch * 4, 'loss');
  const pred = createStorage(device, batch * 4, 'pred');
  const metrics = uploadStorage(device, metricsStart, 'metrics');
  const d = await prepareSoftmaxCrossEntropy(
    device,
    {
      dlogits,
      loss,
      pred,
      metrics,
      logits: uploadStorage(device, c.logits, 'logits'),
      labels: uploadStorage(device, c.labels, 'labels'),
    },
    { batch, classes },
  );
  await runDispatches(device, Array(repeats).fill(d));
  return {
    dlogits: await readF32(device, dlogits, batch * classes),
    loss: await readF32(device, loss, batch),
    pred: await readU32(device, pred, batch),
    metrics: await readF32(device, metrics, 3),
  };
}

function check(name: string, c: Case, got: Awaited<ReturnType<typeof run>>) {
  const { batch, classes } = c;
  const want = softmaxCrossEntropy(c.logits, c.labels, batch, classes);
  for (const v of [...got.loss, ...got.dlogits, ...got.metrics]) {
    expect(Number.isFinite(v), `${name}: every output is finite`).toBe(true);
  }
  allclose(`${name} loss`, got.loss, want.loss, lossTol(classes));
  allclose(`${name} dlogits`, got.dlogits, want.dlogits, dlogitsTol(batch, classes));
  // The argmax compares the same f32 values on both sides: exact.
  allequal(`${name} pred`, got.pred, want.pred);
  allclose(`${name} metrics[0]`, [got.metrics[0]], [want.metrics[0]], sumTol(batch, classes));
  // Counts are small integers, exact in f32.
  const counts = [want.metrics[1], want.metrics[2]];
  allequal(`${name} metrics[1..2]`, [got.metrics[1], got.metrics[2]], counts);
}

function randomCase(batch: number, classes: number, seed: number, scale = 4): Case {
  const rng = new Rng(seed);
  const labels = new Uint32Array(batch);
  for (let r = 0; r < batch; r++) labels[r] = rng.int(classes);
  return { batch, classes, logits: rng.floats(batch * classes, -scale, scale), labels };
}

describe('softmax_cross_entropy', () => {
  for (const [batch, classes] of [
    [1, 10],
    [128, 10],
    [7, 3],
    [1000, 10],
  ]) {
    it(`matches the reference, B=${batch} C=${classes}`, async () => {
      const c = randomCase(batch, classes, batch * 31 + classes);
      check(`sce B=${batch} C=${classes}`, c, await run(c));
    });
  }

  it('stays finite with huge logits (+-1e4)', async () => {
    const batch = 64;
    const classes = 10;
    const rng = new Rng(7);
    const c = randomCase(batch, classes, 8);
    // Each logit is +1e4 or -1e4: exp() of the unshifted values would overflow,
    // and several maxima tie in most rows.
    for (let i = 0; i < c.logits.length; i++) c.logits[i] = rng.next() < 0.5 ? -1e4 : 1e4;
    check('sce huge', c, await run(c));
  });

  it('takes the first maximum on ties', async () => {
    const classes = 10;
    const logits = new Float32Array([
      ...Array(classes).fill(0.25), // all equal: pred 0, loss log(C)
      ...[0, 1, 2, 5, 1, 5, 0, 5, 1, 1], // three maxima: pred 3
      ...Array(classes).fill(-3), // all equal and negative
    ]);
    const c: Case = { batch: 3, classes, logits, labels: new Uint32Array([4, 3, 9]) };
    const got = await run(c);
    check('sce ties', c, got);
    allequal('sce ties pred', got.pred, [0, 3, 0]);
  });

  it('skips rows whose label is out of range', async () => {
    const c = randomCase(5, 10, 99);
    c.labels[1] = 0xffffffff;
    c.labels[3] = 10;
    const got = await run(c);
    check('sce invalid labels', c, got);
    expect(got.metrics[2]).toBe(3);
  });

  it('accumulates metrics across dispatches', async () => {
    const c = randomCase(200, 10, 5);
    const start = new Float32Array([1.5, 2, 3]);
    const got = await run(c, start, 2);
    const want = softmaxCrossEntropy(c.logits, c.labels, c.batch, c.classes).metrics;
    const tol = sumTol(2 * c.batch, c.classes);
    allclose('sce metrics x2', [got.metrics[0]], [1.5 + 2 * want[0]], tol);
    allequal('sce counts x2', [got.metrics[1], got.metrics[2]], [2 + 2 * want[1], 3 + 2 * want[2]]);
  });

  it('rejects a buffer too small before dispatching', async () => {
    const device = await testDevice();
    const big = createStorage(device, 4096, 'big');
    const small = createStorage(device, 16, 'small');
    const buffers = { dlogits: big, loss: big, pred: big, metrics: big, logits: big, labels: small };
    const shape = { batch: 10, classes: 10 };
    await expect(prepareSoftmaxCrossEntropy(device, buffers, shape)).rejects.toThrow(ShapeError);
    await expect(prepareSoftmaxCrossEntropy(device, buffers, shape)).rejects.toThrow(
      /softmax_cross_entropy: labels/,
    );
    await expect(
      prepareSoftmaxCrossEntropy(device, { ...buffers, labels: big }, { batch: 0, classes: 10 }),
    ).rejects.toThrow(/softmax_cross_entropy: batch/);
  });
});
