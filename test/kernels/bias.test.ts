import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors';
import { createStorage, readF32, uploadStorage } from '../../src/gpu/buffers';
import { biasBackwardPlan, prepareBiasBackward } from '../../src/kernels/bias';
import { biasBackward } from '../../src/reference/bias';
import { Rng } from '../../src/util/rng';
import { allclose } from '../util/allclose';
import { runDispatches, testDevice } from '../util/device';

// Two kinds of inputs, two tolerances:
// - Quantized: dy a multiple of 2^-6 in [-1, 1]. Every partial sum is a
//   multiple of 2^-6 below 80000 < 2^17 in magnitude, so it needs at most 23
//   significant bits and f32 holds it exactly in any order of addition: the
//   GPU must match the float64 reference exactly (a dropped or doubled row
//   fails).
// - Uniform f32 in [-1, 1]: a sum computed as a tree in which every value
//   passes through at most D additions errs by at most D * 2^-24 * sum |dy|.
//   Here D = chunk_rows / row lanes + 2 + log2(row lanes) for the first
//   pass (a lane's running sums, combining its 4 sums, the workgroup tree),
//   plus the same for the second pass over the chunks.
const EXACT = { atol: 0, rtol: 0 };
const U = 2 ** -24;

function additionDepth(rows: number, cols: number): number {
  const plan = biasBackwardPlan({ rows, cols });
  const lanes = plan.workgroupRows;
  const pass = (r: number) => Math.ceil(r / lanes) + 2 + Math.log2(lanes);
  return plan.chunks === 1 ? pass(rows) : pass(plan.chunkRows) + pass(plan.chunks);
}

const shapes = [
  // Conv bias gradients of the reference CNN at batch 128 (rows = N*OH*OW).
  { rows: 80000, cols: 32 },
  { rows: 12800, cols: 64 },
  // Dense bias gradient at batch 128, and awkward ones.
  { rows: 128, cols: 10 },
  { rows: 1, cols: 1 },
  { rows: 7, cols: 3 },
  { rows: 1025, cols: 5 },
  { rows: 3000, cols: 65 },
];

describe('bias_backward', () => {
  for (const { rows, cols } of shapes) {
    for (const inputs of ['quantized', 'uniform'] as const) {
      it(`rows=${rows} cols=${cols} (${inputs})`, async () => {
        const device = await testDevice();
        const rng = new Rng(rows * 131 + cols);
        const dyHost =
          inputs === 'quantized'
            ? Float32Array.from({ length: rows * cols }, () => (rng.int(129) - 64) / 64)
            : rng.floats(rows * cols);
        // db starts as NaN: a column the kernel forgets fails the check.
        const db = uploadStorage(device, new Float32Array(cols).fill(NaN), 'db');
        const dy = uploadStorage(device, dyHost, 'dy');
        const d = await prepareBiasBackward(device, { db, dy }, { rows, cols });
        await runDispatches(device, [d]);
        const want = biasBackward(dyHost, { rows, cols });
        let sumAbs = 0;
        for (let c = 0; c < cols; c++) {
          let s = 0;
          for (let r = 0; r < rows; r++) s += Math.abs(dyHost[r * cols + c]);
          sumAbs = Math.max(sumAbs, s);
        }
        const tol =
          inputs === 'quantized' ? EXACT : { atol: additionDepth(rows, cols) * U * sumAbs, rtol: 0 };
        allclose(`bias_backward rows=${rows} cols=${cols} (${inputs})`, await readF32(device, db, cols), want, tol);
        d.destroy();
        db.destroy();
        dy.destroy();
      });
    }
  }

  it('is deterministic: the same input gives the same bits', async () => {
    const device = await testDevice();
    const rows = 80000;
    const cols = 32;
    const dy = uploadStorage(device, new Rng(5).floats(rows * cols), 'dy');
    const outs = [0, 1].map(() => createStorage(device, cols * 4, 'db'));
    const ds = await Promise.all(outs.map((db) => prepareBiasBackward(device, { db, dy }, { rows, cols })));
    await runDispatches(device, ds);
    const [x, y] = await Promise.all(outs.map((o) => readF32(device, o, cols)));
    expect(Array.from(x)).toEqual(Array.from(y));
  });

  it('rejects bad shapes and small buffers before dispatching', async () => {
    const device = await testDevice();
    const small = createStorage(device, 64, 'small');
    const big = createStorage(device, 4096, 'big');
    await expect(prepareBiasBackward(device, { db: big, dy: small }, { rows: 100, cols: 10 })).rejects.toThrow(
      ShapeError,
    );
    await expect(prepareBiasBackward(device, { db: big, dy: small }, { rows: 100, cols: 10 })).rejects.toThrow(
      /bias_backward: dy/,
    );
    await expect(prepareBiasBackward(device, { db: small, dy: big }, { rows: 10, cols: 20 })).rejects.toThrow(
      /bias_backward: db/,
    );
    await expect(prepareBiasBackward(device, { db: big, dy: big }, { rows: 0, cols: 10 })).rejects.toThrow(
      /bias_backward: rows/,
    );
  });
});
