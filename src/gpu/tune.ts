// Autotuning: for one kernel problem (an op and its shape), time the kernel
// variants that fit the device and keep the fastest, remembering the choice
// per adapter, problem and engine version.
//
// Every default in the engine was chosen by measuring on CPU adapters; on a
// GPU nothing has been measured, so the engine measures on the adapter it
// meets. The tuner knows nothing of GEMMs: a kernel wrapper (gemm.ts) hands
// it named candidates that each prepare one dispatch, and the tuner runs
// them on the wrapper's own buffers (so tuning a GEMM overwrites its output,
// which the kernel overwrites anyway on every run).
//
// The core stays environment-free: the cache is a small interface, with an
// in-memory one and a localStorage one here and a JSON-file one in
// src/node/tune_cache.ts (exported from 'wgsl-nn/node').

import { ShapeError } from '../errors';
import type { PreparedDispatch } from './kernel';

/**
 * - 'auto': use the cached choice for this adapter and problem; without
 *   one, time the candidates, keep the fastest and cache it.
 * - 'cached-only': use a cached choice if there is one, else the default;
 *   never times anything.
 * - 'off': the shape-based default, as before tuning existed; never times,
 *   never reads the cache. Results are bit-identical from run to run.
 */
export type TuneMode = 'auto' | 'cached-only' | 'off';

/** Kept with the engine version in every cache key: kernels change between releases. */
export const ENGINE_VERSION = '0.1.0';

/** What the cache keeps for one problem on one adapter. */
export interface TuneRecord {
  /** The chosen variant's name. */
  variant: string;
  /** Median milliseconds of every candidate that was timed. */
  timings: Record<string, number>;
  /** 'timestamp': GPU timestamp queries; 'wall': submit to onSubmittedWorkDone. */
  clock: 'timestamp' | 'wall' | 'injected';
  /** ISO date of the measurement. */
  at: string;
}

/** Where choices are remembered. Methods may be synchronous or return promises. */
export interface TuneCache {
  get(key: string): TuneRecord | undefined | Promise<TuneRecord | undefined>;
  set(key: string, record: TuneRecord): void | Promise<void>;
}

/** A cache that lives as long as the object (the default where no other is given). */
export function memoryTuneCache(): TuneCache & { readonly entries: Map<string, TuneRecord> } {
  const entries = new Map<string, TuneRecord>();
  return {
    entries,
    get: (key) => entries.get(key),
    set: (key, record) => void entries.set(key, record),
  };
}

/**
 * A cache in the browser's localStorage, one JSON object under `storageKey`.
 * Storage that is missing, full or blocked (private windows) makes it a
 * no-op rather than an error: tuning then simply runs again next time.
 */
export function localStorageTuneCache(storageKey = 'wgsl-nn-tune'): TuneCache {
  const storage = (globalThis as { localStorage?: Storage }).localStorage;
  const readAll = (): Record<string, TuneRecord> => {
    try {
      const text = storage?.getItem(storageKey);
      const parsed: unknown = text ? JSON.parse(text) : {};
      return parsed && typeof parsed === 'object' ? (parsed as Record<string, TuneRecord>) : {};
    } catch {
      return {};
    }
  };
  return {
    get: (key) => validRecord(readAll()[key]),
    set: (key, record) => {
      try {
        storage?.setItem(storageKey, JSON.stringify({ ...readAll(), [key]: record }));
      } catch {
        // Quota or privacy settings: remembering is optional.
      }
    },
  };
}

/** `value` if it looks like a TuneRecord (caches hold what older versions or users wrote). */
export function validRecord(value: unknown): TuneRecord | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const r = value as Partial<TuneRecord>;
  if (typeof r.variant !== 'string' || !r.timings || typeof r.timings !== 'object') return undefined;
  return r as TuneRecord;
}

/** The default cache: localStorage where there is one (browsers), else memory. */
export function defaultTuneCache(): TuneCache {
  return (globalThis as { localStorage?: Storage }).localStorage
    ? localStorageTuneCache()
    : memoryTuneCache();
}

/**
 * The adapter part of a cache key: vendor, architecture, device, description
 * (WebGPU exposes no driver version; Dawn's description names the driver,
 * e.g. Mesa's), subgroup sizes, and the features that change the candidate
 * set.
 */
