// Training, evaluation and prediction on the GPU.
//
// The hot loop records a chunk of training steps into one command buffer,
// copies the running metrics into a staging buffer and submits. Chunks are
// sized by measured time, not by a fixed step count: each aims at about
// `targetSubmitMs` of GPU work (one or two steps on a CPU adapter, many on a
// GPU), and at most `queueDepth` of them are in flight. That keeps the GPU
// busy while bounding how long anything queued behind training waits: a
// pause, a prediction or a save waits for at most `queueDepth` chunks, and
// progress is reported once per chunk.
//
// How the host waits for a chunk depends on where it runs. In the browser it
// awaits the GPU's own promise (`mapAsync`), which background tabs do not
// throttle the way they throttle timers. In Node, Dawn busy-polls while a map
// is pending, which on a CPU adapter takes a core from the kernels, so the
// host first sleeps for most of the chunk's measured time and maps after.

import {
  CheckpointError,
  DestroyedError,
  DeviceLostError,
  GpuResultError,
  LossDivergedError,
  NonFiniteLossError,
  ShapeError,
  WgslNnError,
} from '../errors';
import { checkPlannedBuffers, createStorage, readBuffer, uploadStorage } from '../gpu/buffers';
import { checkDevice, lostWatch, raceLost, type LostWatch } from '../gpu/device';
import { ADAM_DEFAULTS } from '../kernels/adam';
import { defaultTuner, requireTuneMode, type Tuner, type TuneMode } from '../gpu/tune';
import { packBytes } from '../kernels/mnist_batch';
import type { MnistSplit } from '../data/mnist';
import { decodeSafetensors, encodeSafetensors, f32Tensor, tensorToF32, type SafeTensor } from './safetensors';
import { buildModel, type Model, type ModelSpec } from './model';
import { ParamStore } from './params';
import { planBuffers, StepPlan, type AdamConfig, type GpuDataset } from './plan';
import { Rng } from '../util/rng';
import { checkHostBuffer, type EncodeTrainStepsOptions, type EncodedTrainSteps, type PredictIntoOptions } from './host_api';

export interface TrainConfig {
  model: ModelSpec;
  batchSize: number;
  seed: number;
  learningRate?: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  /**
   * Training steps recorded into one command buffer. 0 (the default) sizes
   * each submit by measured time instead (see targetSubmitMs).
   */
  stepsPerSubmit?: number;
  /** GPU time each submit aims at when stepsPerSubmit is 0. */
  targetSubmitMs?: number;
  /** The most steps one time-sized submit may hold. */
  maxStepsPerSubmit?: number;
  /** Submits in flight at once: what a pause or a prediction may wait behind. */
  queueDepth?: number;
  /**
   * How the host waits for the GPU: 'gpu' awaits mapAsync at once (the
   * browser, where timers in background tabs are throttled); 'sleep' sleeps
   * for most of a submit's measured time first (Node, where Dawn busy-polls
   * a pending map). The default picks by the environment.
   */
  pacing?: 'gpu' | 'sleep';
  evalBatchSize?: number;
  /**
   * Kernel tuning when plans are built (TuneMode, src/gpu/tune.ts): 'off'
   * (default) keeps the shape-based choice and bit-identical runs; 'auto'
   * times the variants on this adapter once and caches the choice;
   * 'cached-only' uses cached choices only.
   */
  tune?: TuneMode;
  /** Cache, budget and progress of the tuning; default defaultTuner(device). Its `decisions` say what runs. */
  tuner?: Tuner;
}

export interface StepProgress {
  epoch: number;
  /** Steps done in this epoch, and the epoch's total. */
  step: number;
  steps: number;
  /** Running averages over the epoch so far (dropout active), as Keras prints. */
  loss: number;
  accuracy: number;
  imagesPerSecond: number;
  /** The submit this report ends: how many steps it held, and its measured GPU time. */
  submitSteps: number;
  submitMs: number;
  /** Loss and accuracy over that submit's batches alone (the running averages' latest part). */
  submitLoss: number;
  submitAccuracy: number;
}

export interface EpochResult {
  epoch: number;
  seconds: number;
  loss: number;
  accuracy: number;
  imagesPerSecond: number;
  valLoss: number;
  valAccuracy: number;
}

export interface EvalResult {
  loss: number;
  accuracy: number;
  count: number;
  /** confusion[true][predicted] */
  confusion: number[][];
  predictions: Uint32Array;
  seconds: number;
}

/** Host copy of everything training needs to go on from where it was. */
export interface Snapshot {
  params: Float32Array<ArrayBuffer>;
  m: Float32Array<ArrayBuffer>;
  v: Float32Array<ArrayBuffer>;
  step: number;
  epoch: number;
}

export interface TrainEpochOptions {
  onProgress?: (p: StepProgress) => void;
  /**
   * Checked before every submit; returning true pauses: the steps already
   * submitted (at most queueDepth submits) finish, and trainEpoch returns
   * null. The next call resumes the epoch where it stopped.
   */
  shouldPause?: () => boolean;
}

/**
 * A staging buffer for metrics (16 bytes: loss sum, correct, seen) and, with
 * timestamp queries, the submit's GPU start and end (two u64 ns at 16), and
 * the chunk of steps whose results it will hold.
 */
interface RingSlot {
  index: number;
  buffer: GPUBuffer;
  chunk: {
    steps: number;
    step: number;
    globalStep: number;
    submittedAt: number;
    /** With 'gpu' pacing, the map requested right after the submit. */
    mapped: Promise<void> | null;
  } | null;
}

/** Node (Dawn) polls while a map is pending; browsers do not. */
const defaultPacing = (): 'gpu' | 'sleep' =>
  typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string' ? 'sleep' : 'gpu';

