// Tuning through the Trainer: 'auto' builds its plans with the variants the
// (injected, deterministic) timings favour, 'cached-only' then reuses them
// without timing, and the same seed with the same choice trains to the same
// weights bit for bit. Nothing depends on the adapter's speed.
import { describe, expect, it } from 'vitest';
import type { MnistSplit } from '../../src/data/mnist';
import { memoryTuneCache, Tuner, type DispatchTimer, type TunedDispatch } from '../../src/gpu/tune';
import { PRESETS } from '../../src/model/model';
import { Trainer } from '../../src/model/trainer';
import { Rng } from '../../src/util/rng';
import { testDevice } from '../util/device';

function randomSplit(count: number, seed: number): MnistSplit {
  const rng = new Rng(seed);
  const images = new Uint8Array(count * 784);
  for (let i = 0; i < images.length; i++) images[i] = rng.next() < 0.2 ? rng.int(256) : 0;
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) labels[i] = rng.int(10);
  return { images, labels, count, rows: 28, cols: 28 };
}

const BATCH = 8;
const train = randomSplit(BATCH * 3, 7);
const spec = PRESETS['small-cnn'];

// The GPU-shaped variants (gemm_blocked and the conv2d kernels' blocked
// menus) 1 ms each, every other 2 ms; the variant being timed is the one the
// last progress event named. A menu's first variant wins each problem (later
// equals do not beat it by the 5% margin).
const BLOCKED = /^gemm_blocked |^conv2d_[a-z_]+ [48]x[48] /;

function favourBlocked(): { timer: DispatchTimer; onProgress: (p: { variant: string }) => void; timed: () => number } {
  let current = '';
  let calls = 0;
  return {
    timer: {
      clock: 'injected',
      async time(_d, reps) {
        calls++;
        return Array(reps).fill(BLOCKED.test(current) ? 1 : 2);
      },
    },
    onProgress: (p) => (current = p.variant),
    timed: () => calls,
  };
}

async function trainOnce(tuner: Tuner, tune: 'auto' | 'cached-only' | 'off') {
  const device = await testDevice();
  const trainer = await Trainer.create(device, { model: spec, batchSize: BATCH, seed: 3, tune, tuner }, { train });
  try {
    const variants = trainer.trainPlan.dispatches
      .map((d) => (d as Partial<TunedDispatch>).variant)
      .filter((v): v is string => v !== undefined);
    await trainer.trainEpoch();
    const weights = await trainer.getWeights();
    return { variants, weights };
  } finally {
    trainer.destroy();
  }
}

describe('Trainer with tune', () => {
  it("'auto' runs the favoured variants, 'cached-only' reuses them without timing, same weights", async () => {
    const device = await testDevice();
    const cache = memoryTuneCache();
    const fav = favourBlocked();
    // A budget on the injected clock (preparing costs 0, a run what the
    // timer says: 4 x 2 ms per core, 4 x 1 ms per blocked variant):
    // 17 ms lets each problem try the default, the other core where there is
    // one, and at least the menu's first variant, then stops. That keeps the
    // compiles few (on SwiftShader each costs seconds) and the result fixed.
    const first = new Tuner(device, { cache, timer: fav.timer, onProgress: fav.onProgress, budgetMs: 17, now: () => 0 });
    const a = await trainOnce(first, 'auto');
    expect(fav.timed()).toBeGreaterThan(0);
    // The dense layer's GEMMs and every conv kernel (the backward input's
    // favoured variant is its dcol GEMM's first blocked one, with col2im).
    expect(a.variants.length).toBeGreaterThan(0);
    for (const v of a.variants) expect(v).toMatch(BLOCKED);
    expect(a.variants.some((v) => v.startsWith('conv2d_forward '))).toBe(true);
    expect(a.variants.some((v) => v.startsWith('conv2d_backward_filter '))).toBe(true);
    expect(first.decisions.some((d) => d.source === 'measured')).toBe(true);
    expect(cache.entries.size).toBeGreaterThan(0);

    const again = favourBlocked();
    const second = new Tuner(device, { cache, timer: again.timer, onProgress: again.onProgress });
    const b = await trainOnce(second, 'cached-only');
    expect(again.timed()).toBe(0);
    expect(b.variants).toEqual(a.variants);
    expect(second.decisions.every((d) => d.source === 'cache')).toBe(true);
    // Same seed, same tuning choice: bit-identical weights.
    expect(a.weights.size).toBeGreaterThan(0);
    for (const [name, w] of a.weights) {
      expect(Array.from(b.weights.get(name)!), name).toEqual(Array.from(w));
    }
  });

  it("'off' never consults the tuner", async () => {
    const device = await testDevice();
    const fav = favourBlocked();
    const tuner = new Tuner(device, { cache: memoryTuneCache(), timer: fav.timer, onProgress: fav.onProgress });
    const off = await trainOnce(tuner, 'off');
    expect(off.variants).toEqual([]);
    expect(fav.timed()).toBe(0);
    expect(tuner.decisions).toEqual([]);
  });
});
