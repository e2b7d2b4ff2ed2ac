// conv2d on the GPU against the float64 reference: forward (with and without
// ReLU), backward input, backward filter and bias, on the reference CNN's two
// layers and on awkward shapes.
import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors';
import { createStorage, readF32, uploadStorage } from '../../src/gpu/buffers';
import type { PreparedDispatch } from '../../src/gpu/kernel';
import {
  CONV2D_FILTER_MENU,
  CONV2D_PIXEL_MENU,
  backwardInputWorkspaceBytes,
  col2imChannelsPerThread,
  conv2dBlockedFits,
  conv2dBlockedName,
  conv2dGeometry,
  defaultBackwardFilterCore,
  defaultBackwardInputMethod,
  defaultGemmCore,
  prepareConv2dBackwardFilter,
  prepareConv2dBackwardInput,
  prepareConv2dCol2im,
  prepareConv2dForward,
  type Conv2dBlockedVariant,
  type Conv2dShape,
} from '../../src/kernels/conv2d';
import { memoryTuneCache, Tuner, type DispatchTimer, type TunedDispatch } from '../../src/gpu/tune';
import {
  conv2dBackwardFilter,
  conv2dBackwardInput,
  conv2dCol2im,
  conv2dForward,
} from '../../src/reference/conv2d';
import { subgroupLanes } from '../../src/gpu/device';
import { Rng } from '../../src/util/rng';
import { allclose } from '../util/allclose';
import { runDispatches, testDevice } from '../util/device';

/**
 * Tolerance for an f32 sum of L products of magnitude <= 1 (inputs uniform in
 * [-1, 1]). Each of the L additions rounds by at most 2^-24 times the partial
 * sum, and partial sums of L random-sign terms stay within ~sqrt(L), so the
 * error is below L * sqrt(L) * 2^-24 (about 3e-4 for conv2's L = 288). A
 * missing or misplaced term is off by ~0.1 or more and fails.
 */
function sumTolerance(terms: number) {
  return { atol: terms * Math.sqrt(terms) * 2 ** -24, rtol: 0 };
}

/** A buffer pre-filled with NaN: an element a kernel forgets to write fails the check. */
function poisoned(device: GPUDevice, n: number, label: string): GPUBuffer {
  return uploadStorage(device, new Float32Array(n).fill(NaN), label);
}

interface Case {
  name: string;
  shape: Conv2dShape;
}

const cases: Case[] = [
  // The reference CNN (MNIST): conv1 and conv2, at batch 1 and 3.
  ...[1, 3].map((batch) => ({
    name: `conv1 28x28x1 -> 32, 4x4 valid, batch ${batch}`,
    shape: { batch, inH: 28, inW: 28, inC: 1, outC: 32, kernelH: 4, kernelW: 4, padding: 'valid' as const },
  })),
  ...[1, 3].map((batch) => ({
    name: `conv2 12x12x32 -> 64, 3x3 valid, batch ${batch}`,
    shape: { batch, inH: 12, inW: 12, inC: 32, outC: 64, kernelH: 3, kernelW: 3, padding: 'valid' as const },
  })),
  // Awkward shapes. Their channel and tap counts are picked to land on the
  // same few tile configurations as conv1/conv2 (each new one is another
  // multi-second pipeline compile) while covering every code path.
  {
    name: 'odd channels C=3 K=5, 7x9 input, batch 1',
    shape: { batch: 1, inH: 7, inW: 9, inC: 3, outC: 5, kernelH: 3, kernelW: 3, padding: 'valid' },
  },
  {
    name: '1x1 kernel, C=96 K=70 (two column tiles in every kernel)',
    shape: { batch: 2, inH: 5, inW: 6, inC: 96, outC: 70, kernelH: 1, kernelW: 1, padding: 'valid' },
  },
  {
    name: '5x5 same, 9x7 input',
    shape: { batch: 2, inH: 9, inW: 7, inC: 1, outC: 6, kernelH: 5, kernelW: 5, padding: 'same' },
  },
  {
    name: 'stride 2 valid, 2x3 kernel, 7x9 input',
    shape: { batch: 2, inH: 7, inW: 9, inC: 3, outC: 5, kernelH: 2, kernelW: 3, strideH: 2, strideW: 2, padding: 'valid' },
  },
  {
    name: 'stride 2 same, 3x3 kernel, 7x9 input, C=8',
    shape: { batch: 1, inH: 7, inW: 9, inC: 8, outC: 33, kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, padding: 'same' },
  },
  {
    name: 'stride (1, 2) same, 3x2 kernel, C=48 K=40',
    shape: { batch: 3, inH: 6, inW: 5, inC: 48, outC: 40, kernelH: 3, kernelW: 2, strideH: 1, strideW: 2, padding: 'same' },
  },
];

