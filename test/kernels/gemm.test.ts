import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors';
import { createStorage, readF32, uploadStorage } from '../../src/gpu/buffers';
import type { PreparedDispatch } from '../../src/gpu/kernel';
import {
  chooseGemmTiles,
  defaultGemmCore,
  gemmBlockedFits,
  gemmBlockedName,
  gemmCandidates,
  GEMM_BLOCKED_MENU,
  GEMM_SG_WIDE_MENU,
  gemmSgWideFits,
  gemmSgWideName,
  prepareGemmSgWide,
  prepareGemm,
  prepareGemmBlocked,
  prepareGemmNaive,
  prepareGemmSubgroup,
  prepareGemmTiled,
  subgroupTiles,
  type GemmShape,
} from '../../src/kernels/gemm';
import { subgroupLanes } from '../../src/gpu/device';
import { gpuTimer, memoryTuneCache, Tuner, type DispatchTimer, type TunedDispatch } from '../../src/gpu/tune';
import { gemm } from '../../src/reference/gemm';
import { Rng } from '../../src/util/rng';
import { allclose } from '../util/allclose';
import { runDispatches, testDevice } from '../util/device';

// Two kinds of inputs, two tolerances:
// - Quantized: every input a multiple of 1/16 in [-1, 1]. Each product is a
//   multiple of 2^-8 and every partial sum (|sum| <= k + 1 <= 1601 < 2^11)
//   needs at most 19 significant bits, so f32 represents it exactly in any
//   summation order: the GPU must match the float64 reference exactly. This
//   is what catches indexing and edge bugs (a dropped or doubled term).
// - Uniform f32 in [-1, 1]: recursive f32 summation of k products plus the
//   bias add errs by at most (k + 2) * 2^-24 * sum_p |a_p b_p| (+ |bias|)
//   (Higham, gamma_n bound; ReLU is 1-Lipschitz), so atol is that bound at
//   the largest such sum of the output.
const EXACT = { atol: 0, rtol: 0 };
const U = 2 ** -24;

type Variant = 'NN' | 'NT' | 'TN';
const TRANS: Record<Variant, { transA: boolean; transB: boolean }> = {
  NN: { transA: false, transB: false },
  NT: { transA: false, transB: true },
  TN: { transA: true, transB: false },
};
const EPILOGUES = [
  { bias: false, relu: false },
  { bias: true, relu: false },
  { bias: false, relu: true },
  { bias: true, relu: true },
];

function quantized(rng: Rng, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (rng.int(33) - 16) / 16;
  return out;
}

function abs(x: Float32Array): Float32Array {
  return x.map(Math.abs);
}

interface Case {
  what: string;
  m: number;
  n: number;
  k: number;
  variant: Variant;
}

