// The trainer under bad input, limits, divergence and neglect (issue 12).
// Every check is on counts, messages and bits, never on speed.
import { describe, expect, it } from 'vitest';
import type { MnistSplit } from '../../src/data/mnist';
import {
  AdapterLimitError,
  CheckpointError,
  DestroyedError,
  DeviceLostError,
  GpuResultError,
  LossDivergedError,
  NonFiniteLossError,
  ShapeError,
} from '../../src/errors';
import { checkPlannedBuffers } from '../../src/gpu/buffers';
import { buildModel, PAPER_CNN, PRESETS } from '../../src/model/model';
import { planBuffers } from '../../src/model/plan';
import { decodeSafetensors, encodeSafetensors } from '../../src/model/safetensors';
import { Trainer, type TrainConfig } from '../../src/model/trainer';
import { testDevice } from '../util/device';
import { trackedDevice } from '../util/tracked_device';
import { randomSplit } from '../util/data';


const BATCH = 8;
const train = randomSplit(BATCH * 4, 3);
const test = randomSplit(12, 4);
const spec = PRESETS['small-cnn'];
const config = (extra: Partial<TrainConfig> = {}): TrainConfig => ({ model: spec, batchSize: BATCH, seed: 2, stepsPerSubmit: 1, ...extra });
const liveOf = (s: Set<GPUBuffer>) => [...s].filter((b) => b.label !== 'unused binding').map((b) => b.label);

describe('limits are checked before anything is created', () => {
  it('a batch whose buffers exceed the device is an AdapterLimitError naming buffer, size, limit and the batch that fits', async () => {
    const device = await testDevice();
    const limit = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
    const perSample = 25 * 25 * 32 * 4; // the paper CNN's first conv2d output
    const batch = Math.floor(limit / perSample) + 1;
    const big = { images: new Uint8Array(batch * 784), labels: new Uint8Array(batch), count: batch, rows: 28, cols: 28 };
    const tracked = trackedDevice(device);
    try {
      const err = await Trainer.create(tracked.device, { model: PAPER_CNN, batchSize: batch, seed: 1 }, { train: big }).catch((e) => e);
      expect(err).toBeInstanceOf(AdapterLimitError);
      expect(err.buffer).toBe('conv2d');
      expect(err.fitsBatch).toBe(batch - 1);
      expect(err.message).toContain(`training at batch size ${batch}: buffer 'conv2d': needs`);
      expect(err.message).toContain(`>= ${Math.ceil((batch * perSample) / 16) * 16}, but the device offers ${limit}; a batch size of at most ${batch - 1} would fit`);
      // Nothing was created on the host's device.
      expect(liveOf(tracked.live)).toEqual([]);
    } finally {
      tracked.release();
    }
    // The batch it names does fit.
    const model = buildModel(PAPER_CNN);
    expect(() => checkPlannedBuffers(device, 'x', planBuffers(model, { batch: batch - 1, mode: 'train' }))).not.toThrow();
  });

  it("a host's device below the engine's minimum limits is refused, saying 'device'", async () => {
    const tracked = trackedDevice(await testDevice(), { limits: { maxStorageBuffersPerShaderStage: 4 } });
    try {
      await expect(Trainer.create(tracked.device, config(), { train })).rejects.toThrow(
        /^Trainer.create: device.*: needs maxStorageBuffersPerShaderStage >= 8, but the device offers 4$/,
      );
      expect(liveOf(tracked.live)).toEqual([]);
    } finally {
      tracked.release();
    }
  });
});

describe('data is checked against the model', () => {
  const cases: [string, { train: MnistSplit; test?: MnistSplit }, RegExp][] = [
    ['20x20 test images', { train, test: randomSplit(4, 1, 20, 20) }, /test images: are 20x20 with 1 channel, but model small-cnn takes 28x28x1/],
    ['14x56 training images', { train: randomSplit(8, 1, 14, 56) }, /train images: are 14x56 with 1 channel, but model small-cnn takes 28x28x1/],
    ['labels beyond the classes', { train: randomSplit(8, 1, 28, 28, 12) }, /train labels: label \d+ is 1[01], but model small-cnn has 10 classes \(0..9\)/],
    ['no training samples', { train: randomSplit(0, 1) }, /train data: holds 0 samples/],
  ];
  for (const [name, data, message] of cases) {
    it(`refuses ${name}`, async () => {
      const err = await Trainer.create(await testDevice(), config(), data).catch((e) => e);
      expect(err).toBeInstanceOf(ShapeError);
      expect(err.message).toMatch(message);
    });
  }

  it('refuses a learning rate that is not finite in f32, and a bad batch size', async () => {
    const device = await testDevice();
    for (const [extra, message] of [
      [{ learningRate: 1e39 }, /learningRate: must be a non-negative number finite in f32/],
      [{ learningRate: NaN }, /learningRate: must be/],
      [{ batchSize: 0 }, /batchSize: must be a positive integer, got 0/],
    ] as const) {
      await expect(Trainer.create(device, config(extra), { train })).rejects.toThrow(message);
    }
  });
});