async function check({ name, shape }: Case) {
  const device = await testDevice();
  const g = conv2dGeometry(shape);
  const rng = new Rng(name.length * 104729 + shape.batch);
  const nx = shape.batch * shape.inH * shape.inW * shape.inC;
  const nw = shape.kernelH * shape.kernelW * shape.inC * shape.outC;
  const ny = shape.batch * g.outH * g.outW * shape.outC;
  const xs = rng.floats(nx);
  const ws = rng.floats(nw);
  const bs = rng.floats(shape.outC);
  const dys = rng.floats(ny);
  const x = uploadStorage(device, xs, 'x');
  const w = uploadStorage(device, ws, 'w');
  const b = uploadStorage(device, bs, 'b');
  const dy = uploadStorage(device, dys, 'dy');
  const y = poisoned(device, ny, 'y');
  const yTiled = poisoned(device, ny, 'y tiled');
  const yRelu = poisoned(device, ny, 'y relu');
  const yReluTiled = poisoned(device, ny, 'y relu tiled');
  const dx = poisoned(device, nx, 'dx');
  const dxImplicit = poisoned(device, nx, 'dx implicit');
  const dxTiled = poisoned(device, nx, 'dx tiled');
  const dw = poisoned(device, nw, 'dw');
  const db = poisoned(device, shape.outC, 'db');
  const dwTiled = poisoned(device, nw, 'dw tiled');
  const dbTiled = poisoned(device, shape.outC, 'db tiled');

  const dispatches: PreparedDispatch[] = [
    await prepareConv2dForward(device, { y, x, w, b }, { ...shape, relu: false }, 'y', { core: 'subgroup' }),
    await prepareConv2dForward(device, { y: yTiled, x, w, b }, { ...shape, relu: false }, 'y tiled', { core: 'tiled' }),
    await prepareConv2dForward(device, { y: yRelu, x, w, b }, { ...shape, relu: true }, 'y relu', { core: 'subgroup' }),
    await prepareConv2dForward(device, { y: yReluTiled, x, w, b }, { ...shape, relu: true }, 'y relu tiled', {
      core: 'tiled',
    }),
    await prepareConv2dBackwardInput(device, { dx, dy, w }, shape, 'dx gemm', { method: 'gemm', core: 'subgroup' }),
    await prepareConv2dBackwardInput(device, { dx: dxTiled, dy, w }, shape, 'dx gemm tiled', { method: 'gemm', core: 'tiled' }),
    await prepareConv2dBackwardInput(device, { dx: dxImplicit, dy, w }, shape, 'dx implicit', {
      method: 'implicit',
    }),
    await prepareConv2dBackwardFilter(device, { dw, db, x, dy }, shape, 'dw', { core: 'subgroup' }),
    await prepareConv2dBackwardFilter(device, { dw: dwTiled, db: dbTiled, x, dy }, shape, 'dw tiled', { core: 'tiled' }),
  ];
  await runDispatches(device, dispatches);

  const taps = shape.kernelH * shape.kernelW;
  // Forward: KH*KW*C products plus the bias.
  const fwdTol = sumTolerance(taps * shape.inC + 1);
  const yRef = conv2dForward(xs, ws, bs, { ...shape, relu: false });
  const yReluRef = conv2dForward(xs, ws, bs, { ...shape, relu: true });
  allclose(`${name}: y (subgroup)`, await readF32(device, y, ny), yRef, fwdTol);
  allclose(`${name}: y (tiled)`, await readF32(device, yTiled, ny), yRef, fwdTol);
  allclose(`${name}: y relu (subgroup)`, await readF32(device, yRelu, ny), yReluRef, fwdTol);
  allclose(`${name}: y relu (tiled)`, await readF32(device, yReluTiled, ny), yReluRef, fwdTol);
  // Backward input: KH*KW*K products (fewer nonzero ones for stride > 1).
  // The GEMM path sums K products per tap, then up to KH*KW taps: the same
  // KH*KW*K terms, so the same bound.
  const dxRef = conv2dBackwardInput(dys, ws, shape);
  const dxTol = sumTolerance(taps * shape.outC);
  allclose(`${name}: dx (subgroup gemm + col2im)`, await readF32(device, dx, nx), dxRef, dxTol);
  allclose(`${name}: dx (tiled gemm + col2im)`, await readF32(device, dxTiled, nx), dxRef, dxTol);
  allclose(`${name}: dx (implicit)`, await readF32(device, dxImplicit, nx), dxRef, dxTol);
  // Backward filter and bias: one product per output pixel, N*OH*OW of them.
  const pixels = shape.batch * g.outH * g.outW;
  const ref = conv2dBackwardFilter(xs, dys, shape);
  allclose(`${name}: dw (subgroup)`, await readF32(device, dw, nw), ref.dw, sumTolerance(pixels));
  allclose(`${name}: db (subgroup)`, await readF32(device, db, shape.outC), ref.db, sumTolerance(pixels));
  allclose(`${name}: dw (tiled)`, await readF32(device, dwTiled, nw), ref.dw, sumTolerance(pixels));
  allclose(`${name}: db (tiled)`, await readF32(device, dbTiled, shape.outC), ref.db, sumTolerance(pixels));
  for (const d of dispatches) d.destroy();
  for (const buf of [x, w, b, dy, y, yTiled, yRelu, yReluTiled, dx, dxImplicit, dxTiled, dw, db, dwTiled, dbTiled]) buf.destroy();
}