/** n rounded up to a multiple of m. */
const roundUp = (n: number, m: number) => Math.ceil(n / m) * m;

/** Uploads a split; every buffer goes into `owned` as it is made, so a failure frees them. */
function uploadDataset(device: GPUDevice, split: MnistSplit, permLength: number, label: string, owned: GPUBuffer[]): GpuDataset {
  const pixels = split.rows * split.cols;
  const keep = (b: GPUBuffer) => (owned.push(b), b);
  return {
    images: keep(uploadStorage(device, packBytes(split.images.subarray(0, split.count * pixels)), `${label} images`)),
    labelBytes: keep(uploadStorage(device, packBytes(split.labels.subarray(0, split.count)), `${label} labels`)),
    perm: keep(createStorage(device, permLength * 4, `${label} perm`)),
    count: split.count,
    pixels,
  };
}

/**
 * The data must be what the model takes: images of its input size (one
 * channel, as MNIST) and labels below its number of classes. Anything else
 * would train on scrambled input or index past the confusion matrix.
 */
function checkSplit(model: Model, split: MnistSplit, which: 'train' | 'test'): void {
  const where = 'Trainer.create';
  const [H, W, C] = model.inputShape;
  const { count, rows, cols } = split;
  if (!Number.isInteger(count) || count < 1) {
    throw new ShapeError(where, `${which} data`, `holds ${count} samples; training and evaluation need at least 1`);
  }
  if (C !== 1 || rows !== H || cols !== W) {
    throw new ShapeError(where, `${which} images`, `are ${rows}x${cols} with 1 channel, but model ${model.spec.name} takes ${H}x${W}x${C}`);
  }
  if (split.images.length < count * rows * cols || split.labels.length < count) {
    throw new ShapeError(where, `${which} data`, `${count} samples need ${count * rows * cols} pixels and ${count} labels, got ${split.images.length} and ${split.labels.length}`);
  }
  const classes = model.classes;
  for (let i = 0; i < count; i++) {
    if (split.labels[i] >= classes) {
      throw new ShapeError(where, `${which} labels`, `label ${i} is ${split.labels[i]}, but model ${model.spec.name} has ${classes} classes (0..${classes - 1})`);
    }
  }
}

/**
 * A chunk whose mean loss is this many times the running mean (and above
 * DIVERGED_MIN_LOSS_PER_LN_CLASSES * ln(classes)) stops training: the loss
 * has exploded. The floor keeps a converged model (mean 0.01) from stopping
 * on one hard batch (0.5): only a loss far worse than guessing counts.
 */
const DIVERGED_FACTOR = 100;
const DIVERGED_MIN_LOSS_PER_LN_CLASSES = 4;

/** The `format` metadata of the checkpoints saveCheckpoint writes. */
export const CHECKPOINT_FORMAT = 'wgsl-nn/1';

/** Predict plans kept for different image counts (n = 1 is always kept). */
const MAX_PREDICT_PLANS = 4;

interface PredictEntry {
  plan: Promise<StepPlan>;
  ready: StepPlan | null;
  /** Calls using the plan now. */
  users: number;
  /** Prepared for predictInto (preparePredict): kept until destroy(). */
  pinned: boolean;
}

export class Trainer {
  readonly model: Model;
  readonly store: ParamStore;
  readonly stepsPerEpoch: number;
  /** Completed epochs, and optimizer steps. */
  epoch = 0;
  globalStep = 0;
  private epochStep = 0;
  private epochSeconds = 0;
  private lastMetrics = { loss: NaN, accuracy: NaN };
  /** The epoch's metrics at the last drained chunk, and the running mean of chunk losses. */
  private chunkBase = { lossSum: 0, correct: 0, seen: 0 };
  private lossMean = 0;
  /** Shared per device, holds no reference to this trainer (see lostWatch). */
  private readonly lostWatch: LostWatch;
  private destroyed = false;
  private evalPlan?: StepPlan;
  private evalPreds?: GPUBuffer;
  private evalLoss?: GPUBuffer;
  /** Least recently used first. */
  private predictPlans = new Map<number, PredictEntry>();
  private ring: RingSlot[];
  /** The test-set evaluation run at the end of the last epoch. */
  lastEvaluation: EvalResult | null = null;
  /** Measured GPU time per training step (0 until the first submit returns). */
  msPerStep = 0;

  private constructor(
    readonly device: GPUDevice,
    readonly config: Required<TrainConfig>,
    model: Model,
    store: ParamStore,
    readonly trainData: GpuDataset,
    readonly testData: GpuDataset | null,
    readonly trainPlan: StepPlan,
  ) {
    this.model = model;
    this.store = store;
    this.stepsPerEpoch = Math.ceil(trainData.count / config.batchSize);
    this.lostWatch = lostWatch(device);
    // The GPU's own clock times each submit where the device has timestamp
    // queries: sleeping before a map (Node) then cannot skew the estimate.
    if (device.features.has('timestamp-query')) {
      this.clock = {
        querySet: device.createQuerySet({ label: 'train submit timestamps', type: 'timestamp', count: 2 * config.queueDepth }),
        // resolveQuerySet's destination offsets are multiples of 256.
        resolve: device.createBuffer({
          label: 'train submit timestamps',
          size: 256 * config.queueDepth,
          usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
        }),
      };
    }
    this.ring = Array.from({ length: config.queueDepth }, (_, i) => ({
      index: i,
      buffer: device.createBuffer({
        label: `metrics staging ${i}`,
        size: this.clock ? 32 : 16,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      }),
      chunk: null,
    }));
  }

  private clock: { querySet: GPUQuerySet; resolve: GPUBuffer } | null = null;

