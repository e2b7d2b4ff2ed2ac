// The activations on the GPU against the float64 reference: the elementwise
// activation_forward / activation_backward kernels for every activation, and
// the fused epilogues of the GEMM and conv2d forward kernels. The epilogues
// call the same activate() as the elementwise kernel, so they are checked at
// two activations (elu, gelu: a select and the longest formula) on every core
// to prove the wiring, without compiling 6 x 5 heavy pipelines.
import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors';
import { createStorage, readF32, uploadStorage } from '../../src/gpu/buffers';
import { subgroupLanes } from '../../src/gpu/device';
import { ACTIVATIONS, gradFromOutput, prepareActivationBackward, prepareActivationForward, type ActivationName } from '../../src/kernels/activation';
import { conv2dGeometry, prepareConv2dForward, type Conv2dShape } from '../../src/kernels/conv2d';
import { GEMM_BLOCKED_MENU, prepareGemmBlocked, prepareGemmNaive, prepareGemmSubgroup, prepareGemmTiled } from '../../src/kernels/gemm';
import { activationBackward, activationForward } from '../../src/reference/activation';
import { conv2dForward } from '../../src/reference/conv2d';
import { gemm } from '../../src/reference/gemm';
import { Rng } from '../../src/util/rng';
import { allclose } from '../util/allclose';
import { runDispatches, testDevice } from '../util/device';

// WGSL's exp is accurate to 3 + 2|x| ulp; tanh is computed from exp(-2|u|)
// as (1 - e) / (1 + e), which near u = 0 loses relative (not absolute)
// precision: a few 1e-7 absolute, a few ulp relative elsewhere, on |u| <= 4.
const ELEMENTWISE = { atol: 1e-6, rtol: 1e-5 };

const poisoned = (device: GPUDevice, n: number, label: string) =>
  uploadStorage(device, new Float32Array(n).fill(NaN), label);

describe('activation_forward / activation_backward', () => {
  for (const a of ACTIVATIONS) {
    for (const n of [1, 257, 1000]) {
      it(`${a}, n=${n}: forward, backward from the input${gradFromOutput(a) ? ' and from the output' : ''}`, async () => {
        const device = await testDevice();
        const rng = new Rng(n * 31 + a.length);
        const uHost = rng.floats(n, -4, 4);
        if (n > 1) uHost[0] = 0; // the kink, exactly
        const dyHost = rng.floats(n);
        const u = uploadStorage(device, uHost, 'u');
        const dy = uploadStorage(device, dyHost, 'dy');
        const y = poisoned(device, n, 'y');
        const dxIn = poisoned(device, n, 'dx from u');
        const dispatches = [
          await prepareActivationForward(device, { y, u }, { n, activation: a }),
          await prepareActivationBackward(device, { dx: dxIn, dy, saved: u }, { n, activation: a, fromOutput: false }),
        ];
        const dxOut = poisoned(device, n, 'dx from y');
        if (gradFromOutput(a)) {
          dispatches.push(await prepareActivationBackward(device, { dx: dxOut, dy, saved: y }, { n, activation: a }));
        }
        await runDispatches(device, dispatches);
        const yGpu = await readF32(device, y, n);
        allclose(`activation_forward ${a} n=${n}`, yGpu, activationForward(uHost, a), ELEMENTWISE);
        allclose(`activation_backward ${a} from u n=${n}`, await readF32(device, dxIn, n), activationBackward(dyHost, uHost, a, false), ELEMENTWISE);
        if (gradFromOutput(a)) {
          // The reference takes the GPU's own y: this checks the derivative, not y again.
          allclose(`activation_backward ${a} from y n=${n}`, await readF32(device, dxOut, n), activationBackward(dyHost, yGpu, a, true), ELEMENTWISE);
        }
      });
    }
  }

  it('refuses gelu from the output and small buffers, naming the kernel', async () => {
    const device = await testDevice();
    const big = createStorage(device, 4096, 'big');
    const small = createStorage(device, 64, 'small');
    await expect(
      prepareActivationBackward(device, { dx: big, dy: big, saved: big }, { n: 100, activation: 'gelu', fromOutput: true }),
    ).rejects.toThrow(/pre-activation/);
    await expect(prepareActivationForward(device, { y: big, u: small }, { n: 1000, activation: 'tanh' })).rejects.toThrow(ShapeError);
    await expect(
      prepareActivationForward(device, { y: big, u: big }, { n: 10, activation: 'swish' as ActivationName }, 'act'),
    ).rejects.toThrow(/act: activation: must be one of/);
  });
});