describe('conv2d kernels vs reference', () => {
  for (const c of cases) {
    it(c.name, () => check(c));
  }

  // col2im alone, on random columns (not only on dy · wᵀ): each dx element is
  // a sum of at most KH*KW values of magnitude <= 1.
  it('the cases exercise both col2im kernels (1 and 4 channels per thread)', () => {
    const per = new Set(cases.map((c) => col2imChannelsPerThread(c.shape.inC)));
    expect([...per].sort()).toEqual([1, 4]);
  });

  for (const c of cases) {
    it(`col2im alone: ${c.name}`, async () => {
      const device = await testDevice();
      const g = conv2dGeometry(c.shape);
      const nx = c.shape.batch * c.shape.inH * c.shape.inW * c.shape.inC;
      const ncol = c.shape.batch * g.outH * g.outW * c.shape.kernelH * c.shape.kernelW * c.shape.inC;
      const cols = new Rng(ncol).floats(ncol);
      const dcol = uploadStorage(device, cols, 'dcol');
      const dx = poisoned(device, nx, 'dx');
      const d = await prepareConv2dCol2im(device, { dx, dcol }, c.shape);
      await runDispatches(device, [d]);
      const taps = c.shape.kernelH * c.shape.kernelW;
      allclose(`${c.name}: col2im dx`, await readF32(device, dx, nx), conv2dCol2im(cols, c.shape), {
        atol: taps * taps * 2 ** -24,
        rtol: 0,
      });
      d.destroy();
      dcol.destroy();
      dx.destroy();
    });
  }

  it("backward input defaults to 'gemm' when its workspace fits, else 'implicit'", async () => {
    const device = await testDevice();
    const conv2 = cases.find((c) => c.name.startsWith('conv2'))!.shape;
    // The paper's conv2 at batch 128: 128*10*10 pixels x 288 taps of floats.
    expect(backwardInputWorkspaceBytes({ ...conv2, batch: 128 })).toBe(128 * 100 * 288 * 4);
    expect(defaultBackwardInputMethod(device, { ...conv2, batch: 128 })).toBe('gemm');
    // Any channel count: one input channel takes the scalar col2im.
    const conv1 = cases.find((c) => c.name.startsWith('conv1'))!.shape;
    expect(defaultBackwardInputMethod(device, { ...conv1, batch: 128 })).toBe('gemm');
    // 1x1 pixels with a huge tap count: over the 256 MiB the default allows.
    const wide = { batch: 64, inH: 64, inW: 64, inC: 512, outC: 8, kernelH: 5, kernelW: 5, padding: 'same' as const };
    expect(backwardInputWorkspaceBytes(wide)).toBeGreaterThan(256 * 2 ** 20);
    expect(defaultBackwardInputMethod(device, wide)).toBe('implicit');
    const big = createStorage(device, 1 << 17, 'big');
    await expect(
      prepareConv2dBackwardInput(device, { dx: big, dy: big, w: big }, conv2, undefined, {
        method: 'sideways' as 'gemm',
      }),
    ).rejects.toThrow(/conv2d_backward_input: method: must be 'gemm' or 'implicit'/);
    big.destroy();
  });

  it('rejects a valid kernel larger than the input and a too-small w buffer', async () => {
    const device = await testDevice();
    const big = createStorage(device, 1 << 16, 'big');
    const small = createStorage(device, 64, 'small');
    const shape = { batch: 1, inH: 4, inW: 8, inC: 2, outC: 4, kernelH: 5, kernelW: 3, padding: 'valid' as const };
    await expect(
      prepareConv2dForward(device, { y: big, x: big, w: big, b: big }, { ...shape, relu: true }),
    ).rejects.toThrow(/conv2d_forward: kernelH/);
    await expect(
      prepareConv2dBackwardInput(device, { dx: big, dy: big, w: big }, shape),
    ).rejects.toThrow(ShapeError);

    // 3x3x2x4 = 72 weights need 288 bytes; 64 are given.
    const ok = { ...shape, kernelH: 3 };
    await expect(
      prepareConv2dForward(device, { y: big, x: big, w: small, b: big }, { ...ok, relu: true }),
    ).rejects.toThrow(/conv2d_forward: w/);
    await expect(
      prepareConv2dBackwardInput(device, { dx: big, dy: big, w: small }, ok),
    ).rejects.toThrow(/conv2d_backward_input: w/);
    await expect(
      prepareConv2dBackwardFilter(device, { dw: small, db: big, x: big, dy: big }, ok),
    ).rejects.toThrow(/conv2d_backward_filter: dw/);

    // An unknown GEMM core is named in the error, for each of the three.
    const core = { core: 'fast' as 'tiled' };
    await expect(
      prepareConv2dForward(device, { y: big, x: big, w: big, b: big }, { ...ok, relu: true }, 'fwd', core),
    ).rejects.toThrow(/fwd: core: must be 'tiled' or 'subgroup', got fast/);
    await expect(
      prepareConv2dBackwardInput(device, { dx: big, dy: big, w: big }, ok, 'bin', { method: 'gemm', ...core }),
    ).rejects.toThrow(/bin: core: must be 'tiled' or 'subgroup'/);
    await expect(
      prepareConv2dBackwardFilter(device, { dw: big, db: big, x: big, dy: big }, ok, 'bf', core),
    ).rejects.toThrow(/bf: core: must be 'tiled' or 'subgroup'/);
    big.destroy();
    small.destroy();
  });

  it("defaults to the subgroup core where subgroupLanes allows it (the backward filter from 32 taps)", async () => {
    const device = await testDevice();
    const conv2 = { batch: 1, inH: 12, inW: 12, inC: 32, outC: 64, kernelH: 3, kernelW: 3, padding: 'valid' as const };
    const conv1 = { batch: 1, inH: 28, inW: 28, inC: 1, outC: 32, kernelH: 4, kernelW: 4, padding: 'valid' as const };
    const lanes = subgroupLanes(device);
    expect(defaultGemmCore(device)).toBe(lanes ? 'subgroup' : 'tiled');
    expect(defaultBackwardFilterCore(device, conv2)).toBe(lanes ? 'subgroup' : 'tiled');
    expect(defaultBackwardFilterCore(device, conv1)).toBe('tiled');
  });
});