  static async create(device: GPUDevice, config: TrainConfig, data: { train: MnistSplit; test?: MnistSplit }): Promise<Trainer> {
    const full: Required<TrainConfig> = {
      learningRate: ADAM_DEFAULTS.lr,
      beta1: ADAM_DEFAULTS.beta1,
      beta2: ADAM_DEFAULTS.beta2,
      epsilon: ADAM_DEFAULTS.epsilon,
      stepsPerSubmit: 0,
      targetSubmitMs: 100,
      maxStepsPerSubmit: 256,
      queueDepth: 2,
      pacing: defaultPacing(),
      evalBatchSize: 500,
      tune: 'off',
      tuner: config.tuner ?? defaultTuner(device),
      ...config,
    };
    if (full.tuner === undefined) full.tuner = defaultTuner(device);
    requireTuneMode('Trainer.create', full.tune);
    for (const key of ['stepsPerSubmit', 'maxStepsPerSubmit', 'queueDepth', 'targetSubmitMs'] as const) {
      const v = full[key];
      const min = key === 'stepsPerSubmit' ? 0 : key === 'targetSubmitMs' ? 1e-3 : 1;
      if (!Number.isFinite(v) || v < min || (key !== 'targetSubmitMs' && !Number.isInteger(v))) {
        throw new ShapeError('Trainer.create', key, `must be ${key === 'targetSubmitMs' ? 'a number' : 'an integer'} >= ${min}, got ${v}`);
      }
    }
    if (!Number.isInteger(full.batchSize) || full.batchSize < 1) {
      throw new ShapeError('Trainer.create', 'batchSize', `must be a positive integer, got ${full.batchSize}`);
    }
    if (!Number.isInteger(full.evalBatchSize) || full.evalBatchSize < 1) {
      throw new ShapeError('Trainer.create', 'evalBatchSize', `must be a positive integer, got ${full.evalBatchSize}`);
    }
    if (!Number.isSafeInteger(full.seed)) throw new ShapeError('Trainer.create', 'seed', `must be an integer, got ${full.seed}`);
    // The shaders take these as f32: a value that overflows f32 is Inf there.
    for (const key of ['learningRate', 'beta1', 'beta2', 'epsilon'] as const) {
      const v = full[key];
      if (typeof v !== 'number' || !Number.isFinite(Math.fround(v)) || v < 0) {
        throw new ShapeError('Trainer.create', key, `must be a non-negative number finite in f32 (|x| < 3.4e38), got ${v}`);
      }
    }
    checkDevice(device, 'Trainer.create');
    const model = buildModel(config.model);
    checkSplit(model, data.train, 'train');
    if (data.test) checkSplit(model, data.test, 'test');
    const B = full.batchSize;
    const steps = Math.ceil(data.train.count / B);
    const pixels = data.train.rows * data.train.cols;
    // Every buffer is checked against the device's limits before any is
    // created: too big a batch is an AdapterLimitError naming the buffer and
    // the batch that fits, not a validation error the host never sees us get.
    checkPlannedBuffers(device, `Trainer.create: training at batch size ${B}`, planBuffers(model, { batch: B, mode: 'train' }));
    checkPlannedBuffers(device, 'Trainer.create: training data', [
      { label: 'train images', bytes: data.train.count * pixels },
      { label: 'train perm', bytes: steps * B * 4 },
      { label: 'params', bytes: model.paramCount * 4 },
    ]);
    const E = data.test ? Math.min(full.evalBatchSize, data.test.count) : 0;
    if (data.test) {
      const permLength = roundUp(data.test.count, E);
      checkPlannedBuffers(device, `Trainer.create: evaluation at evalBatchSize ${E}`, [
        ...planBuffers(model, { batch: E, mode: 'eval' }),
        { label: 'test images', bytes: data.test.count * pixels },
        { label: 'test perm', bytes: permLength * 4 },
        { label: 'eval predictions', bytes: permLength * 4 },
      ]);
    }
    checkPlannedBuffers(device, 'Trainer.create: prediction of one image', planBuffers(model, { batch: 1, mode: 'predict' }));

    // Until the Trainer exists, what is made is freed here on failure; after,
    // by trainer.destroy().
    const owned: GPUBuffer[] = [];
    let store: ParamStore | null = null;
    let trainer: Trainer | null = null;
    try {
      store = new ParamStore(device, model.params);
      store.initialize(full.seed);
      const trainData = uploadDataset(device, data.train, steps * B, 'train', owned);
      let testData: GpuDataset | null = null;
      if (data.test) {
        const permLength = roundUp(data.test.count, E);
        testData = uploadDataset(device, data.test, permLength, 'test', owned);
        const perm = new Uint32Array(permLength);
        for (let i = 0; i < perm.length; i++) perm[i] = i % data.test.count;
        device.queue.writeBuffer(testData.perm, 0, perm);
      }
      const adam: AdamConfig = { lr: full.learningRate, beta1: full.beta1, beta2: full.beta2, epsilon: full.epsilon };
      const trainPlan = await StepPlan.create(device, model, store, { batch: B, mode: 'train', data: trainData, adam, seed: full.seed, tune: full.tune, tuner: full.tuner });
      trainer = new Trainer(device, full, model, store, trainData, testData, trainPlan);
      // Built now, so that the first prediction while training (the demo's
      // drawing pad) does not wait for pipelines to compile.
      await trainer.usePredictPlan(1, async () => undefined);
    } catch (e) {
      if (trainer) trainer.destroy();
      else {
        store?.destroy();
        for (const b of owned) b.destroy();
      }
      throw e;
    }
    return trainer;
  }

  /** `p`, unless the device is lost first. Leaves no reaction behind (see raceLost). */
  private guard<T>(p: Promise<T>): Promise<T> {
    return raceLost(this.lostWatch, p);
  }

  private checkAlive(where: string): void {
    if (this.destroyed) throw new DestroyedError(`Trainer.${where}`);
    const lost = this.lostWatch.error;
    if (lost) throw new DeviceLostError(lost.reason, 'the GPU device was lost; create a new Trainer and restore a snapshot');
  }

