// The adapter's own ceilings, measured in the same run as everything else:
// peak_fma (compute-bound) and peak_copy (bandwidth-bound). Every kernel row
// is reported as a fraction of these.

import { createStorage, readF32, uploadStorage } from '../src/gpu/buffers';
import { PEAK_FMA_CHAINS, peakFmaFlops, preparePeakCopy, preparePeakFma, type PeakFmaChains } from '../src/kernels/peak';
import { peakFma } from '../src/reference/peak';
import { Rng } from '../src/util/rng';
import { guarded, rates, runOnce, timeDispatches, validate, type BenchContext, type BenchRow, type Ceilings } from './harness';

/** Enough invocations to fill any adapter here many times over. */
const FMA_THREADS = 65536;
/** FLOPs of one peak_fma dispatch, whatever the chain count: ~40 ms on lavapipe. */
const FMA_FLOPS = 2 ** 30;

async function fmaRow(ctx: BenchContext, chains: PeakFmaChains, workgroupSize: number): Promise<BenchRow> {
  const { device } = ctx;
  const iterations = FMA_FLOPS / (FMA_THREADS * chains * 8);
  const shape = { threads: FMA_THREADS, iterations, chains, workgroupSize, a: 1, b: 1 };
  const row: BenchRow = {
    group: 'ceiling',
    name: 'peak_fma',
    shape: `${FMA_THREADS} threads x ${iterations} steps x ${chains} vec4 chains, wg ${workgroupSize}`,
    bound: 'ceiling',
    flops: peakFmaFlops(shape),
  };
  return guarded(ctx, row, async () => {
    const out = createStorage(device, FMA_THREADS * 16, 'peak_fma out');
    const d = await preparePeakFma(device, { out }, shape);
    try {
      await runOnce(device, [d]);
      // The result depends on the invocation only through i % 64: the 64
      // reference rows, repeated, are the whole expected output. a = b = 1
      // keeps every value an exact f32, so the check is exact.
      const ref64 = peakFma({ ...shape, threads: 64 });
      const want = new Float64Array(FMA_THREADS * 4);
      for (let i = 0; i < FMA_THREADS; i++) want.set(ref64.subarray((i % 64) * 4, (i % 64) * 4 + 4), i * 4);
      row.validation = validate('peak_fma', await readF32(device, out, FMA_THREADS * 4), want, { atol: 0, rtol: 0 });
      row.ours = await timeDispatches(ctx, [d], { samples: ctx.quick ? 3 : 7 });
      rates(row, null);
    } finally {
      d.destroy();
      out.destroy();
    }
  });
}

async function copyRow(ctx: BenchContext, mib: number): Promise<BenchRow> {
  const { device } = ctx;
  const n = (mib * 1024 * 1024) / 4;
  const row: BenchRow = {
    group: 'ceiling',
    name: 'peak_copy',
    shape: `${mib} MiB -> ${mib} MiB`,
    bound: 'ceiling',
    bytes: 2 * n * 4,
  };
  return guarded(ctx, row, async () => {
    const host = new Rng(mib).floats(n);
    const src = uploadStorage(device, host, 'peak_copy src');
    const dst = createStorage(device, n * 4, 'peak_copy dst');
    const d = await preparePeakCopy(device, { dst, src }, { n });
    try {
      await runOnce(device, [d]);
      // A copy must be bit-exact.
      row.validation = validate('peak_copy', await readF32(device, dst, n), host, { atol: 0, rtol: 0 });
      row.ours = await timeDispatches(ctx, [d]);
      rates(row, null);
    } finally {
      d.destroy();
      src.destroy();
      dst.destroy();
    }
  });
}

/**
 * Measures the FMA ceiling over chain counts (and two workgroup sizes in the
 * full run) and the copy ceiling at cache-sized and DRAM-sized buffers.
 * The ceilings are the best of each.
 */
export async function benchCeilings(ctx: BenchContext): Promise<{ rows: BenchRow[]; ceilings: Ceilings; best: { chains: PeakFmaChains; workgroupSize: number } }> {
  const rows: BenchRow[] = [];
  let best = { chains: 4 as PeakFmaChains, workgroupSize: 64, gflops: 0 };
  const sizes = ctx.quick ? [64] : [64, 256];
  for (const workgroupSize of sizes) {
    if (workgroupSize > ctx.device.limits.maxComputeInvocationsPerWorkgroup) continue;
    for (const chains of PEAK_FMA_CHAINS) {
      const row = await fmaRow(ctx, chains, workgroupSize);
      rows.push(row);
      if ((row.gflops ?? 0) > best.gflops) best = { chains, workgroupSize, gflops: row.gflops! };
    }
  }
  let copy = 0;
  // 1 MiB stays in the caches of a CPU adapter, 64 MiB does not: the ceiling
  // is the best of them, so small cache-resident kernels stay below 100%.
  for (const mib of [1, 8, 64]) {
    const row = await copyRow(ctx, mib);
    rows.push(row);
    copy = Math.max(copy, row.gbs ?? 0);
  }
  return {
    rows,
    ceilings: { fmaGflops: best.gflops, copyGbs: copy },
    best: { chains: best.chains, workgroupSize: best.workgroupSize },
  };
}

/** The best FMA configuration again, at the end of the run: did the load change? */
export async function benchCeilingAgain(ctx: BenchContext, best: { chains: PeakFmaChains; workgroupSize: number }): Promise<BenchRow> {
  const row = await fmaRow(ctx, best.chains, best.workgroupSize);
  row.name = 'peak_fma (end of run)';
  return row;
}