// Every variant of the two tuning menus the tuner may pick, on both
// adapters, on every case above (shapes do not change the pipeline, so the
// cost is one compile per variant and kernel). Forward runs with ReLU; the
// backward input on the implicit kernel, whose GEMM core these variants
// replace. A variant outside the device's limits must refuse, saying why.
interface Inputs {
  xs: Float32Array;
  ws: Float32Array;
  bs: Float32Array;
  dys: Float32Array;
}

function inputsFor({ name, shape }: Case): Inputs {
  const g = conv2dGeometry(shape);
  const rng = new Rng(name.length * 7919 + shape.batch);
  return {
    xs: rng.floats(shape.batch * shape.inH * shape.inW * shape.inC),
    ws: rng.floats(shape.kernelH * shape.kernelW * shape.inC * shape.outC),
    bs: rng.floats(shape.outC),
    dys: rng.floats(shape.batch * g.outH * g.outW * shape.outC),
  };
}

async function checkPixelVariant(c: Case, v: Conv2dBlockedVariant) {
  const device = await testDevice();
  const { shape } = c;
  const { xs, ws, bs, dys } = inputsFor(c);
  const x = uploadStorage(device, xs, 'x');
  const w = uploadStorage(device, ws, 'w');
  const b = uploadStorage(device, bs, 'b');
  const dy = uploadStorage(device, dys, 'dy');
  const y = poisoned(device, dys.length, 'y');
  const dx = poisoned(device, xs.length, 'dx');
  const dispatches = [
    await prepareConv2dForward(device, { y, x, w, b }, { ...shape, relu: true }, 'y', { variant: v }),
    await prepareConv2dBackwardInput(device, { dx, dy, w }, shape, 'dx', { method: 'implicit', variant: v }),
  ];
  await runDispatches(device, dispatches);
  const taps = shape.kernelH * shape.kernelW;
  const tag = `${c.name} on ${conv2dBlockedName('', v).trim()}`;
  allclose(`${tag}: y relu`, await readF32(device, y, dys.length), conv2dForward(xs, ws, bs, { ...shape, relu: true }), sumTolerance(taps * shape.inC + 1));
  allclose(`${tag}: dx`, await readF32(device, dx, xs.length), conv2dBackwardInput(dys, ws, shape), sumTolerance(taps * shape.outC));
  for (const d of dispatches) d.destroy();
  for (const buf of [x, w, b, dy, y, dx]) buf.destroy();
}