/** Runs every epilogue of one case through `prepare` and checks each output. */
async function check(
  c: Case,
  prepare: typeof prepareGemmTiled,
  inputs: 'quantized' | 'uniform',
): Promise<void> {
  const device = await testDevice();
  const { m, n, k, variant } = c;
  const rng = new Rng(m * 7919 + n * 104729 + k * 31 + variant.charCodeAt(1));
  const make = (len: number) => (inputs === 'quantized' ? quantized(rng, len) : rng.floats(len));
  const aHost = make(m * k);
  const bHost = make(k * n);
  const biasHost = make(n);
  const a = uploadStorage(device, aHost, 'a');
  const b = uploadStorage(device, bHost, 'b');
  const bias = uploadStorage(device, biasHost, 'bias');
  // C starts as NaN: an output the kernel forgets to write fails the check.
  const outs = EPILOGUES.map(() => uploadStorage(device, new Float32Array(m * n).fill(NaN), 'c'));
  const dispatches: PreparedDispatch[] = [];
  for (let e = 0; e < EPILOGUES.length; e++) {
    const shape: GemmShape = { m, n, k, ...TRANS[variant], ...EPILOGUES[e] };
    const buffers = EPILOGUES[e].bias ? { c: outs[e], a, b, bias } : { c: outs[e], a, b };
    dispatches.push(await prepare(device, buffers, shape));
  }
  await runDispatches(device, dispatches);
  // The largest sum of |a_p b_p| (+ |bias|) over outputs, for the f32 bound.
  const scale = gemm(abs(aHost), abs(bHost), abs(biasHost), { m, n, k, ...TRANS[variant] });
  const maxScale = scale.reduce((x, y) => Math.max(x, y), 0);
  const tol = inputs === 'quantized' ? EXACT : { atol: (k + 2) * U * maxScale, rtol: 0 };
  for (let e = 0; e < EPILOGUES.length; e++) {
    const { bias: withBias, relu } = EPILOGUES[e];
    const want = gemm(aHost, bHost, withBias ? biasHost : null, { m, n, k, ...TRANS[variant], relu });
    const got = await readF32(device, outs[e], m * n);
    const tag = `${dispatches[e].kernel} ${variant} ${c.what} m=${m} n=${n} k=${k}` +
      `${withBias ? ' +bias' : ''}${relu ? ' +relu' : ''} (${inputs})`;
    allclose(tag, got, want, tol);
  }
  for (const d of dispatches) d.destroy();
  for (const buf of [a, b, bias, ...outs]) buf.destroy();
}

// The reference CNN's dense layer: x (batch, 1600) · W (1600, 10) + bias, and
// its backward products dx = dy·Wᵀ and dW = xᵀ·dy.
const dense: Case[] = [1, 7, 128].flatMap((batch) => [
  { what: 'dense forward', m: batch, n: 10, k: 1600, variant: 'NN' as const },
  { what: 'dense dx', m: batch, n: 1600, k: 10, variant: 'NT' as const },
  { what: 'dense dW', m: 1600, n: 10, k: batch, variant: 'TN' as const },
]);

const variants: Variant[] = ['NN', 'NT', 'TN'];
const generic: Case[] = [
  { what: 'square', m: 64, n: 64, k: 64 },
  { what: 'square', m: 128, n: 128, k: 128 },
  { what: 'scalar', m: 1, n: 1, k: 1 },
  { what: 'odd', m: 3, n: 5, k: 7 },
  { what: 'odd', m: 33, n: 65, k: 17 },
  // m past the 64-row tile; n and k multiples of 4 (vec4 paths with edges).
  { what: 'm edge', m: 70, n: 36, k: 44 },
  // k not a multiple of 4 (scalar A / B loads) and not of TILE_K.
  { what: 'k edge', m: 64, n: 64, k: 30 },
  // k longer than one k-tile, with a partial last tile.
  { what: 'k tiles', m: 20, n: 12, k: 100 },
  // 16 x 16 per invocation (m, n >= 128) with partial tiles on every edge.
  { what: 'wide edges', m: 130, n: 200, k: 33 },
].flatMap((s) => variants.map((variant) => ({ ...s, variant })));

// The subgroup kernel runs where subgroups are exactly 4 or 8 lanes (both CPU
// adapters the tests run on); anywhere else it must refuse with a clear error.
describe('gemm_sg', () => {
  for (const c of [...dense, ...generic]) {
    it(`${c.variant} ${c.what} m=${c.m} n=${c.n} k=${c.k}: exact on quantized, f32 bound on uniform inputs`, async () => {
      const device = await testDevice();
      if (subgroupLanes(device) === null) {
        const buf = createStorage(device, 4 * c.m * c.n * c.k + 64, 'any');
        await expect(prepareGemmSubgroup(device, { c: buf, a: buf, b: buf }, { m: c.m, n: c.n, k: c.k })).rejects.toThrow(/subgroups/);
        buf.destroy();
        return;
      }
      await check(c, prepareGemmSubgroup, 'quantized');
      await check(c, prepareGemmSubgroup, 'uniform');
    });
  }
});