  /** The epoch's sample order: a seeded shuffle, padded to whole batches by wrapping. */
  epochOrder(epoch: number): Uint32Array<ArrayBuffer> {
    const n = this.trainData.count;
    const B = this.config.batchSize;
    const p = new Rng((this.config.seed * 7919 + epoch * 104729 + 1) >>> 0).permutation(n);
    const out = new Uint32Array(this.stepsPerEpoch * B);
    for (let i = 0; i < out.length; i++) out[i] = p[i % n];
    return out;
  }

  private startEpoch(): void {
    const q = this.device.queue;
    q.writeBuffer(this.trainData.perm, 0, this.epochOrder(this.epoch));
    q.writeBuffer(this.trainPlan.metrics, 0, new Float32Array(4));
    q.writeBuffer(this.trainPlan.step, 0, new Uint32Array([this.globalStep, 0, 0, 0]));
    this.epochSeconds = 0;
    this.chunkBase = { lossSum: 0, correct: 0, seen: 0 };
  }

  /** Steps for the next submit: fixed, or sized so it takes about targetSubmitMs. */
  private nextChunkSteps(): number {
    const left = this.stepsPerEpoch - this.epochStep;
    const { stepsPerSubmit, targetSubmitMs, maxStepsPerSubmit } = this.config;
    if (stepsPerSubmit > 0) return Math.min(stepsPerSubmit, left);
    // Until a submit has been timed, one step: the cheapest way to learn the pace.
    const sized = this.msPerStep > 0 ? Math.floor(targetSubmitMs / this.msPerStep) : 1;
    return Math.max(1, Math.min(sized, maxStepsPerSubmit, left));
  }

  private running = false;

  /**
   * Trains until the epoch ends (then evaluates on the test set) or until
   * shouldPause() says stop (then returns null; the next call resumes).
   */
  async trainEpoch(options: TrainEpochOptions = {}): Promise<EpochResult | null> {
    this.checkAlive('trainEpoch');
    if (this.running) throw new WgslNnError('trainEpoch: this trainer is already training; await the running call first');
    this.running = true;
    try {
      return await this.runEpoch(options);
    } finally {
      this.running = false;
    }
  }