async function checkFilterVariant(c: Case, v: Conv2dBlockedVariant) {
  const device = await testDevice();
  const { shape } = c;
  const { xs, dys } = inputsFor(c);
  const x = uploadStorage(device, xs, 'x');
  const dy = uploadStorage(device, dys, 'dy');
  const nw = shape.kernelH * shape.kernelW * shape.inC * shape.outC;
  const dw = poisoned(device, nw, 'dw');
  const db = poisoned(device, shape.outC, 'db');
  const d = await prepareConv2dBackwardFilter(device, { dw, db, x, dy }, shape, 'dw', { variant: v });
  await runDispatches(device, [d]);
  const pixels = dys.length / shape.outC;
  const ref = conv2dBackwardFilter(xs, dys, shape);
  const tag = `${c.name} on ${conv2dBlockedName('', v).trim()}`;
  allclose(`${tag}: dw`, await readF32(device, dw, nw), ref.dw, sumTolerance(pixels));
  allclose(`${tag}: db`, await readF32(device, db, shape.outC), ref.db, sumTolerance(pixels));
  d.destroy();
  for (const buf of [x, dy, dw, db]) buf.destroy();
}

async function expectRefusal(v: Conv2dBlockedVariant, why: string) {
  const device = await testDevice();
  const buf = createStorage(device, 1 << 16, 'any');
  const shape = cases[0].shape;
  await expect(prepareConv2dForward(device, { y: buf, x: buf, w: buf, b: buf }, shape, 'y', { variant: v })).rejects.toThrow(
    `does not fit this device: ${why}`,
  );
  buf.destroy();
}

for (const [menu, kernels, checkVariant] of [
  [CONV2D_PIXEL_MENU, 'conv2d_forward + conv2d_backward_input', checkPixelVariant],
  [CONV2D_FILTER_MENU, 'conv2d_backward_filter', checkFilterVariant],
] as const) {
  describe(`${kernels}, blocked variants vs reference`, () => {
    for (const v of menu) {
      it(`${conv2dBlockedName('', v).trim()} on every case`, async () => {
        const device = await testDevice();
        const why = conv2dBlockedFits(device, v);
        if (why !== null) return expectRefusal(v, why);
        for (const c of cases) await checkVariant(c, v);
      });
    }
  });
}