describe('subgroupTiles', () => {
  it('takes two column quads per lane unless one pads fewer columns', () => {
    expect(subgroupTiles(8, 64)).toEqual({ SG: 8, CQ: 2 });
    expect(subgroupTiles(8, 288)).toEqual({ SG: 8, CQ: 1 });
    expect(subgroupTiles(8, 10)).toEqual({ SG: 8, CQ: 1 });
    expect(subgroupTiles(8, 1600)).toEqual({ SG: 8, CQ: 2 });
    expect(subgroupTiles(4, 32)).toEqual({ SG: 4, CQ: 2 });
    expect(subgroupTiles(4, 70)).toEqual({ SG: 4, CQ: 1 });
  });
});

describe('prepareGemm', () => {
  it('runs the subgroup core where subgroupLanes allows it, else the tiled one; either on request', async () => {
    const device = await testDevice();
    const buf = createStorage(device, 4096, 'any');
    const shape = { m: 8, n: 8, k: 8 };
    const expected = subgroupLanes(device) !== null ? 'gemm_sg' : 'gemm_tiled';
    expect(defaultGemmCore(device)).toBe(expected === 'gemm_sg' ? 'subgroup' : 'tiled');
    expect((await prepareGemm(device, { c: buf, a: buf, b: buf }, shape)).kernel).toBe(expected);
    expect((await prepareGemm(device, { c: buf, a: buf, b: buf }, shape, 'x', { core: 'tiled' })).kernel).toBe('gemm_tiled');
    await expect(
      prepareGemm(device, { c: buf, a: buf, b: buf }, shape, 'x', { core: 'fast' as 'tiled' }),
    ).rejects.toThrow(/x: core: must be 'tiled' or 'subgroup'/);
    buf.destroy();
  });
});

describe('gemm_tiled', () => {
  for (const c of [...dense, ...generic]) {
    it(`${c.variant} ${c.what} m=${c.m} n=${c.n} k=${c.k}: exact on quantized inputs`, async () => {
      await check(c, prepareGemmTiled, 'quantized');
    });
  }
  for (const c of [...dense, ...generic]) {
    it(`${c.variant} ${c.what} m=${c.m} n=${c.n} k=${c.k}: within the f32 bound on uniform inputs`, async () => {
      await check(c, prepareGemmTiled, 'uniform');
    });
  }

  it('rejects bad shapes and small buffers before dispatching', async () => {
    const device = await testDevice();
    const big = createStorage(device, 4096, 'big');
    const small = createStorage(device, 64, 'small');
    const shape = { m: 16, n: 16, k: 16 };
    await expect(prepareGemmTiled(device, { c: big, a: small, b: big }, shape)).rejects.toThrow(ShapeError);
    await expect(prepareGemmTiled(device, { c: big, a: small, b: big }, shape)).rejects.toThrow(/gemm_tiled: a/);
    await expect(prepareGemmTiled(device, { c: small, a: big, b: big }, shape)).rejects.toThrow(/gemm_tiled: c/);
    await expect(prepareGemmTiled(device, { c: big, a: big, b: big }, { ...shape, bias: true })).rejects.toThrow(
      /gemm_tiled: bias/,
    );
    await expect(prepareGemmTiled(device, { c: big, a: big, b: big }, { ...shape, k: 0 })).rejects.toThrow(/gemm_tiled: k/);
    await expect(prepareGemmNaive(device, { c: big, a: big, b: small }, shape)).rejects.toThrow(/gemm_naive: b/);
  });
});