  private async runEpoch(options: TrainEpochOptions): Promise<EpochResult | null> {
    if (this.epochStep === 0) this.startEpoch();
    const B = this.config.batchSize;
    const sleepFirst = this.config.pacing === 'sleep';
    const started = performance.now();
    let failure: Error | null = null;
    let chunk = 0;
    let lastDone = started;
    // Reads one slot's metrics once its steps are done, and times the submit.
    const drain = async (slot: RingSlot) => {
      const c = slot.chunk;
      if (!c) return;
      slot.chunk = null;
      const waitStart = performance.now();
      if (sleepFirst) {
        // While this chunk runs, the one submitted after it keeps the GPU
        // busy, so sleeping about one chunk's time from now cannot starve it.
        const wait = 0.9 * c.steps * this.msPerStep;
        if (wait > 4) await this.guard(new Promise((r) => setTimeout(r, wait)));
      }
      const mapStart = performance.now();
      await this.guard(c.mapped ?? slot.buffer.mapAsync(GPUMapMode.READ));
      const mappedBytes = slot.buffer.getMappedRange().slice(0);
      slot.buffer.unmap();
      const [lossSum, correct, seen] = new Float32Array(mappedBytes, 0, 4);
      const now = performance.now();
      const [t0, t1] = this.clock ? new BigUint64Array(mappedBytes, 16, 2) : [0n, 0n];
      const gpuMs = Number(t1 - t0) / 1e6;
      // The chunk ran from when the GPU finished the one before it (or from
      // its submit, if the GPU was idle then) to now: the host's view, used
      // where the GPU's clock is missing (or reads 0, as some do).
      const seenMs = (now - Math.max(lastDone, c.submittedAt)) / c.steps;
      const fromClock = t1 > t0 && gpuMs < 1e7;
      const measured = fromClock ? gpuMs / c.steps : seenMs;
      const mapMs = now - mapStart;
      const waited = sleepFirst ? mapMs > 2 : now - waitStart > 1;
      // The host's view is only trusted when it saw the chunk end (or there
      // is nothing better yet); the GPU's clock always is.
      const trusted = fromClock || waited || this.msPerStep === 0;
      if (!fromClock && sleepFirst && mapStart - waitStart > 4 && mapMs < 0.05 * (mapStart - waitStart)) {
        // The map was ready almost at once after a long sleep: the chunk had
        // ended well before we woke, and the estimate is too long.
        this.msPerStep *= 0.7;
      } else if (trusted) {
        this.msPerStep = this.msPerStep === 0 ? measured : 0.5 * this.msPerStep + 0.5 * measured;
      } else if (sleepFirst) {
        // The chunk was already done when we woke: we slept too long.
        this.msPerStep *= 0.85;
      }
      lastDone = now;
      const fromStep = c.globalStep - c.steps + 1;
      if (!Number.isFinite(lossSum)) {
        failure ??= new NonFiniteLossError(c.globalStep, lossSum, fromStep);
        return;
      }
      // Every step counts its whole batch (the labels were checked at
      // create). Fewer means the GPU's work did not run: a validation error
      // WebGPU reported to the device's uncapturederror, not to us.
      if (seen !== c.step * B) {
        failure ??= new GpuResultError(
          `trainEpoch: the GPU counted ${seen} of the ${c.step * B} samples of steps 1..${c.step} of epoch ${this.epoch + 1}; ` +
            "its work did not run (see the device's uncapturederror event)",
        );
        return;
      }
      // The metrics buffer holds sums over the epoch; the last drained
      // chunk's sums give this chunk's own share.
      const chunkLoss = (lossSum - this.chunkBase.lossSum) / (seen - this.chunkBase.seen);
      const chunkAccuracy = (correct - this.chunkBase.correct) / (seen - this.chunkBase.seen);
      this.chunkBase = { lossSum, correct, seen };
      const floor = DIVERGED_MIN_LOSS_PER_LN_CLASSES * Math.log(this.model.classes);
      if (this.lossMean > 0 && chunkLoss > DIVERGED_FACTOR * this.lossMean && chunkLoss > floor) {
        failure ??= new LossDivergedError(fromStep, c.globalStep, chunkLoss, this.lossMean);
        return;
      }
      this.lossMean = this.lossMean === 0 ? chunkLoss : 0.9 * this.lossMean + 0.1 * chunkLoss;
      this.lastMetrics = { loss: lossSum / seen, accuracy: correct / seen };
      const elapsed = this.epochSeconds + (now - started) / 1000;
      options.onProgress?.({
        epoch: this.epoch,
        step: c.step,
        steps: this.stepsPerEpoch,
        loss: this.lastMetrics.loss,
        accuracy: this.lastMetrics.accuracy,
        imagesPerSecond: (c.step * B) / Math.max(elapsed, 1e-9),
        submitSteps: c.steps,
        submitMs: measured * c.steps,
        submitLoss: chunkLoss,
        submitAccuracy: chunkAccuracy,
      });
    };
    while (this.epochStep < this.stepsPerEpoch && !failure) {
      const slot = this.ring[chunk % this.ring.length];
      // Wait for the oldest submit first, then decide: a pause asked for
      // meanwhile stops the loop before anything more is queued.
      await drain(slot);
      if (failure || options.shouldPause?.()) break;
      chunk++;
      const k = this.nextChunkSteps();
      const enc = this.device.createCommandEncoder({ label: 'train steps' });
      const clock = this.clock;
      const pass = enc.beginComputePass({
        label: 'train steps',
        ...(clock && {
          timestampWrites: { querySet: clock.querySet, beginningOfPassWriteIndex: 2 * slot.index, endOfPassWriteIndex: 2 * slot.index + 1 },
        }),
      });
      for (let i = 0; i < k; i++) this.trainPlan.encode(pass);
      pass.end();
      enc.copyBufferToBuffer(this.trainPlan.metrics, 0, slot.buffer, 0, 16);
      if (clock) {
        enc.resolveQuerySet(clock.querySet, 2 * slot.index, 2, clock.resolve, 256 * slot.index);
        enc.copyBufferToBuffer(clock.resolve, 256 * slot.index, slot.buffer, 16, 16);
      }
      this.device.queue.submit([enc.finish()]);
      this.epochStep += k;
      this.globalStep += k;
      const mapped = sleepFirst ? null : slot.buffer.mapAsync(GPUMapMode.READ);
      // A lost device rejects every pending map; the one being awaited reports
      // it, the others must not surface as unhandled rejections in the host.
      mapped?.catch(() => {});
      slot.chunk = { steps: k, step: this.epochStep, globalStep: this.globalStep, submittedAt: performance.now(), mapped };
    }
    // Drain in submission order, so progress is reported in order.
    for (let i = 0; i < this.ring.length; i++) await drain(this.ring[(chunk + i) % this.ring.length]);
    this.epochSeconds += (performance.now() - started) / 1000;
    if (failure) throw failure;
    if (this.epochStep < this.stepsPerEpoch) return null;
    const seconds = this.epochSeconds;
    const { loss, accuracy } = this.lastMetrics;
    this.epochStep = 0;
    this.epoch += 1;
    const val = this.testData ? await this.evaluate() : null;
    this.lastEvaluation = val;
    return {
      epoch: this.epoch,
      seconds,
      loss,
      accuracy,
      imagesPerSecond: (this.stepsPerEpoch * B) / seconds,
      valLoss: val?.loss ?? NaN,
      valAccuracy: val?.accuracy ?? NaN,
    };
  }

  /** Loss, accuracy and confusion matrix on the test set, computed on the GPU. */
  async evaluate(): Promise<EvalResult> {
    this.checkAlive('evaluate');
    const data = this.testData;
    if (!data) throw new Error('evaluate: the trainer was created without a test set');
    const E = Math.min(this.config.evalBatchSize, data.count);
    const batches = Math.ceil(data.count / E);
    if (!this.evalPlan) {
      this.evalPlan = await StepPlan.create(this.device, this.model, this.store, { batch: E, mode: 'eval', data, tune: this.config.tune, tuner: this.config.tuner });
      this.evalPreds = createStorage(this.device, batches * E * 4, 'eval predictions');
      this.evalLoss = createStorage(this.device, batches * E * 4, 'eval loss');
    }
    const plan = this.evalPlan;
    const started = performance.now();
    this.device.queue.writeBuffer(plan.step, 0, new Uint32Array(4));
    const enc = this.device.createCommandEncoder({ label: 'evaluate' });
    for (let b = 0; b < batches; b++) {
      const pass = enc.beginComputePass({ label: `evaluate batch ${b}` });
      plan.encode(pass);
      pass.end();
      enc.copyBufferToBuffer(plan.pred, 0, this.evalPreds!, b * E * 4, E * 4);
      enc.copyBufferToBuffer(plan.loss, 0, this.evalLoss!, b * E * 4, E * 4);
    }
    this.device.queue.submit([enc.finish()]);
    const [predBytes, lossBytes] = await this.guard(
      Promise.all([readBuffer(this.device, this.evalPreds!, data.count * 4), readBuffer(this.device, this.evalLoss!, data.count * 4)]),
    );
    const preds = new Uint32Array(predBytes);
    const losses = new Float32Array(lossBytes);
    const labels = await this.testLabels();
    const classes = this.model.classes;
    const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
    let correct = 0;
    let lossSum = 0;
    for (let i = 0; i < data.count; i++) {
      // Labels are below `classes` (checked at create); a prediction is too
      // unless the GPU's work went wrong, which must not crash the count.
      if (preds[i] < classes) confusion[labels[i]][preds[i]] += 1;
      if (labels[i] === preds[i]) correct++;
      lossSum += losses[i];
    }
    return {
      loss: lossSum / data.count,
      accuracy: correct / data.count,
      count: data.count,
      confusion,
      predictions: preds,
      seconds: (performance.now() - started) / 1000,
    };
  }