describe('failures are loud', () => {
  it('an epoch whose GPU work never ran is an error, not loss NaN', async () => {
    const tracked = trackedDevice(await testDevice(), { dropSubmits: true });
    try {
      const t = await Trainer.create(tracked.device, config(), { train });
      const err = await t.trainEpoch().catch((e) => e);
      expect(err).toBeInstanceOf(GpuResultError);
      expect(err.message).toMatch(/^trainEpoch: the GPU counted 0 of the 8 samples of steps 1..1 of epoch 1; its work did not run/);
      t.destroy();
    } finally {
      tracked.release();
    }
  });

  it('a loss that explodes but stays finite stops training, naming the steps', async () => {
    const device = await testDevice();
    const t = await Trainer.create(device, config({ learningRate: 1e6 }), { train });
    const err = await t.trainEpoch().catch((e) => e);
    t.destroy();
    expect(err).toBeInstanceOf(LossDivergedError);
    expect(err.message).toMatch(/^loss diverged: \S+ at step 2, \S+x its running mean 2\.\d+; training stopped/);
  });

  it('a NaN names the steps in which the loss went bad', () => {
    expect(new NonFiniteLossError(8, NaN, 5).message).toBe('loss became NaN in steps 5..8; training stopped');
    expect(new NonFiniteLossError(3, Infinity).message).toBe('loss became Infinity at step 3; training stopped');
  });

  it('saveCheckpoint refuses weights or moments that are not finite', async () => {
    const t = await Trainer.create(await testDevice(), config(), { train });
    try {
      const s = await t.snapshot();
      s.v[3] = Infinity;
      t.restore(s);
      await expect(t.saveCheckpoint({ optimizer: true })).rejects.toThrow(
        /^saveCheckpoint: tensor 'optimizer\/v\/conv2d\/kernel' holds Infinity at index 3 after step 0; no checkpoint was made$/,
      );
      s.v[3] = 0;
      s.params[1] = NaN;
      t.restore(s);
      await expect(t.saveCheckpoint()).rejects.toThrow(/tensor 'conv2d\/kernel' holds NaN at index 1/);
    } finally {
      t.destroy();
    }
  });
});

describe('checkpoints resume exactly', () => {
  it('1 epoch, save, load into a new trainer, 1 more epoch: bit-identical to 2 epochs straight', async () => {
    const device = await testDevice();
    const straight = await Trainer.create(device, config(), { train });
    await straight.trainEpoch();
    await straight.trainEpoch();
    const want = await straight.snapshot();
    straight.destroy();

    const first = await Trainer.create(device, config(), { train });
    await first.trainEpoch();
    const bytes = await first.saveCheckpoint({ optimizer: true });
    first.destroy();
    const second = await Trainer.create(device, config(), { train });
    await second.loadCheckpoint(bytes, 'one.safetensors');
    expect([second.epoch, second.globalStep]).toEqual([1, 4]);
    await second.trainEpoch();
    const got = await second.snapshot();
    second.destroy();
    expect([got.epoch, got.step]).toEqual([2, 8]);
    expect(new Uint32Array(got.params.buffer)).toEqual(new Uint32Array(want.params.buffer));
    expect(new Uint32Array(got.m.buffer)).toEqual(new Uint32Array(want.m.buffer));
    expect(new Uint32Array(got.v.buffer)).toEqual(new Uint32Array(want.v.buffer));
  });

  it('refuses bad step, epoch and format metadata, leaving the model unchanged', async () => {
    const t = await Trainer.create(await testDevice(), config(), { train });
    try {
      const good = decodeSafetensors(await t.saveCheckpoint({ optimizer: true }), 'good');
      const before = await t.snapshot();
      const cases: [Record<string, string>, RegExp][] = [
        [{ step: '-5' }, /bad.safetensors: metadata step is '-5', expected a non-negative integer/],
        [{ step: '1.5' }, /metadata step is '1.5'/],
        [{ step: 'abc' }, /metadata step is 'abc'/],
        [{ epoch: '1e3' }, /metadata epoch is '1e3'/],
        [{ format: 'other/2' }, /metadata format is 'other\/2', expected 'wgsl-nn\/1'/],
      ];
      for (const [change, message] of cases) {
        const bytes = encodeSafetensors(good.tensors, { ...good.metadata, ...change });
        const err = await t.loadCheckpoint(bytes, 'bad.safetensors').catch((e) => e);
        expect(err).toBeInstanceOf(CheckpointError);
        expect(err.message).toMatch(message);
      }
      const after = await t.snapshot();
      expect(after.params).toEqual(before.params);
      expect([t.epoch, t.globalStep]).toEqual([0, 0]);
      // A good file with epoch 3, step 12 restores both.
      await t.loadCheckpoint(encodeSafetensors(good.tensors, { ...good.metadata, epoch: '3', step: '12' }), 'ok');
      expect([t.epoch, t.globalStep]).toEqual([3, 12]);
    } finally {
      t.destroy();
    }
  });
});

