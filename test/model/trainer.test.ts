// The trainer's pacing: submits sized by time, a pause that stops within the
// queue's depth, resuming to the same weights, and no re-entry. Every check
// is on step counts and weights, never on how fast the adapter is.
import { describe, expect, it } from 'vitest';
import { PRESETS } from '../../src/model/model';
import { Trainer, type StepProgress, type TrainConfig } from '../../src/model/trainer';
import { testDevice } from '../util/device';
import { randomSplit } from '../util/data';


// 12 steps of batch 8 on the small CNN: enough submits to see the pacing.
const BATCH = 8;
const STEPS = 12;
const train = randomSplit(BATCH * STEPS, 5);
const spec = PRESETS['small-cnn'];

async function withTrainer<T>(config: Partial<TrainConfig>, body: (t: Trainer) => Promise<T>): Promise<T> {
  const device = await testDevice();
  const trainer = await Trainer.create(device, { model: spec, batchSize: BATCH, seed: 2, ...config }, { train });
  try {
    return await body(trainer);
  } finally {
    trainer.destroy();
  }
}

describe('Trainer pacing', () => {
  it('sizes submits by measured time: one step until timed, then up to the cap', async () => {
    // A target no step can exceed: the submits queued before the first one
    // is timed (queueDepth, 2) hold one step each; after that every submit
    // holds maxStepsPerSubmit steps, the last what is left.
    const reports = await withTrainer({ targetSubmitMs: 1e9, maxStepsPerSubmit: 5 }, async (t) => {
      const seen: StepProgress[] = [];
      expect(await t.trainEpoch({ onProgress: (p) => seen.push(p) })).not.toBeNull();
      return seen;
    });
    expect(reports.map((p) => p.submitSteps)).toEqual([1, 1, 5, 5]);
    expect(reports.map((p) => p.step)).toEqual([1, 2, 7, 12]);
    for (const p of reports) expect(p.submitMs).toBeGreaterThan(0);
    // Each submit's own loss and accuracy, weighted by its steps, add up to
    // the epoch's running averages (all batches are full here).
    const last = reports[reports.length - 1];
    const weighted = (f: (p: StepProgress) => number) => reports.reduce((a, p) => a + f(p) * p.submitSteps, 0) / STEPS;
    expect(weighted((p) => p.submitLoss)).toBeCloseTo(last.loss, 4);
    expect(weighted((p) => p.submitAccuracy)).toBeCloseTo(last.accuracy, 6);
    expect(new Set(reports.map((p) => p.submitLoss)).size).toBeGreaterThan(1);
  });

  it('a target shorter than any step gives one step per submit', async () => {
    const reports = await withTrainer({ targetSubmitMs: 1e-3 }, async (t) => {
      const seen: StepProgress[] = [];
      await t.trainEpoch({ onProgress: (p) => seen.push(p) });
      return seen;
    });
    expect(reports.map((p) => p.submitSteps)).toEqual(new Array(STEPS).fill(1));
  });

  for (const pacing of ['gpu', 'sleep'] as const) {
    it(`pacing '${pacing}': a pause stops after the submits already queued, and resuming gives the same weights`, async () => {
      const straight = await withTrainer({ stepsPerSubmit: 1, pacing }, async (t) => {
        await t.trainEpoch();
        return (await t.snapshot()).params;
      });
      const paused = await withTrainer({ stepsPerSubmit: 1, pacing, queueDepth: 2 }, async (t) => {
        let requested = false;
        let requestedAt = -1;
        const steps: number[] = [];
        const first = await t.trainEpoch({
          onProgress: (p) => {
            steps.push(p.step);
            if (p.step === 3 && !requested) {
              requested = true;
              requestedAt = p.step;
            }
          },
          shouldPause: () => requested,
        });
        expect(first).toBeNull();
        // When step 3 was reported, step 4 was already queued (depth 2):
        // it finishes, and nothing is submitted after the request.
        expect(requestedAt).toBe(3);
        expect(steps).toEqual([1, 2, 3, 4]);
        expect(t.globalStep).toBe(4);
        const rest: number[] = [];
        const done = await t.trainEpoch({ onProgress: (p) => rest.push(p.step) });
        expect(done).not.toBeNull();
        expect(rest).toEqual([5, 6, 7, 8, 9, 10, 11, 12]);
        expect(t.globalStep).toBe(STEPS);
        expect(t.epoch).toBe(1);
        return (await t.snapshot()).params;
      });
      expect(paused).toEqual(straight);
    });
  }

  it('a pause asked for during the last step lets the epoch end and returns its result', async () => {
    await withTrainer({ stepsPerSubmit: 1 }, async (t) => {
      let requested = false;
      const res = await t.trainEpoch({
        onProgress: (p) => {
          if (p.step === STEPS - 1) requested = true;
        },
        shouldPause: () => requested,
      });
      expect(requested).toBe(true);
      expect(res?.epoch).toBe(1);
      expect(t.globalStep).toBe(STEPS);
    });
  });

  it('refuses a second trainEpoch while one runs, and bad pacing options', async () => {
    await withTrainer({ stepsPerSubmit: 1 }, async (t) => {
      const first = t.trainEpoch();
      await expect(t.trainEpoch()).rejects.toThrow(/already training/);
      expect(await first).not.toBeNull();
      expect(t.globalStep).toBe(STEPS);
    });
    const device = await testDevice();
    for (const bad of [{ queueDepth: 0 }, { stepsPerSubmit: 1.5 }, { maxStepsPerSubmit: -1 }, { targetSubmitMs: NaN }]) {
      await expect(Trainer.create(device, { model: spec, batchSize: BATCH, seed: 1, ...bad }, { train })).rejects.toThrow(
        new RegExp(`Trainer.create: ${Object.keys(bad)[0]}: must be`),
      );
    }
  });
});
