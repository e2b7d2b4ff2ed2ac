// Typed errors. Each names what was wrong and where, so a caller can react to
// the kind (retry on a lost device, show a message for a bad file) and a
// person can read the message without a stack trace.

export class WgslNnError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** navigator.gpu is missing, or no adapter was returned. */
export class WebGpuUnavailableError extends WgslNnError {}

/**
 * The adapter or device cannot give a limit or feature the engine needs, or a
 * buffer would be larger than the device allows. `buffer` names that buffer
 * and `fitsBatch` is the largest batch size whose buffers would fit (when the
 * batch size is what makes it too big).
 */
export class AdapterLimitError extends WgslNnError {
  readonly offeredBy: 'adapter' | 'device';
  readonly buffer?: string;
  readonly fitsBatch?: number;
  constructor(
    readonly limit: string,
    readonly required: number,
    readonly available: number,
    where: string,
    options: { offeredBy?: 'adapter' | 'device'; buffer?: string; fitsBatch?: number; hint?: string } = {},
  ) {
    const by = options.offeredBy ?? 'adapter';
    const hint =
      options.hint ??
      (options.fitsBatch !== undefined
        ? options.fitsBatch >= 1
          ? `a batch size of at most ${options.fitsBatch} would fit`
          : 'no batch size fits: the buffer is too large even for one sample'
        : '');
    super(`${where}: needs ${limit} >= ${required}, but the ${by} offers ${available}${hint ? `; ${hint}` : ''}`);
    this.offeredBy = by;
    this.buffer = options.buffer;
    this.fitsBatch = options.fitsBatch;
  }
}

/** A tensor shape, parameter or buffer that does not fit a kernel or layer. */
export class ShapeError extends WgslNnError {
  constructor(
    readonly where: string,
    readonly dimension: string,
    detail: string,
  ) {
    super(`${where}: ${dimension}: ${detail}`);
  }
}

/** WGSL failed to compile or a pipeline could not be created. */
export class ShaderError extends WgslNnError {}

/** The GPU device was lost (driver reset, tab backgrounded, destroy()). */
export class DeviceLostError extends WgslNnError {
  constructor(
    readonly reason: string,
    detail: string,
  ) {
    super(`GPU device lost (${reason}): ${detail}`);
  }
}

/** A file (IDX, safetensors) that is truncated or malformed. */
export class FileFormatError extends WgslNnError {
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`${file}: ${detail}`);
  }
}

/** A checkpoint whose tensors do not match the model (names, shapes, dtype). */
export class CheckpointError extends WgslNnError {}

/**
 * Training produced NaN or Inf. The loss is read once per submit, so it went
 * bad somewhere in steps fromStep..step (1-based, inclusive).
 */
export class NonFiniteLossError extends WgslNnError {
  readonly fromStep: number;
  constructor(
    readonly step: number,
    readonly value: number,
    fromStep?: number,
  ) {
    const from = fromStep ?? step;
    super(`loss became ${value} ${from === step ? `at step ${step}` : `in steps ${from}..${step}`}; training stopped`);
    this.fromStep = from;
  }
}

/**
 * The loss stayed finite but grew by orders of magnitude over its running
 * mean: the learning rate is too high, and going on would only spoil the
 * weights further.
 */
export class LossDivergedError extends WgslNnError {
  constructor(
    readonly fromStep: number,
    readonly step: number,
    readonly value: number,
    readonly runningMean: number,
  ) {
    super(
      `loss diverged: ${value.toPrecision(4)} ${fromStep === step ? `at step ${step}` : `in steps ${fromStep}..${step}`}, ` +
        `${(value / runningMean).toPrecision(3)}x its running mean ${runningMean.toPrecision(4)}; ` +
        'training stopped (lower the learning rate)',
    );
  }
}

/** The GPU's work did not happen: a step's metrics counted fewer samples than it trained. */
export class GpuResultError extends WgslNnError {}

/** A Trainer (or other engine object) used after destroy(). */
export class DestroyedError extends WgslNnError {
  constructor(readonly where: string) {
    super(`${where}: this trainer was destroyed; create a new one`);
  }
}