// Every variant of the tuning menu the tuner may pick, on both adapters.
// Compiling a pipeline is what costs here (seconds each on a loaded
// lavapipe), and the variants share all their load and store code, differing
// only in block and tile sizes; so each runs four cases that between them
// take every load path: batch 1 with scalar B and C (dense forward), all
// vec4 with a partial row tile (m edge), all scalar NT with odd sizes, and
// TN with scalar A, vec4 B and C and partial tiles on every side. Exact on
// quantized inputs (catches indexing and edge bugs), and within the f32
// bound on uniform inputs.
const blockedCases: Case[] = [
  { what: 'dense forward, batch 1', m: 1, n: 10, k: 1600, variant: 'NN' },
  { what: 'm edge', m: 70, n: 36, k: 44, variant: 'NN' },
  { what: 'odd', m: 33, n: 65, k: 17, variant: 'NT' },
  { what: 'wide edges', m: 130, n: 200, k: 33, variant: 'TN' },
];
for (const v of GEMM_BLOCKED_MENU) {
  const name = gemmBlockedName(v);
  const prepare: typeof prepareGemmTiled = (device, buffers, shape, label) =>
    prepareGemmBlocked(device, buffers, shape, label, v);
  describe(name, () => {
    for (const c of blockedCases) {
      it(`${c.variant} ${c.what} m=${c.m} n=${c.n} k=${c.k}: exact on quantized, f32 bound on uniform inputs`, async () => {
        const device = await testDevice();
        const why = gemmBlockedFits(device, v);
        if (why !== null) {
          // Outside this device's limits: it must refuse, saying why.
          const buf = createStorage(device, 4 * c.m * c.n * c.k + 64, 'any');
          await expect(prepareGemmBlocked(device, { c: buf, a: buf, b: buf }, c, undefined, v)).rejects.toThrow(/does not fit/);
          buf.destroy();
          return;
        }
        await check(c, prepare, 'quantized');
        await check(c, prepare, 'uniform');
      });
    }
  });
}

// The wide-subgroup kernel at this device's own subgroup size (4 lanes on
// SwiftShader, 8 on lavapipe): every menu entry is defined relative to the
// size, so each one builds and runs here, on the same four cases as
// gemm_blocked. Without a fixed subgroup size it must refuse, saying why.
for (const v of GEMM_SG_WIDE_MENU) {
  const name = gemmSgWideName(v);
  const prepare: typeof prepareGemmTiled = (device, buffers, shape, label) =>
    prepareGemmSgWide(device, buffers, shape, label, v);
  describe(name, () => {
    for (const c of blockedCases) {
      it(`${c.variant} ${c.what} m=${c.m} n=${c.n} k=${c.k}: exact on quantized, f32 bound on uniform inputs`, async () => {
        const device = await testDevice();
        const why = gemmSgWideFits(device, v);
        if (why !== null) {
          const buf = createStorage(device, 4 * c.m * c.n * c.k + 64, 'any');
          await expect(prepareGemmSgWide(device, { c: buf, a: buf, b: buf }, c, undefined, v)).rejects.toThrow(/does not fit/);
          buf.destroy();
          return;
        }
        await check(c, prepare, 'quantized');
        await check(c, prepare, 'uniform');
      });
    }
  });
}

describe('gemmSgWideFits', () => {
  it('needs a fixed subgroup size that the lane rows divide', () => {
    const limits = { maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 256, maxComputeWorkgroupsPerDimension: 65535 };
    const gpu = (min: number, max: number, features: string[] = ['subgroups']) =>
      ({ limits, features: new Set(features), adapterInfo: { subgroupMinSize: min, subgroupMaxSize: max } }) as unknown as GPUDevice;
    const v = GEMM_SG_WIDE_MENU.find((x) => x.laneRows === 4)!;
    expect(gemmSgWideFits(gpu(32, 32), v)).toBeNull();
    expect(gemmSgWideFits(gpu(32, 64), v)).toMatch(/fixed subgroup size/);
    expect(gemmSgWideFits(gpu(32, 32, []), v)).toMatch(/'subgroups' feature/);
    // Every entry builds at 4 lanes (the smallest size WebGPU allows) and up.
    for (const lanes of [4, 8, 16, 32, 64]) {
      for (const x of GEMM_SG_WIDE_MENU) expect(gemmSgWideFits(gpu(lanes, lanes), x), `${gemmSgWideName(x)} at ${lanes}`).toBeNull();
    }
  });
});

