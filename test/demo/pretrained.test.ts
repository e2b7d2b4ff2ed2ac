// The weights the demo ships (demo/public/pretrained/): the file loads into
// the model its metadata names, and gives the test accuracy its JSON claims.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadMnistNode } from '../../src/data/mnist_node';
import { decodeSafetensors } from '../../src/model/safetensors';
import { PAPER_CNN, type ModelSpec } from '../../src/model/model';
import { Trainer } from '../../src/model/trainer';
import { testDevice } from '../util/device';

const dir = new URL('../../demo/public/pretrained/', import.meta.url);

describe('shipped demo weights', () => {
  it('are the paper CNN and reach the recorded test accuracy on all 10,000 test images', async () => {
    const info = JSON.parse(readFileSync(new URL('paper-cnn.json', dir), 'utf8')) as { testAccuracy: number; testCount: number };
    const bytes = new Uint8Array(readFileSync(new URL('paper-cnn.safetensors', dir)));
    const spec = JSON.parse(decodeSafetensors(bytes, 'paper-cnn.safetensors').metadata.model) as ModelSpec;
    expect(spec).toEqual(PAPER_CNN);
    expect(info.testCount).toBe(10000);
    const { train, test } = await loadMnistNode();
    const trainer = await Trainer.create(await testDevice(), { model: spec, batchSize: 32, seed: 1 }, { train, test });
    try {
      await trainer.loadCheckpoint(bytes, 'paper-cnn.safetensors');
      const ev = await trainer.evaluate();
      console.log(`[pretrained] test accuracy ${ev.accuracy} (recorded ${info.testAccuracy})`);
      // The same kernels on another adapter sum in another order: a handful
      // of the 10,000 predictions may flip (0.1% is 10 images).
      expect(Math.abs(ev.accuracy - info.testAccuracy)).toBeLessThanOrEqual(0.001);
    } finally {
      trainer.destroy();
    }
  });
});