describe('resources', () => {
  it('a failed create frees everything it made', async () => {
    const tracked = trackedDevice(await testDevice(), { failPipelinesAfter: 3 });
    try {
      await expect(Trainer.create(tracked.device, config(), { train, test })).rejects.toThrow(/refused/);
      expect(liveOf(tracked.live)).toEqual([]);
    } finally {
      tracked.release();
    }
  });

  it('destroy frees every buffer; every call after it is a DestroyedError', async () => {
    const tracked = trackedDevice(await testDevice());
    try {
      const t = await Trainer.create(tracked.device, config(), { train, test });
      await t.predict(new Float32Array(2 * 784), 2);
      await t.evaluate();
      expect(liveOf(tracked.live).length).toBeGreaterThan(10);
      t.destroy();
      t.destroy();
      expect(liveOf(tracked.live)).toEqual([]);
      await expect(t.predict(new Float32Array(784))).rejects.toThrow(DestroyedError);
      await expect(t.predict(new Float32Array(784))).rejects.toThrow(/^Trainer.predict: this trainer was destroyed/);
      await expect(t.trainEpoch()).rejects.toThrow(/^Trainer.trainEpoch: this trainer was destroyed/);
      await expect(t.evaluate()).rejects.toThrow(DestroyedError);
      await expect(t.snapshot()).rejects.toThrow(DestroyedError);
    } finally {
      tracked.release();
    }
  });

  it('keeps predict plans for a few sizes only, and still predicts right after evicting', async () => {
    const tracked = trackedDevice(await testDevice());
    try {
      const t = await Trainer.create(tracked.device, config(), { train });
      const images = new Float32Array(12 * 784).map((_, i) => (i % 7) / 7);
      const base = liveOf(tracked.live).length; // with the plan for n = 1
      const first = await t.predict(images.slice(0, 2 * 784), 2);
      const perPlan = liveOf(tracked.live).length - base;
      expect(perPlan).toBeGreaterThan(0);
      for (let n = 3; n <= 12; n++) await t.predict(images.slice(0, n * 784), n);
      // n = 1 and the 3 most recent sizes are kept; the other 8 were freed.
      expect(liveOf(tracked.live).length).toBe(base + 3 * perPlan);
      const again = await t.predict(images.slice(0, 2 * 784), 2);
      expect(again.logits).toEqual(first.logits);
      t.destroy();
      expect(liveOf(tracked.live)).toEqual([]);
    } finally {
      tracked.release();
    }
  });

  it("a lost device is reported with its own reason ('destroyed'), not 'lost'", async () => {
    const adapter = await navigator.gpu.requestAdapter();
    const device = await adapter!.requestDevice({ label: 'reliability lost device' });
    const t = await Trainer.create(device, config(), { train });
    device.destroy();
    await device.lost;
    const err = await t.predict(new Float32Array(784)).catch((e) => e);
    expect(err).toBeInstanceOf(DeviceLostError);
    expect(err.reason).toBe('destroyed');
    expect(err.message).toMatch(/^GPU device lost \(destroyed\)/);
    t.destroy();
  });
});
