// batchnorm on the GPU against the float64 reference: statistics and moving
// averages, the forward with batch and with moving statistics, and the
// backward through the batch statistics, with an activation fused after it.
import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors';
import { createStorage, readF32, uploadStorage } from '../../src/gpu/buffers';
import type { ActivationName } from '../../src/kernels/activation';
import { batchNormPlan, prepareBatchNormBackward, prepareBatchNormForward, prepareBatchNormStats } from '../../src/kernels/batchnorm';
import { batchNormBackward, batchNormForward, batchNormMovingUpdate, batchNormStats } from '../../src/reference/batchnorm';
import { Rng } from '../../src/util/rng';
import { allclose } from '../util/allclose';
import { runDispatches, testDevice } from '../util/device';

const EPS = 1e-3;
const MOMENTUM = 0.99;

const poisoned = (device: GPUDevice, n: number, label: string) =>
  uploadStorage(device, new Float32Array(n).fill(NaN), label);

// Inputs are uniform in [0, 2) (a non-zero mean, as conv outputs have). f32
// sums of R such values, in chunks and lanes, err by a few ulp of the
// sqrt(R)-sized partial sums each: 1e-6 * (1 + sqrt(R) / 8) absolute on
// means and variances of size ~1 covers that with margin at R = 3000
// (~8e-6); a dropped row moves a mean by ~1 / R, 3e-4 at R = 3000, and fails.
// The normalised outputs and dx scale those errors by gamma / sigma (~2 here)
// and add the activation's few ulp.
function tolerance(rows: number) {
  const stat = 1e-6 * (1 + Math.sqrt(rows) / 8);
  return { stats: { atol: stat, rtol: 1e-6 }, out: { atol: 8 * stat + 2e-6, rtol: 1e-5 } };
}

interface Case {
  what: string;
  rows: number;
  channels: number;
  activation: ActivationName;
}

const cases: Case[] = [
  { what: 'batch 1 of a dense layer', rows: 1, channels: 10, activation: 'relu' },
  { what: 'odd: 7 rows, 3 channels', rows: 7, channels: 3, activation: 'linear' },
  { what: 'conv-like: 2 x 13 x 11 rows, 33 channels (two column groups)', rows: 286, channels: 33, activation: 'gelu' },
  { what: 'many chunks: 3000 rows, 5 channels', rows: 3000, channels: 5, activation: 'tanh' },
  { what: 'wide: 40 rows, 70 channels', rows: 40, channels: 70, activation: 'elu' },
];

