// Nothing the engine leaves on a device keeps a trainer alive, and waiting
// on the GPU leaves nothing behind per call. Uses V8's gc (exposed at run
// time, as --expose-gc would) and its heap census; Node only.
import { setFlagsFromString, queryObjects } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import type { MnistSplit } from '../../src/data/mnist';
import { PRESETS } from '../../src/model/model';
import { Trainer } from '../../src/model/trainer';
import { testDevice } from '../util/device';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

async function collect(): Promise<void> {
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
}

const train: MnistSplit = { images: new Uint8Array(16 * 784), labels: new Uint8Array(16), count: 16, rows: 28, cols: 28 };
const config = { model: PRESETS['small-cnn'], batchSize: 8, seed: 1, stepsPerSubmit: 1 };

describe('lifetime', () => {
  it('a trainer dropped without destroy() is collected: the device holds no reference to it', async () => {
    const device = await testDevice();
    // Used, then dropped: only a WeakRef comes out of the helper.
    const useAndDrop = async () => {
      const t = await Trainer.create(device, config, { train });
      await t.trainEpoch();
      await t.predict(new Float32Array(784));
      return new WeakRef(t);
    };
    const refs: WeakRef<Trainer>[] = [];
    for (let i = 0; i < 3; i++) refs.push(await useAndDrop());
    await collect();
    expect(refs.map((r) => r.deref() === undefined)).toEqual([true, true, true]);
  });

  it('waiting on the GPU leaves no pending promise behind per call', async () => {
    const device = await testDevice();
    const t = await Trainer.create(device, config, { train });
    const image = new Float32Array(784);
    const promises = async () => {
      await collect();
      return queryObjects(Promise, { format: 'count' }) as number;
    };
    await t.predict(image);
    const before = await promises();
    for (let i = 0; i < 200; i++) await t.predict(image);
    const after = await promises();
    t.destroy();
    // Each guarded wait used to leave a reaction on the device's lost
    // promise: 200 calls, 200 promises that never settle.
    expect(after - before).toBeLessThan(50);
  });
});
