// The Trainer's host-device API against the Trainer's own paths: a forward
// pass encoded into the host's encoder from/to the host's buffers gives
// predict()'s logits bit for bit; training steps encoded into the host's
// encoder give trainEpoch()'s weights bit for bit; weights by name round-trip
// and match the checkpoint. Runs in Node and in Chromium.
import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors';
import { readBuffer } from '../../src/gpu/buffers';
import { PRESETS } from '../../src/model/model';
import { decodeSafetensors, tensorToF32 } from '../../src/model/safetensors';
import { Trainer } from '../../src/model/trainer';
import { Rng } from '../../src/util/rng';
import { testDevice } from '../util/device';
import { randomSplit } from '../util/data';

const spec = PRESETS['small-cnn'];


const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

async function noValidationError<T>(device: GPUDevice, f: () => T): Promise<T> {
  device.pushErrorScope('validation');
  const out = f();
  const err = await device.popErrorScope();
  if (err) throw new Error(`GPU validation error: ${err.message}`);
  return out;
}

describe('Trainer host-device API', () => {
  it("predictInto writes predict()'s logits, bit for bit, at the host's offsets", async () => {
    const device = await testDevice();
    const trainer = await Trainer.create(device, { model: spec, batchSize: 8, seed: 3 }, { train: randomSplit(16, 1) });
    try {
      await trainer.trainEpoch();
      const n = 3;
      const images = new Float32Array(n * 784);
      const rng = new Rng(9);
      for (let i = 0; i < images.length; i++) images[i] = rng.next();
      const { logits } = await trainer.predict(images);
      // Offsets on both sides, and garbage around the images.
      const inOffset = 256;
      const outOffset = 64;
      const input = device.createBuffer({ label: 'host images', size: inOffset + images.byteLength + 64, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
      device.queue.writeBuffer(input, 0, new Float32Array(inOffset / 4).fill(7));
      device.queue.writeBuffer(input, inOffset, images);
      const output = device.createBuffer({ label: 'host logits', size: outOffset + n * 40 + 16, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
      await trainer.preparePredict(n);
      const encoder = device.createCommandEncoder({ label: 'host frame' });
      await noValidationError(device, () => {
        trainer.predictInto(encoder, { input, inputOffset: inOffset, output, outputOffset: outOffset, count: n });
        device.queue.submit([encoder.finish()]);
      });
      const host = new Float32Array(await readBuffer(device, output, output.size));
      expect(bits(host.subarray(outOffset / 4, outOffset / 4 + n * 10))).toEqual(bits(logits));
      expect(Array.from(host.subarray(0, outOffset / 4))).toEqual(new Array(outOffset / 4).fill(0));

      expect(() => trainer.predictInto(device.createCommandEncoder(), { input, output, count: 5 })).toThrow(/preparePredict\(5\)/);
      const small = device.createBuffer({ size: 64, usage: GPUBufferUsage.COPY_DST });
      expect(() => trainer.predictInto(device.createCommandEncoder(), { input, output: small, count: n })).toThrow(ShapeError);
      input.destroy();
      output.destroy();
      small.destroy();
    } finally {
      trainer.destroy();
    }
  });

  it("encodeTrainSteps into the host's encoder trains exactly as trainEpoch", async () => {
    const device = await testDevice();
    const train = randomSplit(40, 2); // 5 steps of 8
    const config = { model: spec, batchSize: 8, seed: 11 };
    const reference = await Trainer.create(device, config, { train });
    const hosted = await Trainer.create(device, config, { train });
    const metrics = device.createBuffer({ label: 'host metrics', size: 32, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    try {
      // Two epochs: the second one's sample order comes from the epoch start.
      for (let epoch = 0; epoch < 2; epoch++) {
        const result = await reference.trainEpoch();
        const encoded: { steps: number; epochDone: boolean }[] = [];
        for (let done = false; !done; ) {
          const encoder = device.createCommandEncoder({ label: 'host frame' });
          const r = await noValidationError(device, () => {
            const e = hosted.encodeTrainSteps(encoder, { steps: 2, metrics: { buffer: metrics, offset: 16 } });
            device.queue.submit([encoder.finish()]);
            return e;
          });
          encoded.push(r);
          done = r.epochDone;
        }
        expect(encoded).toEqual([{ steps: 2, epochDone: false }, { steps: 2, epochDone: false }, { steps: 1, epochDone: true }]);
        expect(hosted.epoch).toBe(epoch + 1);
        expect(hosted.globalStep).toBe(reference.globalStep);
        const [a, b] = [await reference.getWeights(), await hosted.getWeights()];
        for (const [name, w] of a) expect(bits(b.get(name)!), name).toEqual(bits(w));
        // The epoch's running sums: every sample seen once, the same mean
        // loss trainEpoch reports.
        const [lossSum, , seen] = new Float32Array(await readBuffer(device, metrics, 32)).subarray(4);
        expect(seen).toBe(40);
        expect(lossSum / seen).toBe(result?.loss);
      }
      expect(() => hosted.encodeTrainSteps(device.createCommandEncoder(), { steps: 0 })).toThrow(ShapeError);
    } finally {
      reference.destroy();
      hosted.destroy();
      metrics.destroy();
    }
  });

  it('gets and sets weights by name, as the checkpoint holds them', async () => {
    const device = await testDevice();
    const trainer = await Trainer.create(device, { model: spec, batchSize: 8, seed: 5 }, { train: randomSplit(8, 3) });
    try {
      const weights = await trainer.getWeights();
      const shapes = trainer.weightShapes();
      expect([...weights.keys()]).toEqual([...shapes.keys()]);
      for (const [name, shape] of shapes) expect(weights.get(name)!.length, name).toBe(shape.reduce((x, y) => x * y, 1));
      const { tensors } = decodeSafetensors(await trainer.saveCheckpoint(), 'memory');
      for (const [name, w] of weights) {
        expect(tensors[name].shape).toEqual(shapes.get(name));
        expect(bits(tensorToF32(tensors[name], name, 'memory'))).toEqual(bits(w));
      }

      const kernel = Float32Array.from(weights.get('dense/kernel')!, (w, i) => w * 0.5 + i * 1e-6);
      trainer.setWeights({ 'dense/kernel': kernel });
      const after = await trainer.getWeights();
      expect(bits(after.get('dense/kernel')!)).toEqual(bits(kernel));
      expect(bits(after.get('conv2d/kernel')!)).toEqual(bits(weights.get('conv2d/kernel')!));

      // Rejected as a whole: the valid tensor next to a bad one is not written.
      const bias = new Float32Array(weights.get('dense/bias')!.length).fill(1);
      expect(() => trainer.setWeights({ 'dense/bias': bias, nope: new Float32Array(1) })).toThrow(/no parameter named 'nope'/);
      expect(() => trainer.setWeights({ 'dense/bias': new Float32Array(3) })).toThrow(ShapeError);
      expect(() => trainer.setWeights(new Map([['dense/bias', bias.map(() => NaN)]]))).toThrow(/NaN/);
      expect(bits((await trainer.getWeights()).get('dense/bias')!)).toEqual(bits(weights.get('dense/bias')!));
    } finally {
      trainer.destroy();
    }
  });

  it('[Symbol.dispose] destroys the buffers the trainer owns', async () => {
    const device = await testDevice();
    const trainer = await Trainer.create(device, { model: spec, batchSize: 8, seed: 5 }, { train: randomSplit(8, 3) });
    const params = trainer.store.params;
    const copy = device.createBuffer({ size: 16, usage: GPUBufferUsage.COPY_DST });
    const copyParams = async () => {
      device.pushErrorScope('validation');
      const enc = device.createCommandEncoder();
      enc.copyBufferToBuffer(params, 0, copy, 0, 16);
      device.queue.submit([enc.finish()]);
      return device.popErrorScope();
    };
    expect(await copyParams()).toBeNull();
    trainer[Symbol.dispose]();
    expect(await copyParams()).not.toBeNull();
    copy.destroy();
  });
});