// f32 sums of L products of magnitude <= 1 err by < L sqrt(L) 2^-24 (see
// conv2d.test.ts); the activations are at most 1.13-Lipschitz (gelu), and add
// their own few-ulp error.
const fusedTolerance = (terms: number) => ({ atol: 1.2 * terms * Math.sqrt(terms) * 2 ** -24 + 1e-6, rtol: 1e-5 });

const FUSED: ActivationName[] = ['elu', 'gelu'];

describe('fused activation epilogues', () => {
  for (const activation of FUSED) {
    it(`gemm (tiled, subgroup, naive, blocked), 33 x 65 x 17 NN + bias, ${activation}`, async () => {
      const device = await testDevice();
      const [m, n, k] = [33, 65, 17];
      const rng = new Rng(activation.length);
      const [aHost, bHost, biasHost] = [rng.floats(m * k), rng.floats(k * n), rng.floats(n)];
      const a = uploadStorage(device, aHost, 'a');
      const b = uploadStorage(device, bHost, 'b');
      const bias = uploadStorage(device, biasHost, 'bias');
      const want = gemm(aHost, bHost, biasHost, { m, n, k, activation });
      const prepares = [prepareGemmTiled, prepareGemmNaive];
      if (subgroupLanes(device) !== null) prepares.push(prepareGemmSubgroup);
      // The tuning menu's GPU-shaped GEMM shares the epilogue: its first variant.
      prepares.push((dev, bufs, shape, label) => prepareGemmBlocked(dev, bufs, shape, label, GEMM_BLOCKED_MENU[0]));
      for (const prepare of prepares) {
        const c = poisoned(device, m * n, 'c');
        const d = await prepare(device, { c, a, b, bias }, { m, n, k, bias: true, activation });
        await runDispatches(device, [d]);
        allclose(`${d.kernel} + ${activation}`, await readF32(device, c, m * n), want, fusedTolerance(k + 1));
      }
    });

    it(`conv2d forward (tiled, subgroup), C=3 K=5 3x3 same on 7x9, batch 2, ${activation}`, async () => {
      const device = await testDevice();
      const shape: Conv2dShape = { batch: 2, inH: 7, inW: 9, inC: 3, outC: 5, kernelH: 3, kernelW: 3, padding: 'same' };
      const g = conv2dGeometry(shape);
      const rng = new Rng(activation.length + 7);
      const xHost = rng.floats(2 * 7 * 9 * 3);
      const wHost = rng.floats(3 * 3 * 3 * 5);
      const bHost = rng.floats(5);
      const x = uploadStorage(device, xHost, 'x');
      const w = uploadStorage(device, wHost, 'w');
      const b = uploadStorage(device, bHost, 'b');
      const ny = 2 * g.outH * g.outW * 5;
      const want = conv2dForward(xHost, wHost, bHost, { ...shape, activation });
      const cores = subgroupLanes(device) !== null ? (['tiled', 'subgroup'] as const) : (['tiled'] as const);
      for (const core of cores) {
        const y = poisoned(device, ny, 'y');
        const d = await prepareConv2dForward(device, { y, x, w, b }, { ...shape, activation }, 'conv2d_forward', { core });
        await runDispatches(device, [d]);
        allclose(`conv2d_forward ${core} + ${activation}`, await readF32(device, y, ny), want, fusedTolerance(28));
      }
    });
  }
});