  private testLabelCache?: Uint8Array;
  private async testLabels(): Promise<Uint8Array> {
    if (!this.testLabelCache) {
      const bytes = await readBuffer(this.device, this.testData!.labelBytes, this.testData!.count);
      this.testLabelCache = new Uint8Array(bytes);
    }
    return this.testLabelCache;
  }

  /**
   * Class probabilities for `n` images given as floats in [0, 1], laid out
   * (n, H, W, C). The network runs on the GPU; only the softmax of the n x 10
   * logits that come back is taken on the host, for display.
   */
  async predict(images: Float32Array<ArrayBuffer>, count?: number): Promise<{ logits: Float32Array; probabilities: Float32Array }> {
    this.checkAlive('predict');
    const per = this.model.inputShape.reduce((a, b) => a * b, 1);
    const n = count ?? images.length / per;
    if (!Number.isInteger(n) || n < 1 || images.length !== n * per) {
      throw new ShapeError('predict', 'images', `expected n * ${per} floats for n images, got ${images.length}`);
    }
    return this.usePredictPlan(n, async (plan) => {
      this.device.queue.writeBuffer(plan.input, 0, images);
      const enc = this.device.createCommandEncoder({ label: 'predict' });
      const pass = enc.beginComputePass({ label: 'predict' });
      plan.encode(pass);
      pass.end();
      this.device.queue.submit([enc.finish()]);
      const C = this.model.classes;
      const logits = new Float32Array(await this.guard(readBuffer(this.device, plan.logits, n * C * 4)));
      const probabilities = new Float32Array(n * C);
      for (let r = 0; r < n; r++) {
        let max = -Infinity;
        for (let c = 0; c < C; c++) max = Math.max(max, logits[r * C + c]);
        let sum = 0;
        for (let c = 0; c < C; c++) sum += probabilities[r * C + c] = Math.exp(logits[r * C + c] - max);
        for (let c = 0; c < C; c++) probabilities[r * C + c] /= sum;
      }
      return { logits, probabilities };
    });
  }

  /**
   * Runs `body` with the predict plan for n images. Plans are kept for the
   * MAX_PREDICT_PLANS most recently used sizes (n = 1 always); an older one
   * is destroyed once no call is using it, so predicting many sizes does not
   * grow the device's memory without bound.
   */
  private async usePredictPlan<T>(n: number, body: (plan: StepPlan) => Promise<T>): Promise<T> {
    let entry = this.predictPlans.get(n);
    if (entry) this.predictPlans.delete(n);
    else {
      const e: PredictEntry = { plan: StepPlan.create(this.device, this.model, this.store, { batch: n, mode: 'predict', tune: this.config.tune, tuner: this.config.tuner }), ready: null, users: 0, pinned: false };
      e.plan.then(
        (p) => (e.ready = p),
        () => {},
      );
      entry = e;
    }
    this.predictPlans.set(n, entry);
    entry.users++;
    try {
      let plan: StepPlan;
      try {
        plan = await entry.plan;
      } catch (err) {
        if (this.predictPlans.get(n) === entry) this.predictPlans.delete(n);
        throw err;
      }
      return await body(plan);
    } finally {
      entry.users--;
      this.evictPredictPlans();
    }
  }

  private evictPredictPlans(): void {
    for (const [n, e] of this.predictPlans) {
      if (this.predictPlans.size <= MAX_PREDICT_PLANS) break;
      if (n === 1 || e.users > 0 || e.pinned) continue;
      this.predictPlans.delete(n);
      if (e.ready) e.ready.destroy();
      else e.plan.then((p) => p.destroy(), () => {});
    }
  }

  /** Copies parameters, Adam moments and counters to the host. */
  async snapshot(): Promise<Snapshot> {
    this.checkAlive('snapshot');
    const n = this.store.totalFloats * 4;
    const [params, m, v] = await this.guard(
      Promise.all([readBuffer(this.device, this.store.params, n), readBuffer(this.device, this.store.m, n), readBuffer(this.device, this.store.v, n)]),
    );
    return { params: new Float32Array(params), m: new Float32Array(m), v: new Float32Array(v), step: this.globalStep, epoch: this.epoch };
  }

  /** Puts a snapshot back (after a NaN, or into a new Trainer after a lost device). */
  restore(s: Snapshot): void {
    this.checkAlive('restore');
    if (s.params.length !== this.store.totalFloats) {
      throw new CheckpointError(`restore: snapshot has ${s.params.length} floats, the model needs ${this.store.totalFloats}`);
    }
    this.store.writeAll(s);
    this.globalStep = s.step;
    this.epoch = s.epoch;
    this.epochStep = 0;
    this.lossMean = 0;
  }

