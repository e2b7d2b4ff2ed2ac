// Tuned against untuned, end to end: the paper CNN's training step and
// forward pass built twice on the same parameters, once with today's
// shape-based kernels (tune: 'off') and once tuned on this adapter (tune:
// 'auto', a fresh in-memory cache, so the tuning time is the first-visit
// cost), then sampled round by round, the ratio being the median of the
// rounds' untuned / tuned times (> 1: tuning helped). The tuned plan is
// checked against the float64 reference step before it is timed, as every
// kernel is.

import { memoryTuneCache, Tuner } from '../src/gpu/tune';
import { ADAM_DEFAULTS } from '../src/kernels/adam';
import { StepPlan } from '../src/model/plan';
import { Rng } from '../src/util/rng';
import { quantile, summarize, wallSampler, type BenchContext, type Validation } from './harness';
import { MAX_STEPS_PER_SUBMIT, profile, setup, validatePredict, validateTrainStep, type StepProfile } from './train.bench';

export interface TuningResult {
  mode: 'train' | 'predict';
  batch: number;
  /** Milliseconds the tuner spent (compiling and timing candidates) while the tuned plan was built. */
  tuningMs: number;
  /** Problems tuned, and how many of them chose another kernel than 'off' runs. */
  problems: number;
  changed: number;
  /** Problems left at their default because the tuner's total budget was spent. */
  deferred: number;
  decisions: { problem: string; variant: string; timings: Record<string, number> }[];
  untunedMs?: number;
  tunedMs?: number;
  /** Median over rounds of untuned / tuned step time (> 1: tuned is faster). */
  speedup?: number;
  validation?: Validation;
  error?: string;
}

export async function benchTuning(ctx: BenchContext): Promise<{ results: TuningResult[]; profiles: StepProfile[] }> {
  const { device } = ctx;
  const results: TuningResult[] = [];
  const profiles: StepProfile[] = [];
  const target = ctx.quick ? 400 : 1500;
  // Batch 128 first: its tuning time is the cold one (pipelines are cached
  // per device, so later cases reuse some of its compiles).
  const cases: { mode: 'train' | 'predict'; batch: number }[] = [
    { mode: 'train', batch: 128 },
    { mode: 'train', batch: 32 },
    { mode: 'predict', batch: 128 },
  ];
  for (const { mode, batch } of cases) {
    ctx.log(`tuning: ${mode}, batch ${batch}`);
    const s = setup(ctx, batch);
    const train = mode === 'train';
    const options = train
      ? { batch, mode, data: s.data, adam: ADAM_DEFAULTS, seed: 1 }
      : { batch, mode };
    const tuner = new Tuner(device, { cache: memoryTuneCache() });
    const result: TuningResult = { mode, batch, tuningMs: 0, problems: 0, changed: 0, deferred: 0, decisions: [] };
    let untuned: StepPlan | undefined;
    let tuned: StepPlan | undefined;
    try {
      untuned = await StepPlan.create(device, s.model, s.store, options);
      tuned = await StepPlan.create(device, s.model, s.store, { ...options, tune: 'auto', tuner });
      result.tuningMs = tuner.tuningMs;
      result.problems = tuner.decisions.length;
      result.decisions = tuner.decisions.map((d) => ({ problem: d.problem, variant: d.variant, timings: d.timings }));
      // The first candidate timed is the one 'off' runs (gemmCandidates puts
      // it first; object keys keep insertion order).
      result.changed = tuner.decisions.filter((d) => d.source === 'measured' && d.variant !== Object.keys(d.timings)[0]).length;
      result.deferred = tuner.decisions.filter((d) => d.source === 'deferred').length;
      if (train) {
        if (!ctx.quick || batch === 32) result.validation = await validateTrainStep(ctx, s, tuned, batch);
      } else {
        const images = new Rng(batch + 1).floats(batch * 784, 0, 1);
        device.queue.writeBuffer(tuned.input, 0, images as Float32Array<ArrayBuffer>);
        device.queue.writeBuffer(untuned.input, 0, images as Float32Array<ArrayBuffer>);
        result.validation = await validatePredict(ctx, s, tuned, batch, images);
      }
      const sampler = (plan: StepPlan) => {
        const reset = () => device.queue.writeBuffer(plan.step, 0, new Uint32Array([1, 0, 0, 0]));
        return wallSampler(ctx, (pass) => plan.encode(pass), {
          targetMs: train ? target : target / 2,
          maxInner: train ? MAX_STEPS_PER_SUBMIT : 256,
          beforeSubmit: train ? reset : undefined,
          sleepWhileWaiting: train,
        });
      };
      const u = sampler(untuned);
      const t = sampler(tuned);
      await u.warm();
      await t.warm();
      const rounds = ctx.quick ? 7 : 11;
      const uMs: number[] = [];
      const tMs: number[] = [];
      const ratios: number[] = [];
      for (let r = 0; r < rounds; r++) {
        // Alternate which goes first, so neither always follows the other.
        const [a, b] = r % 2 ? [t, u] : [u, t];
        const first = await a.sample();
        const second = await b.sample();
        const [um, tm] = r % 2 ? [second, first] : [first, second];
        uMs.push(um);
        tMs.push(tm);
        ratios.push(um / tm);
      }
      result.untunedMs = summarize(uMs).ms;
      result.tunedMs = summarize(tMs).ms;
      result.speedup = quantile(ratios, 0.5);
      if (batch === 128) profiles.push(await profile(ctx, tuned, mode, batch, result.tunedMs));
    } catch (e) {
      result.error = (e as Error).message;
      ctx.log(`  ${result.error}`);
    } finally {
      untuned?.destroy();
      tuned?.destroy();
      s.destroy();
    }
    results.push(result);
  }
  return { results, profiles };
}
