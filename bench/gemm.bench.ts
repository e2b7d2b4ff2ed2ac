// GEMM: square 256/512/1024 and the dense layer's three products in the
// reference CNN (batch 128), the tiled kernel training uses, with the naive
// kernel at 512 as the floor; TF.js's matMul on the same shapes.

import { createStorage, readF32, uploadStorage } from '../src/gpu/buffers';
import { prepareGemm, prepareGemmNaive, type GemmShape } from '../src/kernels/gemm';
import { gemm } from '../src/reference/gemm';
import { Rng } from '../src/util/rng';
import { measureKernel, validate, type BenchContext, type BenchRow, type Ceilings } from './harness';
import type { TfjsPeer } from './tfjs';

interface GemmCase {
  name: string;
  shape: GemmShape;
  naive?: boolean;
}

export function gemmCases(quick: boolean): GemmCase[] {
  const B = 128;
  const cases: GemmCase[] = [
    { name: 'gemm 256', shape: { m: 256, n: 256, k: 256 } },
    { name: 'gemm 512', shape: { m: 512, n: 512, k: 512 } },
    { name: 'gemm 1024', shape: { m: 1024, n: 1024, k: 1024 } },
    { name: 'gemm_naive 512', shape: { m: 512, n: 512, k: 512 }, naive: true },
    // The dense layer 1600 -> 10 of the paper's CNN at batch 128.
    { name: 'dense forward (x.W + b)', shape: { m: B, n: 10, k: 1600, bias: true } },
    { name: 'dense dW (x^T.dy)', shape: { m: 1600, n: 10, k: B, transA: true } },
    { name: 'dense dx (dy.W^T)', shape: { m: B, n: 1600, k: 10, transB: true } },
  ];
  // The naive kernel is the floor the tiled one is measured against; at ~10x
  // slower it costs a minute on SwiftShader, so only the full run has it.
  return quick
    ? cases.filter((c) => !c.naive)
    : [...cases, { name: 'gemm 2048', shape: { m: 2048, n: 2048, k: 2048 } }];
}

const describeShape = (s: GemmShape) =>
  `${s.m}x${s.n}x${s.k}${s.transA ? ' Aᵀ' : ''}${s.transB ? ' Bᵀ' : ''}${s.bias ? ' +bias' : ''}`;

/** Rows of the reference checked: all of them up to 512, 64 spread rows above. */
function checkedRows(m: number): number[] {
  if (m <= 512) return Array.from({ length: m }, (_, i) => i);
  return Array.from({ length: 64 }, (_, i) => Math.floor((i * (m - 1)) / 63));
}

export async function benchGemm(ctx: BenchContext, ceilings: Ceilings, peer: TfjsPeer | null): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const c of gemmCases(ctx.quick)) {
    const { m, n, k } = c.shape;
    const row: BenchRow = {
      group: 'gemm',
      name: c.name,
      shape: describeShape(c.shape),
      bound: 'compute',
      flops: 2 * m * n * k,
      // Each operand read once and C written once: the least any GEMM moves.
      bytes: 4 * (m * k + k * n + m * n),
    };
    const rng = new Rng(m * 7 + n * 3 + k);
    const aHost = rng.floats(m * k);
    const bHost = rng.floats(k * n);
    const biasHost = rng.floats(n);
    rows.push(
      await measureKernel(
        ctx,
        row,
        ceilings,
        async () => {
          const { device } = ctx;
          const a = uploadStorage(device, aHost, 'a');
          const b = uploadStorage(device, bHost, 'b');
          const bias = uploadStorage(device, biasHost, 'bias');
          const out = createStorage(device, m * n * 4, 'c');
          const prepare = c.naive ? prepareGemmNaive : prepareGemm;
          const d = await prepare(device, { c: out, a, b, bias: c.shape.bias ? bias : undefined }, c.shape, c.name);
          return {
            dispatches: [d],
            check: async () => {
              const got = await readF32(device, out, m * n);
              const sel = checkedRows(m);
              // The reference on the selected rows of op(A) only.
              const aRows = new Float64Array(sel.length * k);
              sel.forEach((r, i) => {
                for (let p = 0; p < k; p++) aRows[i * k + p] = c.shape.transA ? aHost[p * m + r] : aHost[r * k + p];
              });
              const want = gemm(aRows, bHost, c.shape.bias ? biasHost : null, { m: sel.length, n, k, transB: c.shape.transB });
              const gotRows = new Float64Array(sel.length * n);
              sel.forEach((r, i) => gotRows.set(got.subarray(r * n, r * n + n), i * n));
              // f32 sums of k products of magnitude <= 1: the error of a
              // sequential or blocked sum is below k * 2^-24 times the
              // largest partial sum (~sqrt(k)); k * 2^-22 bounds it with room.
              const atol = k * 2 ** -22;
              return validate(c.name, gotRows, want, { atol, rtol: 1e-5 }, sel.length < m ? `${sel.length} of ${m} rows` : undefined);
            },
            destroy: () => [a, b, bias, out].forEach((x) => x.destroy()),
          };
        },
        peer && !c.naive ? () => peer.matMul(c.shape, aHost, bHost, biasHost) : undefined,
      ),
    );
  }
  return rows;
}