  /** The weights (and with optimizer: true, Adam state) as a safetensors file. */
  async saveCheckpoint(options: { optimizer?: boolean } = {}): Promise<Uint8Array> {
    const s = await this.snapshot();
    const tensors: Record<string, SafeTensor> = {};
    // A checkpoint with NaN or Inf would be refused by loadCheckpoint: better
    // to write none, so the caller's last good file stays the last one.
    const add = (prefix: string, flat: Float32Array) => {
      for (const [name, data] of this.store.unpack(flat)) {
        const bad = data.findIndex((x) => !Number.isFinite(x));
        if (bad >= 0) {
          throw new CheckpointError(
            `saveCheckpoint: tensor '${prefix + name}' holds ${data[bad]} at index ${bad} after step ${s.step}; no checkpoint was made`,
          );
        }
        tensors[prefix + name] = f32Tensor(this.store.slot(name).info.shape, data);
      }
    };
    add('', s.params);
    if (options.optimizer) {
      add('optimizer/m/', s.m);
      add('optimizer/v/', s.v);
    }
    return encodeSafetensors(tensors, {
      format: CHECKPOINT_FORMAT,
      model: JSON.stringify(this.model.spec),
      step: String(s.step),
      epoch: String(s.epoch),
      // What else decides the next steps: a resumed run that uses the same
      // values continues exactly as one run would have.
      seed: String(this.config.seed),
      batch_size: String(this.config.batchSize),
      learning_rate: String(this.config.learningRate),
    });
  }

  /**
   * Loads weights (and Adam state when the file has it). Everything is
   * validated before anything is written: on any error the model is unchanged.
   */
  async loadCheckpoint(bytes: Uint8Array | ArrayBuffer, file: string): Promise<void> {
    this.checkAlive('loadCheckpoint');
    const { tensors, metadata } = decodeSafetensors(bytes, file);
    if (metadata.format !== undefined && metadata.format !== CHECKPOINT_FORMAT) {
      throw new CheckpointError(`${file}: metadata format is '${metadata.format}', expected '${CHECKPOINT_FORMAT}'`);
    }
    // The counters decide the shuffle order (epoch), dropout masks and Adam's
    // bias correction (step): only exact non-negative integers will do.
    const counter = (key: 'step' | 'epoch'): number => {
      const text = metadata[key];
      if (text === undefined) return 0;
      const n = Number(text);
      if (!/^(0|[1-9][0-9]*)$/.test(text) || !Number.isSafeInteger(n)) {
        throw new CheckpointError(`${file}: metadata ${key} is '${text}', expected a non-negative integer`);
      }
      return n;
    };
    const savedStep = counter('step');
    const savedEpoch = counter('epoch');
    const expected = new Map(this.model.params.map((p) => [p.name, p.shape]));
    const hasOptimizer = Object.keys(tensors).some((k) => k.startsWith('optimizer/'));
    const read = (name: string, shape: number[]) => {
      const t = tensors[name];
      if (!t) throw new CheckpointError(`${file}: missing tensor '${name}'`);
      if (t.dtype !== 'F32') throw new CheckpointError(`${file}: tensor '${name}' has dtype ${t.dtype}, expected F32`);
      if (t.shape.join(',') !== shape.join(',')) {
        throw new CheckpointError(`${file}: tensor '${name}' has shape [${t.shape.join(', ')}], the model expects [${shape.join(', ')}]`);
      }
      return tensorToF32(t, name, file);
    };
    const known = new Set<string>();
    const load = (prefix: string) => {
      const out = new Map<string, Float32Array>();
      for (const [name, shape] of expected) {
        known.add(prefix + name);
        out.set(name, read(prefix + name, shape));
      }
      return this.store.pack(out);
    };
    const params = load('');
    const m = hasOptimizer ? load('optimizer/m/') : new Float32Array(this.store.totalFloats);
    const v = hasOptimizer ? load('optimizer/v/') : new Float32Array(this.store.totalFloats);
    const extra = Object.keys(tensors).filter((k) => !known.has(k));
    if (extra.length > 0) throw new CheckpointError(`${file}: unexpected tensor(s) ${extra.map((e) => `'${e}'`).join(', ')} not in model ${this.model.spec.name}`);
    for (const arr of [params, m, v]) {
      for (let i = 0; i < arr.length; i++) {
        if (!Number.isFinite(arr[i])) throw new CheckpointError(`${file}: contains NaN or Inf values`);
      }
    }
    this.store.writeAll({ params, m, v });
    // Without Adam state the moments start at zero, and so must Adam's step.
    this.globalStep = hasOptimizer ? savedStep : 0;
    this.epoch = savedEpoch;
    this.epochStep = 0;
    this.lossMean = 0;
  }

  // ---------------------------------------------------------------------
  // Host-device API: for a host that owns the device and its command
  // encoders (a renderer, a game loop). Nothing here submits or waits: the
  // host decides when its encoder is submitted.
  // ---------------------------------------------------------------------

  /**
   * Builds (once per count) what predictInto needs for batches of `count`
   * images. A prepared count is kept until destroy(): predict()'s cache of
   * recent sizes never evicts it.
   */
  async preparePredict(count: number): Promise<void> {
    this.checkAlive('preparePredict');
    if (!Number.isInteger(count) || count < 1) {
      throw new ShapeError('preparePredict', 'count', `${count} is not a positive integer`);
    }
    if (this.predictPlans.get(count)?.pinned) return;
    await this.usePredictPlan(count, async () => undefined);
    const entry = this.predictPlans.get(count);
    if (entry?.ready) entry.pinned = true;
  }

