// The layers the paper's study adds (issue 14): batch normalisation after
// conv1 (training statistics with the moving update, the normalised forward
// with ReLU fused, and the backward through the batch statistics), the
// standalone activation kernels (elu, gelu: what a layer runs when its
// activation is not fused into an epilogue) and average pooling, all at the
// paper CNN's conv1 output, batch 128. Memory-bound: reported in GB/s.
// Each row is checked against the float64 reference first, with the
// tolerances the kernels' tests state and justify.

import { createStorage, readF32, uploadStorage } from '../src/gpu/buffers';
import { prepareActivationBackward, prepareActivationForward, type ActivationName } from '../src/kernels/activation';
import { prepareAvgPoolForward, prepareAvgPoolBackward, type AvgPoolShape } from '../src/kernels/avgpool';
import { prepareBatchNormBackward, prepareBatchNormForward, prepareBatchNormStats } from '../src/kernels/batchnorm';
import { maxPoolGeometry } from '../src/kernels/maxpool';
import { activationBackward, activationForward } from '../src/reference/activation';
import { avgPoolBackward, avgPoolForward } from '../src/reference/avgpool';
import { batchNormBackward, batchNormForward, batchNormStats } from '../src/reference/batchnorm';
import { Rng } from '../src/util/rng';
import { measureKernel, validate, type BenchContext, type BenchRow, type Ceilings } from './harness';

const BATCH = 128;
// conv1's output: 25 x 25 x 32 per image.
const ROWS = BATCH * 25 * 25;
const CHANNELS = 32;
const N = ROWS * CHANNELS;
const EPS = 1e-3;
const MOMENTUM = 0.99;

// test/kernels/batchnorm.test.ts: f32 sums over R rows err by a few ulp of
// the sqrt(R)-sized partial sums; outputs scale that by gamma / sigma.
function bnTolerance(rows: number) {
  const stat = 1e-6 * (1 + Math.sqrt(rows) / 8);
  return { stats: { atol: stat, rtol: 1e-6 }, out: { atol: 8 * stat + 2e-6, rtol: 1e-5 } };
}
// test/kernels/activation.test.ts: exp-based activations, a few ulp.
const ELEMENTWISE = { atol: 1e-6, rtol: 1e-5 };
// A mean of at most 4 values (2x2 windows): a few ulp.
const POOL = { atol: 4 * 2 ** -24, rtol: 4 * 2 ** -24 };