describe('conv2d blocked menus', () => {
  it('every entry meets the shaders\' constraints and the default limits (256 invocations, 16 KiB)', async () => {
    const defaults = { maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 256, maxComputeWorkgroupStorageSize: 16384 };
    const fake = { limits: defaults } as unknown as GPUDevice;
    for (const v of [...CONV2D_PIXEL_MENU, ...CONV2D_FILTER_MENU]) expect(conv2dBlockedFits(fake, v), conv2dBlockedName('', v)).toBeNull();
    const tiny = { limits: { ...defaults, maxComputeInvocationsPerWorkgroup: 64 } } as unknown as GPUDevice;
    expect(conv2dBlockedFits(tiny, CONV2D_PIXEL_MENU[1])).toMatch(/128 invocations > maxComputeInvocationsPerWorkgroup 64/);
  });

  it("'auto' runs the variant the timings favour, for each kernel, and caches it; 'off' runs today's choice", async () => {
    const device = await testDevice();
    const c = cases.find((k) => k.name.startsWith('odd channels'))!;
    const { shape } = c;
    const { xs, ws, bs, dys } = inputsFor(c);
    const fwd = conv2dBlockedName('conv2d_forward', CONV2D_PIXEL_MENU[2]);
    const bin = conv2dBlockedName('conv2d_backward_input', CONV2D_PIXEL_MENU[3]);
    const bfl = conv2dBlockedName('conv2d_backward_filter', CONV2D_FILTER_MENU[1]);
    const favoured = new Set([fwd, bin, bfl]);
    // The candidate being timed is the one the last progress event named.
    const order: string[] = [];
    const timer: DispatchTimer = {
      clock: 'injected',
      async time(_d, reps) {
        return Array(reps).fill(favoured.has(order[order.length - 1]) ? 1 : 2);
      },
    };
    const cache = memoryTuneCache();
    // No budgets: on a CPU adapter compiling alone would spend the defaults.
    const tuner = new Tuner(device, { cache, timer, budgetMs: Infinity, totalBudgetMs: Infinity, onProgress: (p) => order.push(p.variant) });
    const x = uploadStorage(device, xs, 'x');
    const w = uploadStorage(device, ws, 'w');
    const b = uploadStorage(device, bs, 'b');
    const dy = uploadStorage(device, dys, 'dy');
    const y = poisoned(device, dys.length, 'y');
    const dx = poisoned(device, xs.length, 'dx');
    const dw = poisoned(device, ws.length, 'dw');
    const db = poisoned(device, shape.outC, 'db');
    const opts = { tune: 'auto' as const, tuner };
    const tuned = [
      (await prepareConv2dForward(device, { y, x, w, b }, { ...shape, relu: true }, 'y', opts)) as TunedDispatch,
      (await prepareConv2dBackwardInput(device, { dx, dy, w }, shape, 'dx', opts)) as TunedDispatch,
      (await prepareConv2dBackwardFilter(device, { dw, db, x, dy }, shape, 'dw', opts)) as TunedDispatch,
    ];
    expect(tuned.map((d) => d.variant)).toEqual([fwd, bin, bfl]);
    // Both methods of the backward input were candidates, the default method first.
    expect(order).toContain('conv2d_backward_input');
    expect(order.some((n) => n.endsWith('+conv2d_col2im'))).toBe(true);
    expect(tuner.decisions.map((d) => d.problem)).toEqual([
      'conv2d_forward n=1 in=7x9x3 kernel=3x3x5 stride=1x1 valid',
      'conv2d_backward_input n=1 in=7x9x3 kernel=3x3x5 stride=1x1 valid',
      'conv2d_backward_filter n=1 in=7x9x3 kernel=3x3x5 stride=1x1 valid',
    ]);
    await runDispatches(device, tuned);
    const taps = shape.kernelH * shape.kernelW;
    allclose('tuned y', await readF32(device, y, dys.length), conv2dForward(xs, ws, bs, { ...shape, relu: true }), sumTolerance(taps * shape.inC + 1));
    allclose('tuned dx', await readF32(device, dx, xs.length), conv2dBackwardInput(dys, ws, shape), sumTolerance(taps * shape.outC));
    const ref = conv2dBackwardFilter(xs, dys, shape);
    allclose('tuned dw', await readF32(device, dw, ws.length), ref.dw, sumTolerance(dys.length / shape.outC));

    // Another tuner on the same cache: the cached choices, nothing timed.
    const never: DispatchTimer = {
      clock: 'injected',
      async time() {
        throw new Error('timed a cached problem');
      },
    };
    const again = new Tuner(device, { cache, timer: never });
    const cached = (await prepareConv2dForward(device, { y, x, w, b }, { ...shape, relu: true }, 'y', { tune: 'cached-only', tuner: again })) as TunedDispatch;
    expect(cached.variant).toBe(fwd);
    const off = await prepareConv2dForward(device, { y, x, w, b }, { ...shape, relu: true }, 'y', { tune: 'off', tuner: again });
    expect(off.kernel).toBe(subgroupLanes(device) !== null ? 'conv2d_forward_sg' : 'conv2d_forward');
    expect(again.decisions.map((d) => d.source)).toEqual(['cache']);
    await expect(
      prepareConv2dBackwardInput(device, { dx, dy, w }, shape, 'dx', { method: 'gemm', variant: CONV2D_PIXEL_MENU[0] }),
    ).rejects.toThrow(/dx: variant: pins an implicit-GEMM variant; it needs method 'implicit'/);
    for (const d of [...tuned, cached, off]) d.destroy();
    for (const buf of [x, w, b, dy, y, dx, dw, db]) buf.destroy();
  });
});