describe('gemmBlockedFits', () => {
  it('names the limit a variant exceeds', async () => {
    const device = await testDevice();
    const limits = { ...device.limits, maxComputeInvocationsPerWorkgroup: 128, maxComputeWorkgroupStorageSize: 8192 };
    const fake = { limits } as unknown as GPUDevice;
    const big = { blockM: 8, blockN: 8, workgroupX: 16, workgroupY: 16, tileK: 16 } as const;
    expect(gemmBlockedFits(fake, big)).toMatch(/256 invocations > maxComputeInvocationsPerWorkgroup 128/);
    expect(gemmBlockedFits(fake, { ...big, workgroupY: 8 })).toMatch(/12288 bytes of workgroup memory > 8192/);
    expect(gemmBlockedFits(fake, { ...big, workgroupY: 8, tileK: 8 })).toBeNull();
  });

  it('leaves the variants that do not fit out of the candidates, default first', async () => {
    const device = await testDevice();
    const buf = createStorage(device, 4096, 'any');
    const small = { ...device.limits, maxComputeInvocationsPerWorkgroup: 64, maxComputeWorkgroupSizeX: 64, maxComputeWorkgroupSizeY: 64 };
    const fake = { limits: small, features: device.features, adapterInfo: device.adapterInfo } as unknown as GPUDevice;
    const names = gemmCandidates(fake, { c: buf, a: buf, b: buf }, { m: 8, n: 8, k: 8 }).map((c) => c.variant);
    expect(names[0]).toBe(subgroupLanes(device) !== null ? 'gemm_sg' : 'gemm_tiled');
    const blocked = names.filter((n) => n.startsWith('gemm_blocked'));
    expect(blocked).toEqual(GEMM_BLOCKED_MENU.filter((v) => v.workgroupX * v.workgroupY <= 64).map(gemmBlockedName));
    expect(blocked.length).toBeGreaterThan(0);
    buf.destroy();
  });
});