export async function benchLayers(ctx: BenchContext, ceilings: Ceilings): Promise<BenchRow[]> {
  const { device } = ctx;
  const rows: BenchRow[] = [];
  const rng = new Rng(N);
  const xHost = rng.floats(N, 0, 2);
  const dyHost = rng.floats(N);
  const gammaHost = rng.floats(CHANNELS, 0.5, 1.5);
  const betaHost = rng.floats(CHANNELS, -0.5, 0.5);
  const shape = { rows: ROWS, channels: CHANNELS, epsilon: EPS, momentum: MOMENTUM, activation: 'relu' as const };
  const refShape = { rows: ROWS, channels: CHANNELS, epsilon: EPS, activation: 'relu' as const };
  const stats = batchNormStats(xHost, refShape);
  const tol = bnTolerance(ROWS);
  const desc = `${BATCH}x25x25x${CHANNELS}`;

  const bnParams = () => ({
    gamma: uploadStorage(device, gammaHost, 'gamma'),
    beta: uploadStorage(device, betaHost, 'beta'),
    movingMean: uploadStorage(device, new Float32Array(CHANNELS), 'moving mean'),
    movingVariance: uploadStorage(device, new Float32Array(CHANNELS).fill(1), 'moving variance'),
    mean: createStorage(device, CHANNELS * 4, 'mean'),
    variance: createStorage(device, CHANNELS * 4, 'variance'),
  });

  // Statistics read x once; the forward reads it again and writes y.
  const fwd: BenchRow = { group: 'layers', name: 'batchnorm forward (train, +relu)', shape: desc, bound: 'memory', bytes: 4 * 3 * N };
  rows.push(
    await measureKernel(ctx, fwd, ceilings, async () => {
      const p = bnParams();
      const x = uploadStorage(device, xHost, 'x');
      const y = createStorage(device, N * 4, 'y');
      const dispatches = [
        await prepareBatchNormStats(device, { mean: p.mean, variance: p.variance, movingMean: p.movingMean, movingVariance: p.movingVariance, x }, shape),
        await prepareBatchNormForward(device, { y, x, mean: p.mean, variance: p.variance, gamma: p.gamma, beta: p.beta }, shape),
      ];
      return {
        dispatches,
        check: async () => {
          validate('batchnorm mean', await readF32(device, p.mean, CHANNELS), stats.mean, tol.stats);
          validate('batchnorm variance', await readF32(device, p.variance, CHANNELS), stats.variance, tol.stats);
          const want = batchNormForward(xHost, stats.mean, stats.variance, gammaHost, betaHost, refShape);
          return validate('batchnorm y', await readF32(device, y, N), want, tol.out);
        },
        destroy: () => {
          for (const d of dispatches) d.destroy();
          [x, y, ...Object.values(p)].forEach((b) => b.destroy());
        },
      };
    }),
  );

  // The sums pass reads dy and x; the dx pass reads both again and writes dx.
  const bwd: BenchRow = { group: 'layers', name: 'batchnorm backward (+relu)', shape: desc, bound: 'memory', bytes: 4 * 5 * N };
  rows.push(
    await measureKernel(ctx, bwd, ceilings, async () => {
      const p = bnParams();
      const x = uploadStorage(device, xHost, 'x');
      const dy = uploadStorage(device, dyHost, 'dy');
      const dx = createStorage(device, N * 4, 'dx');
      const dgamma = createStorage(device, CHANNELS * 4, 'dgamma');
      const dbeta = createStorage(device, CHANNELS * 4, 'dbeta');
      device.queue.writeBuffer(p.mean, 0, Float32Array.from(stats.mean));
      device.queue.writeBuffer(p.variance, 0, Float32Array.from(stats.variance));
      const d = await prepareBatchNormBackward(
        device,
        { dx, dgamma, dbeta, dy, x, mean: p.mean, variance: p.variance, gamma: p.gamma, beta: p.beta },
        shape,
      );
      return {
        dispatches: [d],
        check: async () => {
          const want = batchNormBackward(dyHost, xHost, gammaHost, betaHost, refShape);
          // dgamma and dbeta are sums over the 80000 rows, of terms of size ~1.
          const sum = { atol: ROWS * 2 ** -24 * 4, rtol: 1e-5 };
          validate('batchnorm dbeta', await readF32(device, dbeta, CHANNELS), want.dbeta, sum);
          validate('batchnorm dgamma', await readF32(device, dgamma, CHANNELS), want.dgamma, sum);
          return validate('batchnorm dx', await readF32(device, dx, N), want.dx, tol.out);
        },
        destroy: () => {
          d.destroy();
          [x, dy, dx, dgamma, dbeta, ...Object.values(p)].forEach((b) => b.destroy());
        },
      };
    }),
  );

  const uHost = rng.floats(N, -4, 4);
  for (const a of ['elu', 'gelu'] as ActivationName[]) {
    const f: BenchRow = { group: 'layers', name: `activation ${a} forward`, shape: `${N}`, bound: 'memory', bytes: 4 * 2 * N };
    rows.push(
      await measureKernel(ctx, f, ceilings, async () => {
        const u = uploadStorage(device, uHost, 'u');
        const y = createStorage(device, N * 4, 'y');
        const d = await prepareActivationForward(device, { y, u }, { n: N, activation: a });
        return {
          dispatches: [d],
          check: async () => validate(`${a} y`, await readF32(device, y, N), activationForward(uHost, a), ELEMENTWISE),
          destroy: () => [u, y].forEach((b) => b.destroy()),
        };
      }),
    );
    const b: BenchRow = { group: 'layers', name: `activation ${a} backward`, shape: `${N}`, bound: 'memory', bytes: 4 * 3 * N };
    rows.push(
      await measureKernel(ctx, b, ceilings, async () => {
        const u = uploadStorage(device, uHost, 'u');
        const dy = uploadStorage(device, dyHost, 'dy');
        const dx = createStorage(device, N * 4, 'dx');
        const d = await prepareActivationBackward(device, { dx, dy, saved: u }, { n: N, activation: a, fromOutput: false });
        return {
          dispatches: [d],
          check: async () => validate(`${a} dx`, await readF32(device, dx, N), activationBackward(dyHost, uHost, a, false), ELEMENTWISE),
          destroy: () => [u, dy, dx].forEach((x) => x.destroy()),
        };
      }),
    );
  }

  const pool: AvgPoolShape = { batch: BATCH, inH: 25, inW: 25, channels: CHANNELS, poolH: 2, poolW: 2 };
  const g = maxPoolGeometry(pool);
  const outputs = BATCH * g.outH * g.outW * CHANNELS;
  const poolDesc = `${desc} -> ${g.outH}x${g.outW}`;
  const pf: BenchRow = { group: 'layers', name: 'avgpool forward', shape: poolDesc, bound: 'memory', bytes: 4 * (N + outputs) };
  rows.push(
    await measureKernel(ctx, pf, ceilings, async () => {
      const x = uploadStorage(device, xHost, 'x');
      const y = createStorage(device, outputs * 4, 'y');
      const d = await prepareAvgPoolForward(device, { y, x }, pool);
      return {
        dispatches: [d],
        check: async () => validate('avgpool y', await readF32(device, y, outputs), avgPoolForward(xHost, pool), POOL),
        destroy: () => [x, y].forEach((b) => b.destroy()),
      };
    }),
  );
  const dyPool = dyHost.subarray(0, outputs);
  const pb: BenchRow = { group: 'layers', name: 'avgpool backward', shape: poolDesc, bound: 'memory', bytes: 4 * (N + outputs) };
  rows.push(
    await measureKernel(ctx, pb, ceilings, async () => {
      const dy = uploadStorage(device, dyPool, 'dy');
      const dx = createStorage(device, N * 4, 'dx');
      const d = await prepareAvgPoolBackward(device, { dx, dy }, pool);
      return {
        dispatches: [d],
        check: async () => validate('avgpool dx', await readF32(device, dx, N), avgPoolBackward(dyPool, pool), POOL),
        destroy: () => [dy, dx].forEach((b) => b.destroy()),
      };
    }),
  );
  return rows;
}
