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

/** The adapter cannot give a limit or feature the engine needs. */
export class AdapterLimitError extends WgslNnError {
  constructor(
    readonly limit: string,
    readonly required: number,
    readonly available: number,
    where: string,
  ) {
    super(
      `${where}: needs ${limit} >= ${required}, but the adapter offers ${available}`,
    );
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

/** Training produced NaN or Inf. */
export class NonFiniteLossError extends WgslNnError {
  constructor(
    readonly step: number,
    readonly value: number,
  ) {
    super(`loss became ${value} at step ${step}; training stopped`);
  }
}