describe('prepareGemm with tuning', () => {
  // The 'm edge' shape: every candidate's pipeline for it is built by the
  // tests above, so this adds no compiles when the file runs whole.
  const shape = { m: 70, n: 36, k: 44 };

  it("'auto' runs the variant the timings favour and gets the same result; 'cached-only' then never times", async () => {
    const device = await testDevice();
    const favoured = gemmBlockedName(GEMM_BLOCKED_MENU[GEMM_BLOCKED_MENU.length - 1]);
    const timed: string[] = [];
    // A timer that must not be called (cached-only, cache hits, 'off').
    const timer: DispatchTimer = {
      clock: 'injected',
      async time(d, reps) {
        timed.push(d.kernel);
        return Array(reps).fill(1);
      },
    };
    // Deterministic timings: the favoured variant 1 ms, every other 2 ms.
    // The candidate being timed is the one the last progress event named.
    const order: string[] = [];
    const byOrder: DispatchTimer = {
      clock: 'injected',
      async time(_d, reps) {
        return Array(reps).fill(order[order.length - 1] === favoured ? 1 : 2);
      },
    };
    const cache = memoryTuneCache();
    // No budget: on a CPU adapter compiling alone would spend the default one.
    const tuner = new Tuner(device, {
      cache,
      timer: byOrder,
      budgetMs: Infinity,
      totalBudgetMs: Infinity,
      onProgress: (p) => order.push(p.variant),
    });
    const rng = new Rng(5);
    const aHost = quantized(rng, shape.m * shape.k);
    const bHost = quantized(rng, shape.k * shape.n);
    const a = uploadStorage(device, aHost, 'a');
    const b = uploadStorage(device, bHost, 'b');
    const c = uploadStorage(device, new Float32Array(shape.m * shape.n).fill(NaN), 'c');
    const d = (await prepareGemm(device, { c, a, b }, shape, 'tuned', { tune: 'auto', tuner })) as TunedDispatch;
    expect(d.variant).toBe(favoured);
    expect(d.kernel).toBe('gemm_blocked');
    expect(order[0]).toBe(subgroupLanes(device) !== null ? 'gemm_sg' : 'gemm_tiled');
    expect(tuner.decisions[0]).toMatchObject({ source: 'measured', variant: favoured });
    await runDispatches(device, [d]);
    allclose('tuned gemm', await readF32(device, c, shape.m * shape.n), gemm(aHost, bHost, null, shape), EXACT);

    // A second tuner on the same cache: the cached choice, nothing timed.
    const again = new Tuner(device, { cache, timer });
    const cached = (await prepareGemm(device, { c, a, b }, shape, 'tuned', { tune: 'cached-only', tuner: again })) as TunedDispatch;
    expect(cached.variant).toBe(favoured);
    expect((await prepareGemm(device, { c, a, b }, shape, 'tuned', { tune: 'auto', tuner: again })).kernel).toBe('gemm_blocked');
    // 'off' and an explicit core: today's choice, no tuner involved.
    const off = await prepareGemm(device, { c, a, b }, shape, 'tuned', { tune: 'off', tuner: again });
    expect(off.kernel).toBe(subgroupLanes(device) !== null ? 'gemm_sg' : 'gemm_tiled');
    expect((await prepareGemm(device, { c, a, b }, shape, 'x', { tune: 'auto', core: 'tiled', tuner: again })).kernel).toBe('gemm_tiled');
    expect(timed).toEqual([]);
    expect(again.decisions.map((x) => x.source)).toEqual(['cache', 'cache']);
    await expect(prepareGemm(device, { c, a, b }, shape, 'x', { tune: 'fast' as 'auto' })).rejects.toThrow(/x: tune: must be/);
    for (const x of [d, cached, off]) x.destroy();
    for (const x of [a, b, c]) x.destroy();
  });

  it('gpuTimer times a dispatch on this adapter (timestamp queries where enabled)', async () => {
    const device = await testDevice();
    const out = createStorage(device, 4 * 64 * 64, 'c');
    const buf = createStorage(device, 4 * 64 * 64, 'a and b');
    const d = await prepareGemmTiled(device, { c: out, a: buf, b: buf }, { m: 64, n: 64, k: 64 });
    const timer = gpuTimer(device);
    expect(timer.clock).toBe(device.features.has('timestamp-query') ? 'timestamp' : 'wall');
    const runs = await timer.time(d, 3);
    expect(runs).toHaveLength(3);
    for (const ms of runs) expect(Number.isFinite(ms) && ms >= 0).toBe(true);
    d.destroy();
    buf.destroy();
    out.destroy();
  });
});

describe('gemm_naive', () => {
  for (const c of generic.filter((g) => g.m <= 64)) {
    it(`${c.variant} ${c.what} m=${c.m} n=${c.n} k=${c.k}: exact on quantized inputs`, async () => {
      await check(c, prepareGemmNaive, 'quantized');
    });
  }
});

describe('chooseGemmTiles', () => {
  it('splits a wide side into equal tiles that are multiples of the block', () => {
    // conv2's dcol = dy · wᵀ: 288 columns as 3 x 96, not 3 x 128.
    expect(chooseGemmTiles({ m: 12800, n: 288, k: 64 })).toMatchObject({ wide: true, tileM: 128, tileN: 96 });
    expect(chooseGemmTiles({ m: 1024, n: 1024, k: 1024 })).toMatchObject({ tileM: 128, tileN: 128 });
    for (const shape of [
      { m: 130, n: 200, k: 33 },
      { m: 70, n: 36, k: 44 },
      { m: 33, n: 65, k: 17 },
      { m: 32, n: 1600, k: 10 },
      { m: 12800, n: 288, k: 64 },
    ]) {
      const t = chooseGemmTiles(shape);
      const per = t.wide ? 16 : 8;
      expect(t.tileM % per, `tileM of ${JSON.stringify(shape)}`).toBe(0);
      expect(t.tileN % per, `tileN of ${JSON.stringify(shape)}`).toBe(0);
    }
  });
});