describe('batchnorm kernels vs reference', () => {
  for (const c of cases) {
    it(`${c.what}, ${c.activation} after`, async () => {
      const device = await testDevice();
      const { rows, channels: C, activation } = c;
      const n = rows * C;
      const rng = new Rng(rows * 31 + C);
      const xHost = rng.floats(n, 0, 2);
      const dyHost = rng.floats(n);
      const gammaHost = rng.floats(C, 0.5, 1.5);
      const betaHost = rng.floats(C, -0.5, 0.5);
      const movingMeanHost = rng.floats(C, -1, 1);
      const movingVarHost = rng.floats(C, 0.5, 2);
      const x = uploadStorage(device, xHost, 'x');
      const dy = uploadStorage(device, dyHost, 'dy');
      const gamma = uploadStorage(device, gammaHost, 'gamma');
      const beta = uploadStorage(device, betaHost, 'beta');
      const movingMean = uploadStorage(device, movingMeanHost, 'moving mean');
      const movingVariance = uploadStorage(device, movingVarHost, 'moving variance');
      const mean = poisoned(device, C, 'mean');
      const variance = poisoned(device, C, 'variance');
      const yTrain = poisoned(device, n, 'y train');
      const yEval = poisoned(device, n, 'y eval');
      const dx = poisoned(device, n, 'dx');
      const dgamma = poisoned(device, C, 'dgamma');
      const dbeta = poisoned(device, C, 'dbeta');
      const shape = { rows, channels: C, epsilon: EPS, momentum: MOMENTUM, activation };
      // Evaluation reads the moving statistics before this step's update.
      const dispatches = [
        await prepareBatchNormForward(device, { y: yEval, x, mean: movingMean, variance: movingVariance, gamma, beta }, shape),
        await prepareBatchNormStats(device, { mean, variance, movingMean, movingVariance, x }, shape),
        await prepareBatchNormForward(device, { y: yTrain, x, mean, variance, gamma, beta }, shape),
        await prepareBatchNormBackward(device, { dx, dgamma, dbeta, dy, x, mean, variance, gamma, beta }, shape),
      ];
      await runDispatches(device, dispatches);

      const tol = tolerance(rows);
      const ref = batchNormStats(xHost, { rows, channels: C });
      const refShape = { rows, channels: C, epsilon: EPS, activation };
      const tag = `batchnorm ${c.what}`;
      allclose(`${tag} mean`, await readF32(device, mean, C), ref.mean, tol.stats);
      allclose(`${tag} variance`, await readF32(device, variance, C), ref.variance, tol.stats);
      const mm = Float64Array.from(movingMeanHost);
      const mv = Float64Array.from(movingVarHost);
      batchNormMovingUpdate(mm, ref.mean, MOMENTUM);
      batchNormMovingUpdate(mv, ref.variance, MOMENTUM);
      allclose(`${tag} moving mean`, await readF32(device, movingMean, C), mm, tol.stats);
      allclose(`${tag} moving variance`, await readF32(device, movingVariance, C), mv, tol.stats);
      allclose(`${tag} forward (batch statistics)`, await readF32(device, yTrain, n), batchNormForward(xHost, ref.mean, ref.variance, gammaHost, betaHost, refShape), tol.out);
      allclose(`${tag} forward (moving statistics)`, await readF32(device, yEval, n), batchNormForward(xHost, movingMeanHost, movingVarHost, gammaHost, betaHost, refShape), tol.out);
      const back = batchNormBackward(dyHost, xHost, gammaHost, betaHost, refShape);
      // dgamma, dbeta are sums of R terms of size ~1, each with the output's
      // error: a random walk of R such errors, 2e-6 * (1 + sqrt(R)).
      const sumTol = { atol: 2e-6 * (1 + Math.sqrt(rows)), rtol: 1e-5 };
      allclose(`${tag} dgamma`, await readF32(device, dgamma, C), back.dgamma, sumTol);
      allclose(`${tag} dbeta`, await readF32(device, dbeta, C), back.dbeta, sumTol);
      allclose(`${tag} dx`, await readF32(device, dx, n), back.dx, tol.out);
      if (rows === 1) {
        // One row: y = f(beta) and no gradient reaches x or gamma.
        expect(Array.from(await readF32(device, dx, n)).every((v) => v === 0)).toBe(true);
      }
      for (const d of dispatches) d.destroy();
    });
  }

  it('splits many rows into at most 64 chunks of at least 256 rows', () => {
    expect(batchNormPlan({ rows: 128 * 25 * 25, channels: 32 })).toMatchObject({ chunks: 64, chunkRows: 1250, workgroupCols: 32, colGroups: 1 });
    expect(batchNormPlan({ rows: 1, channels: 10 })).toMatchObject({ chunks: 1, workgroupCols: 16 });
    expect(batchNormPlan({ rows: 300, channels: 70 })).toMatchObject({ chunks: 2, workgroupCols: 64, colGroups: 2 });
  });

  it('rejects small buffers and bad settings, naming the kernel', async () => {
    const device = await testDevice();
    const big = createStorage(device, 4096, 'big');
    const small = createStorage(device, 16, 'small');
    const buffers = { y: big, x: big, mean: small, variance: big, gamma: big, beta: big };
    await expect(prepareBatchNormForward(device, buffers, { rows: 4, channels: 8 }, 'bn')).rejects.toThrow(/bn: mean/);
    await expect(prepareBatchNormForward(device, { ...buffers, mean: big }, { rows: 4, channels: 8, epsilon: 0 }, 'bn')).rejects.toThrow(ShapeError);
    await expect(prepareBatchNormStats(device, { mean: big, variance: big, movingMean: big, x: big }, { rows: 4, channels: 8 }, 'bn')).rejects.toThrow(/neither/);
  });
});