export function adapterKey(device: GPUDevice): string {
  const info = (device.adapterInfo ?? {}) as GPUAdapterInfo & {
    subgroupMinSize?: number;
    subgroupMaxSize?: number;
  };
  const features = ['subgroups', 'timestamp-query'].filter((f) => device.features.has(f));
  return [
    info.vendor,
    info.architecture,
    info.device,
    info.description,
    `sg${info.subgroupMinSize ?? '?'}-${info.subgroupMaxSize ?? '?'}`,
    features.join('+'),
  ].join('|');
}

/** One way to run a problem. */
export interface TuneCandidate {
  /** Names the variant in the cache, in bench rows and in the demo. */
  variant: string;
  prepare(): Promise<PreparedDispatch>;
}

/** A dispatch that knows which variant it is. */
export interface TunedDispatch extends PreparedDispatch {
  readonly variant: string;
}

/** The variant a dispatch runs: its tuned variant's name, else its kernel's. */
export function variantOf(dispatch: PreparedDispatch): string {
  return (dispatch as Partial<TunedDispatch>).variant ?? dispatch.kernel;
}

/** Runs a dispatch `repetitions` times; returns milliseconds per run. */
export interface DispatchTimer {
  readonly clock: TuneRecord['clock'];
  time(dispatch: PreparedDispatch, repetitions: number): Promise<number[]>;
}

/**
 * Times dispatches on the GPU: with timestamp queries when the device has
 * 'timestamp-query' (one compute pass per repetition, the pass's begin and
 * end), else from submit to onSubmittedWorkDone on the host clock (which
 * adds the submit's overhead, the same for every candidate).
 */
export function gpuTimer(device: GPUDevice): DispatchTimer {
  const timestamps = device.features.has('timestamp-query');
  return {
    clock: timestamps ? 'timestamp' : 'wall',
    async time(dispatch, repetitions) {
      return timestamps
        ? timeWithTimestamps(device, dispatch, repetitions)
        : timeWithWall(device, dispatch, repetitions);
    },
  };
}

async function checked(device: GPUDevice, what: string, submit: () => void): Promise<void> {
  device.pushErrorScope('validation');
  submit();
  const error = await device.popErrorScope();
  if (error) throw new Error(`tuning ${what}: ${error.message}`);
}

async function timeWithWall(device: GPUDevice, dispatch: PreparedDispatch, repetitions: number): Promise<number[]> {
  const out: number[] = [];
  for (let r = 0; r < repetitions; r++) {
    const t0 = performance.now();
    await checked(device, dispatch.label, () => {
      const encoder = device.createCommandEncoder({ label: `tune ${dispatch.label}` });
      const pass = encoder.beginComputePass({ label: `tune ${dispatch.label}` });
      dispatch.encode(pass);
      pass.end();
      device.queue.submit([encoder.finish()]);
    });
    await device.queue.onSubmittedWorkDone();
    out.push(performance.now() - t0);
  }
  return out;
}

