// Trains the paper's CNN for a few hundred steps on a real MNIST subset on
// the test adapter (Node, Dawn) and checks that it learns: the running loss
// falls and test accuracy on held-out images passes a bar that an untrained
// or broken network (10%) cannot reach by chance.
import { describe, expect, it } from 'vitest';
import { mnistSubset } from '../../src/data/mnist';
import { loadMnistNode } from '../../src/data/mnist_node';
import { PAPER_CNN } from '../../src/model/model';
import { Trainer, type StepProgress } from '../../src/model/trainer';
import { testDevice } from '../util/device';

describe('training on real MNIST', () => {
  it('paper CNN: 250 steps of batch 32 reach >= 90% on 1000 test images', async () => {
    const device = await testDevice();
    const { train, test } = await loadMnistNode();
    const trainer = await Trainer.create(
      device,
      { model: PAPER_CNN, batchSize: 32, seed: 3, stepsPerSubmit: 10, evalBatchSize: 500 },
      { train: mnistSubset(train, 8000), test: mnistSubset(test, 1000) },
    );
    try {
      const before = await trainer.evaluate();
      const progress: StepProgress[] = [];
      const epoch = await trainer.trainEpoch({ onProgress: (p) => progress.push(p) });
      expect(epoch).not.toBeNull();
      expect(trainer.stepsPerEpoch).toBe(250);
      const first = progress[0];
      const last = progress[progress.length - 1];
      console.log(
        `[train] untrained test acc ${before.accuracy.toFixed(3)}; running loss ${first.loss.toFixed(3)} (step ${first.step}) -> ` +
          `${last.loss.toFixed(3)} (step ${last.step}); test loss ${epoch!.valLoss.toFixed(3)}, test acc ${epoch!.valAccuracy.toFixed(4)}; ` +
          `${epoch!.imagesPerSecond.toFixed(0)} img/s`,
      );
      expect(last.step).toBe(250);
      // The running mean over the epoch lags the current loss, so the drop is
      // smaller than the true one; an initial loss near ln(10) = 2.3 must fall
      // well below it.
      expect(first.loss).toBeGreaterThan(1.5);
      expect(last.loss).toBeLessThan(first.loss * 0.5);
      expect(epoch!.valLoss).toBeLessThan(before.loss * 0.3);
      expect(epoch!.valAccuracy).toBeGreaterThanOrEqual(0.9);
      const diag = before.confusion.reduce((a, row, i) => a + row[i], 0);
      expect(diag).toBe(Math.round(before.accuracy * before.count));
    } finally {
      trainer.destroy();
    }
  });
});
