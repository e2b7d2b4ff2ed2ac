// The public API of 'wgsl-nn': everything here runs in a browser (and in
// Node, given WebGPU globals). Nothing outside this file and src/node.ts is
// public; internal modules may change between releases.

// Training, evaluation, prediction, checkpoints, and the host-device API.
export {
  Trainer,
  type TrainConfig,
  type TrainEpochOptions,
  type StepProgress,
  type EpochResult,
  type EvalResult,
  type Snapshot,
} from './model/trainer';
export type {
  PredictIntoOptions,
  EncodeTrainStepsOptions,
  EncodedTrainSteps,
} from './model/host_api';

// Models: the paper's CNN, other presets, and the layer spec types.
export {
  buildModel,
  paperCnn,
  PAPER_CNN,
  PRESETS,
  type ModelSpec,
  type LayerSpec,
  type Activation,
  type ActivationName,
  type CnnOptions,
  type Model,
  type ParamInfo,
  type ResolvedLayer,
  type Shape,
} from './model/model';

// Data: IDX and MNIST parsing from bytes the caller fetched or read.
export { parseIdx, type IdxTensor, type IdxType } from './data/idx';
export { parseMnist, mnistSubset, MNIST_FILES, type MnistSplit } from './data/mnist';

// Checkpoints: safetensors encode/decode (the layout is in the README).
export {
  encodeSafetensors,
  decodeSafetensors,
  f32Tensor,
  tensorToF32,
  type SafeTensor,
  type SafeDtype,
} from './model/safetensors';

// Devices: acquiring one, or telling a host's requestDevice what to ask for.
export {
  acquireDevice,
  checkLimits,
  describeAdapter,
  deviceRequirements,
  subgroupLanes,
  whenLost,
  ENGINE_MIN_LIMITS,
  ENGINE_OPTIONAL_FEATURES,
  type AcquireOptions,
  type AcquiredDevice,
  type DeviceRequirements,
} from './gpu/device';

// Typed errors: every failure the engine raises is a WgslNnError.
export {
  WgslNnError,
  WebGpuUnavailableError,
  AdapterLimitError,
  ShapeError,
  ShaderError,
  DeviceLostError,
  FileFormatError,
  CheckpointError,
  NonFiniteLossError,
} from './errors';

// Kernel tuning: time the variants on this adapter, keep the fastest, cache
// the choice (a JSON file in Node: fileTuneCache from 'wgsl-nn/node').
export {
  Tuner,
  defaultTuner,
  gpuTimer,
  memoryTuneCache,
  localStorageTuneCache,
  defaultTuneCache,
  adapterKey,
  variantOf,
  ENGINE_VERSION,
  type TuneMode,
  type TuneOptions,
  type TunerOptions,
  type TuneCache,
  type TuneRecord,
  type TuneCandidate,
  type TuneDecision,
  type TuneProgress,
  type TunedDispatch,
  type DispatchTimer,
} from './gpu/tune';

// Kernels, for building your own pipelines: each prepare* builds a pipeline
// and bind group once and returns a PreparedDispatch to encode per step.
export {
  getKernel,
  Kernel,
  sequence,
  type KernelSpec,
  type PreparedDispatch,
  type PrepareOptions,
  type Reflection,
  type BindingInfo,
  type BindingKind,
  type UniformLayout,
  type UniformField,
} from './gpu/kernel';
export {
  createStorage,
  uploadStorage,
  readBuffer,
  readF32,
  readU32,
  type BufferRef,
  type BufferSlice,
} from './gpu/buffers';
export {
  prepareGemm,
  prepareGemmTiled,
  prepareGemmNaive,
  prepareGemmSubgroup,
  prepareGemmBlocked,
  defaultGemmCore,
  gemmCandidates,
  gemmBlockedName,
  GEMM_BLOCKED_MENU,
  type GemmBuffers,
  type GemmShape,
  type GemmCore,
  type GemmBlockedVariant,
  type PrepareGemmOptions,
} from './kernels/gemm';
export {
  prepareConv2dForward,
  prepareConv2dBackwardInput,
  prepareConv2dBackwardFilter,
  conv2dGeometry,
  type Conv2dShape,
  type Conv2dGeometry,
  type Conv2dForwardBuffers,
  type Conv2dBackwardInputBuffers,
  type Conv2dBackwardFilterBuffers,
  type Padding,
} from './kernels/conv2d';
export {
  prepareMaxPoolForward,
  prepareMaxPoolBackward,
  maxPoolGeometry,
  type MaxPoolShape,
  type MaxPoolForwardBuffers,
  type MaxPoolBackwardBuffers,
} from './kernels/maxpool';
export {
  ACTIVATIONS,
  prepareActivationBackward,
  prepareActivationForward,
  prepareReluBackward,
  type ActivationBackwardBuffers,
  type ReluBackwardBuffers,
} from './kernels/activation';
export {
  prepareBatchNormStats,
  prepareBatchNormForward,
  prepareBatchNormBackward,
  BATCHNORM_DEFAULTS,
  type BatchNormShape,
  type BatchNormStatsBuffers,
  type BatchNormForwardBuffers,
  type BatchNormBackwardBuffers,
} from './kernels/batchnorm';
export { prepareAvgPoolForward, prepareAvgPoolBackward, type AvgPoolShape } from './kernels/avgpool';
export { prepareBiasBackward } from './kernels/bias';
export {
  prepareDropoutForward,
  prepareDropoutBackward,
  type DropoutForwardBuffers,
  type DropoutBackwardBuffers,
} from './kernels/dropout';
export {
  prepareSoftmaxCrossEntropy,
  type SoftmaxCrossEntropyBuffers,
} from './kernels/softmax_cross_entropy';
export {
  prepareAdam,
  ADAM_DEFAULTS,
  type AdamBuffers,
  type AdamShape,
} from './kernels/adam';