async function timeWithTimestamps(
  device: GPUDevice,
  dispatch: PreparedDispatch,
  repetitions: number,
): Promise<number[]> {
  const count = 2 * repetitions;
  const querySet = device.createQuerySet({ label: `tune ${dispatch.label} timestamps`, type: 'timestamp', count });
  const resolve = device.createBuffer({
    label: `tune ${dispatch.label} resolve`,
    size: count * 8,
    usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
  });
  const read = device.createBuffer({
    label: `tune ${dispatch.label} read`,
    size: count * 8,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  try {
    await checked(device, dispatch.label, () => {
      const encoder = device.createCommandEncoder({ label: `tune ${dispatch.label}` });
      for (let r = 0; r < repetitions; r++) {
        const pass = encoder.beginComputePass({
          label: `tune ${dispatch.label}`,
          timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * r, endOfPassWriteIndex: 2 * r + 1 },
        });
        dispatch.encode(pass);
        pass.end();
      }
      encoder.resolveQuerySet(querySet, 0, count, resolve, 0);
      encoder.copyBufferToBuffer(resolve, 0, read, 0, count * 8);
      device.queue.submit([encoder.finish()]);
    });
    await read.mapAsync(GPUMapMode.READ);
    const ticks = new BigInt64Array(read.getMappedRange().slice(0));
    read.unmap();
    const out: number[] = [];
    for (let r = 0; r < repetitions; r++) {
      out.push(Math.max(0, Number(ticks[2 * r + 1] - ticks[2 * r])) / 1e6);
    }
    return out;
  } finally {
    querySet.destroy();
    resolve.destroy();
    read.destroy();
  }
}

export function median(values: number[]): number {
  const s = [...values].sort((x, y) => x - y);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** One decision the tuner made, for bench rows, logs and the demo. */
export interface TuneDecision {
  problem: string;
  variant: string;
  /**
   * 'measured' now, 'cache' hit, 'default' (cached-only without a record,
   * or 'off'), or 'deferred': the tuner's total budget was spent, so the
   * default runs now and nothing is cached; a later build ('auto') tunes it.
   */
  source: 'measured' | 'cache' | 'default' | 'deferred';
  /** Medians of the candidates timed now (empty unless measured). */
  timings: Record<string, number>;
  /** Milliseconds this decision took (compiling and timing candidates). */
  ms: number;
}

/** Progress while tuning, for a "tuning kernels for your GPU" display. */
export interface TuneProgress {
  problem: string;
  /** The candidate about to be timed, and its place among the problem's candidates. */
  variant: string;
  index: number;
  count: number;
}

export interface TunerOptions {
  /** Default: defaultTuneCache() (localStorage in a browser, memory elsewhere). */
  cache?: TuneCache;
  /** Default: gpuTimer(device). Tests inject deterministic timers. */
  timer?: DispatchTimer;
  /** Timed runs per candidate after one untimed warm-up run. Default 3. */
  repetitions?: number;
  /**
   * Milliseconds per problem, preparing (compiling) and timing candidates,
   * after which the remaining candidates are skipped; the first candidate,
   * the shape-based default, always runs. Default 1000. On a GPU a pipeline
   * compiles in milliseconds and the whole menu fits; on a CPU adapter
   * compiling dominates and the budget is what bounds the cost.
   */
  budgetMs?: number;
  /**
   * Milliseconds for all the problems one tuner decides, counted as
   * budgetMs is; once spent, further problems run their default without
   * being timed or cached ('deferred'), and a later build with a cache
   * tunes them. A problem never gets more than what is left. Default 6000:
   * on a GPU the whole menu of the paper CNN's problems fits; on a CPU
   * adapter, where one compile takes seconds, it bounds a first visit.
   */
  totalBudgetMs?: number;
  /**
   * How much faster (as a fraction) a candidate must be than the best so far
   * to replace it: the default stays unless another beats it beyond noise.
   * Default 0.05.
   */
  minGain?: number;
  /** The clock that prepare times are read from (ms). Default performance.now; tests inject one. */
  now?: () => number;
  onProgress?: (progress: TuneProgress) => void;
}

/**
 * Chooses variants for one device. One tuner can serve several plans: its
 * `decisions` and `tuningMs` add up over all of them.
 */
export class Tuner {
  readonly cache: TuneCache;
  readonly timer: DispatchTimer;
  readonly repetitions: number;
  readonly budgetMs: number;
  readonly totalBudgetMs: number;
  readonly minGain: number;
  readonly decisions: TuneDecision[] = [];
  /** Milliseconds spent choosing (compiling and timing; cache look-ups too). */
  tuningMs = 0;
  /** What the budgets count (preparing and timing candidates, on the `now` clock and the timer's), over all problems. */
  spentMs = 0;
  private readonly onProgress?: (progress: TuneProgress) => void;
  private readonly adapter: string;
  private readonly now: () => number;

  constructor(
    readonly device: GPUDevice,
    options: TunerOptions = {},
  ) {
    this.cache = options.cache ?? defaultTuneCache();
    this.timer = options.timer ?? gpuTimer(device);
    this.repetitions = Math.max(1, Math.floor(options.repetitions ?? 3));
    this.budgetMs = options.budgetMs ?? 1000;
    this.totalBudgetMs = options.totalBudgetMs ?? 6000;
    this.minGain = options.minGain ?? 0.05;
    this.now = options.now ?? (() => performance.now());
    this.onProgress = options.onProgress;
    this.adapter = adapterKey(device);
  }

  /** The cache key of a problem on this tuner's device. */
  key(problem: string): string {
    return `${ENGINE_VERSION}|${this.adapter}|${problem}`;
  }

  /**
   * Prepares the chosen candidate. `candidates[0]` is the default: what
   * 'off' would run, and the answer when nothing else can be decided. A
   * candidate whose prepare or run fails is skipped (an adapter may refuse a
   * variant that the limits allow); if all fail, the default's error is
   * thrown.
   */
  async choose(problem: string, candidates: TuneCandidate[], mode: TuneMode): Promise<TunedDispatch> {
    if (candidates.length === 0) throw new Error(`tuning ${problem}: no candidates`);
    const t0 = performance.now();
    const decide = async (
      variant: TuneCandidate,
      source: TuneDecision['source'],
      timings: Record<string, number>,
      prepared?: PreparedDispatch,
    ): Promise<TunedDispatch> => {
      const dispatch = prepared ?? (await variant.prepare());
      const ms = performance.now() - t0;
      this.tuningMs += ms;
      this.decisions.push({ problem, variant: variant.variant, source, timings, ms });
      return withVariant(dispatch, variant.variant);
    };
    if (mode === 'off') return decide(candidates[0], 'default', {});
    const key = this.key(problem);
    const record = validRecord(await this.cache.get(key));
    const cached = record && candidates.find((c) => c.variant === record.variant);
    if (cached) {
      try {
        return await decide(cached, 'cache', {});
      } catch {
        // The cached variant no longer builds here (a device with other
        // limits under the same adapter): decide again below.
      }
    }
    if (mode === 'cached-only') return decide(candidates[0], 'default', {});
    const budget = Math.min(this.budgetMs, this.totalBudgetMs - this.spentMs);
    if (budget <= 0) return decide(candidates[0], 'deferred', {});

    const timings: Record<string, number> = {};
    let best: { candidate: TuneCandidate; dispatch: PreparedDispatch; ms: number } | undefined;
    let firstError: unknown;
    let spent = 0;
    for (let i = 0; i < candidates.length; i++) {
      const candidate = candidates[i];
      if (best && spent > budget) break;
      this.onProgress?.({ problem, variant: candidate.variant, index: i, count: candidates.length });
      let dispatch: PreparedDispatch | undefined;
      try {
        const p0 = this.now();
        try {
          dispatch = await candidate.prepare();
        } finally {
          spent += this.now() - p0;
        }
        const [warm] = await this.timer.time(dispatch, 1);
        spent += warm;
        // A candidate far slower than the best on its warm-up run is not
        // timed further: that bounds the cost of the hopeless ones.
        let ms = warm;
        if (!best || warm <= 4 * best.ms) {
          const runs = await this.timer.time(dispatch, this.repetitions);
          spent += runs.reduce((x, y) => x + y, 0);
          ms = median(runs);
        }
        timings[candidate.variant] = ms;
        if (!best || ms < best.ms * (1 - this.minGain)) {
          best?.dispatch.destroy();
          best = { candidate, dispatch, ms };
          dispatch = undefined;
        }
      } catch (e) {
        if (i === 0) firstError = e;
      } finally {
        dispatch?.destroy();
      }
    }
    this.spentMs += spent;
    if (!best) throw firstError ?? new Error(`tuning ${problem}: every candidate failed`);
    await this.cache.set(key, {
      variant: best.candidate.variant,
      timings,
      clock: this.timer.clock,
      at: new Date().toISOString(),
    });
    return decide(best.candidate, 'measured', timings, best.dispatch);
  }
}

function withVariant(dispatch: PreparedDispatch, variant: string): TunedDispatch {
  return {
    label: dispatch.label,
    kernel: dispatch.kernel,
    variant,
    encode: (pass) => dispatch.encode(pass),
    destroy: () => dispatch.destroy(),
  };
}

/** `mode` if it names a TuneMode; otherwise an error naming `where`. */
export function requireTuneMode(where: string, mode: unknown): TuneMode {
  if (mode === 'auto' || mode === 'cached-only' || mode === 'off') return mode;
  throw new ShapeError(where, 'tune', `must be 'auto', 'cached-only' or 'off', got ${String(mode)}`);
}

const defaultTuners = new WeakMap<GPUDevice, Tuner>();

/** The tuner used when a prepare* call asks to tune but names none: one per device. */
export function defaultTuner(device: GPUDevice): Tuner {
  let t = defaultTuners.get(device);
  if (!t) {
    t = new Tuner(device);
    defaultTuners.set(device, t);
  }
  return t;
}

/** What prepare* functions, plans and the Trainer take to tune. */
export interface TuneOptions {
  /** Default 'off': the shape-based choice. */
  tune?: TuneMode;
  /** Default: defaultTuner(device). */
  tuner?: Tuner;
}