  /**
   * Encodes a forward pass into the host's encoder: `count` images from the
   * host's `input` buffer to logits in its `output` buffer, GPU to GPU. The
   * logits are the same, bit for bit, as predict()'s. Await
   * preparePredict(count) once first.
   */
  predictInto(encoder: GPUCommandEncoder, options: PredictIntoOptions): void {
    this.checkAlive('predictInto');
    const { count, input, output } = options;
    const inputOffset = options.inputOffset ?? 0;
    const outputOffset = options.outputOffset ?? 0;
    const entry = this.predictPlans.get(count);
    const plan = entry?.pinned ? entry.ready : null;
    if (!plan) {
      throw new ShapeError('predictInto', 'count', `no plan for ${count} images: await trainer.preparePredict(${count}) first`);
    }
    const inBytes = count * this.model.inputShape.reduce((a, b) => a * b, 1) * 4;
    const outBytes = count * this.model.classes * 4;
    checkHostBuffer('predictInto', 'input', input, inputOffset, inBytes, GPUBufferUsage.COPY_SRC, 'COPY_SRC');
    checkHostBuffer('predictInto', 'output', output, outputOffset, outBytes, GPUBufferUsage.COPY_DST, 'COPY_DST');
    encoder.copyBufferToBuffer(input, inputOffset, plan.input, 0, inBytes);
    const pass = encoder.beginComputePass({ label: 'wgsl-nn predict' });
    plan.encode(pass);
    pass.end();
    encoder.copyBufferToBuffer(plan.logits, 0, output, outputOffset, outBytes);
  }

  /**
   * Encodes up to `steps` training steps into the host's encoder (never past
   * the end of the epoch), so training can be interleaved with frames. The
   * same steps as trainEpoch's: the same order of samples, the same weights
   * after. Submit the encoder before calling this again once an epoch has
   * ended (the next epoch's sample order is written through the queue), and
   * before calling trainEpoch, evaluate or predict.
   */
  encodeTrainSteps(encoder: GPUCommandEncoder, options: EncodeTrainStepsOptions): EncodedTrainSteps {
    this.checkAlive('encodeTrainSteps');
    if (!Number.isInteger(options.steps) || options.steps < 1) {
      throw new ShapeError('encodeTrainSteps', 'steps', `${options.steps} is not a positive integer`);
    }
    if (this.running) throw new WgslNnError('encodeTrainSteps: trainEpoch is running on this trainer; await it first');
    if (this.epochStep === 0) this.startEpoch();
    const k = Math.min(options.steps, this.stepsPerEpoch - this.epochStep);
    const pass = encoder.beginComputePass({ label: 'wgsl-nn train steps' });
    for (let i = 0; i < k; i++) this.trainPlan.encode(pass);
    pass.end();
    if (options.metrics) {
      const offset = options.metrics.offset ?? 0;
      checkHostBuffer('encodeTrainSteps', 'metrics', options.metrics.buffer, offset, 16, GPUBufferUsage.COPY_DST, 'COPY_DST');
      encoder.copyBufferToBuffer(this.trainPlan.metrics, 0, options.metrics.buffer, offset, 16);
    }
    this.epochStep += k;
    this.globalStep += k;
    const epochDone = this.epochStep === this.stepsPerEpoch;
    if (epochDone) {
      this.epochStep = 0;
      this.epoch += 1;
    }
    return { steps: k, epochDone };
  }

  /** The model's parameter tensors, by name, with their shapes (model order). */
  weightShapes(): Map<string, number[]> {
    return new Map(this.model.params.map((p) => [p.name, [...p.shape]]));
  }

  /**
   * The weights by name ('conv2d/kernel', 'conv2d_1/bias', 'dense/kernel',
   * ...), as Float32Arrays in the checkpoint layout the README describes
   * (HWIO conv kernels, [in, out] dense kernels).
   */
  async getWeights(): Promise<Map<string, Float32Array>> {
    this.checkAlive('getWeights');
    const flat = new Float32Array(await this.guard(readBuffer(this.device, this.store.params, this.store.totalFloats * 4)));
    return this.store.unpack(flat);
  }

  /**
   * Writes some or all weights by name. Every tensor is checked (known name,
   * length, finite values) before anything is written. Adam's moments and the
   * step counter are left as they are.
   */
  setWeights(weights: Map<string, Float32Array> | Record<string, Float32Array>): void {
    this.checkAlive('setWeights');
    const entries = weights instanceof Map ? [...weights] : Object.entries(weights);
    for (const [name, data] of entries) {
      const slot = this.store.slots.get(name);
      if (!slot) {
        const known = [...this.store.slots.keys()].join(', ');
        throw new ShapeError('setWeights', name, `no parameter named '${name}' in model ${this.model.spec.name} (has ${known})`);
      }
      if (data.length !== slot.info.size) {
        throw new ShapeError('setWeights', name, `expected ${slot.info.size} floats for shape [${slot.info.shape.join(', ')}], got ${data.length}`);
      }
      for (let i = 0; i < data.length; i++) {
        if (!Number.isFinite(data[i])) throw new ShapeError('setWeights', name, `value ${i} is ${data[i]}`);
      }
    }
    for (const [name, data] of entries) {
      const slot = this.store.slot(name);
      this.device.queue.writeBuffer(this.store.params, slot.offset * 4, Float32Array.from(data));
    }
  }

  /** Frees every GPU object the trainer owns, as destroy(); for `using`. */
  [Symbol.dispose](): void {
    this.destroy();
  }

  /**
   * Frees every GPU buffer the trainer created (plans, weights, datasets).
   * The device is the caller's and stays alive. Later calls throw
   * DestroyedError; a second destroy() does nothing.
   */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.trainPlan.destroy();
    this.evalPlan?.destroy();
    for (const e of this.predictPlans.values()) {
      if (e.ready) e.ready.destroy();
      else e.plan.then((p) => p.destroy(), () => {});
    }
    this.predictPlans.clear();
    for (const s of this.ring) s.buffer.destroy();
    this.clock?.querySet.destroy();
    this.clock?.resolve.destroy();
    this.evalPreds?.destroy();
    this.evalLoss?.destroy();
    this.store.destroy();
    for (const d of [this.trainData, this.testData]) {
      if (!d) continue;
      d.images.destroy();
      d.labelBytes.destroy();
      d.perm.destroy();
    }
  }
}
