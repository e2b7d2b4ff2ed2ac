import { AdapterLimitError, DeviceLostError, WebGpuUnavailableError } from '../errors';

/**
 * The smallest limits the engine's kernels are written for. Tiles use up to
 * 16 KiB of workgroup memory and 256 invocations; the training plan binds at
 * most 8 storage buffers in one kernel.
 */
export const ENGINE_MIN_LIMITS = {
  maxComputeWorkgroupStorageSize: 16384,
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupSizeX: 256,
  maxStorageBuffersPerShaderStage: 8,
  maxStorageBufferBindingSize: 64 * 1024 * 1024,
} as const;

/**
 * Features asked for where the adapter has them: timestamp queries (the
 * profiler and benchmarks) and subgroups (the subgroup GEMM kernels, see
 * subgroupLanes). Nothing needs them: without, the engine uses other kernels.
 */
export const ENGINE_OPTIONAL_FEATURES: GPUFeatureName[] = ['timestamp-query', 'subgroups'];

/**
 * The subgroup size the subgroup kernels may be built for on this device, or
 * null. They need the 'subgroups' feature and a fixed subgroup size (min ==
 * max, so that a workgroup of that many invocations is exactly one subgroup),
 * and are written for 4 or 8 lanes: the SIMD width of the CPU adapters
 * (SwiftShader 4, lavapipe 8), where they run 1.5-1.8x faster than the tiled
 * kernels. GPUs (subgroups of 16-64) keep the tiled kernels.
 */
export function subgroupLanes(device: GPUDevice): 4 | 8 | null {
  const lanes = fixedSubgroupSize(device);
  return lanes === 4 || lanes === 8 ? lanes : null;
}

/**
 * The device's subgroup size where the 'subgroups' feature is enabled and
 * the size is fixed (subgroupMinSize == subgroupMaxSize: NVIDIA's 32, the CPU
 * adapters' 4 and 8), else null. gemm_sg_wide is built for this many lanes
 * per workgroup; devices whose size varies (AMD 32-64, Intel 8-32) do not get it.
 */
export function fixedSubgroupSize(device: GPUDevice): number | null {
  if (!device.features.has('subgroups')) return null;
  const info = device.adapterInfo as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
  const min = info?.subgroupMinSize;
  if (min === undefined || min !== info.subgroupMaxSize) return null;
  return Number.isInteger(min) && min >= 4 ? min : null;
}

/** Limits asked for at the adapter's maximum: bigger batches fit, nothing is lost. */
const LIMITS_AT_ADAPTER_MAX = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

export interface AcquireOptions {
  /** The GPU object to use: navigator.gpu in a browser, Dawn's in Node. */
  gpu?: GPU;
  powerPreference?: GPUPowerPreference;
  label?: string;
}

export interface AcquiredDevice {
  adapter: GPUAdapter;
  device: GPUDevice;
  /** A short description of the adapter, for logs and benchmark tables. */
  adapterName: string;
  hasTimestamps: boolean;
}

/**
 * Throws AdapterLimitError when `limits` is below what the engine needs.
 * `offeredBy` says whose limits they are: an adapter's (what a device could
 * get) or a device's (what a host's device was given).
 */
export function checkLimits(
  limits: GPUSupportedLimits,
  where: string,
  offeredBy: 'adapter' | 'device' = 'adapter',
): void {
  for (const [name, min] of Object.entries(ENGINE_MIN_LIMITS)) {
    const have = limits[name as keyof GPUSupportedLimits] as number;
    if (!(have >= min)) throw new AdapterLimitError(name, min, have, where, { offeredBy });
  }
}

/** Checks a device the engine is handed (by a host or by acquireDevice). */
export function checkDevice(device: GPUDevice, where: string): void {
  checkLimits(device.limits, `${where}: device${device.label ? ` '${device.label}'` : ''}`, 'device');
}

/**
 * What the engine knows about a device's loss, shared by every engine object
 * on that device. The device's `lost` promise gets ONE reaction per device,
 * which holds this record and nothing else: no trainer is reachable from the
 * device, so a trainer dropped without destroy() can still be collected.
 * Waiters add themselves to `waiters` for as long as they wait and remove
 * themselves after, so nothing accumulates per call.
 */
export interface LostWatch {
  error: DeviceLostError | null;
  waiters: Set<(e: DeviceLostError) => void>;
}

const lostWatches = new WeakMap<GPUDevice, LostWatch>();

export function lostWatch(device: GPUDevice): LostWatch {
  let watch = lostWatches.get(device);
  if (!watch) {
    const w: LostWatch = { error: null, waiters: new Set() };
    whenLost(device).then((e) => {
      w.error = e;
      for (const wake of [...w.waiters]) wake(e);
      w.waiters.clear();
    });
    lostWatches.set(device, w);
    watch = w;
  }
  return watch;
}

/**
 * `p`, or a rejection with the DeviceLostError if the device is lost first.
 * Adds no lasting reaction to anything: the waiter is removed once `p` settles.
 */
export function raceLost<T>(watch: LostWatch, p: Promise<T>): Promise<T> {
  if (watch.error) {
    p.catch(() => {});
    return Promise.reject(watch.error);
  }
  return new Promise<T>((resolve, reject) => {
    watch.waiters.add(reject);
    p.then(
      (v) => {
        watch.waiters.delete(reject);
        resolve(v);
      },
      (e) => {
        watch.waiters.delete(reject);
        reject(e);
      },
    );
  });
}

export function describeAdapter(adapter: GPUAdapter): string {
  const info = adapter.info;
  const parts = [info?.vendor, info?.architecture, info?.device, info?.description]
    .filter((s) => s && s.length > 0);
  return parts.length > 0 ? [...new Set(parts)].join(' / ') : 'unknown adapter';
}

/**
 * Requests an adapter and a device with the adapter's own limits (not the
 * spec defaults) and timestamp queries where offered. This is a helper: the
 * engine's entry points all take a GPUDevice, so a project with its own device
 * never needs it.
 */
export async function acquireDevice(
  options: AcquireOptions = {},
): Promise<AcquiredDevice> {
  const gpu =
    options.gpu ??
    (typeof navigator !== 'undefined' ? (navigator as Navigator).gpu : undefined);
  if (!gpu) {
    throw new WebGpuUnavailableError(
      'WebGPU is not available here (navigator.gpu is undefined). Use a ' +
        'browser with WebGPU (Chrome 113+) on a secure origin, or pass the ' +
        "GPU object from the 'webgpu' package in Node.",
    );
  }
  const adapter = await gpu.requestAdapter({
    powerPreference: options.powerPreference ?? 'high-performance',
  });
  if (!adapter) {
    throw new WebGpuUnavailableError(
      'WebGPU is present but returned no adapter: the GPU may be blocklisted ' +
        'or its driver missing.',
    );
  }
  const adapterName = describeAdapter(adapter);
  checkLimits(adapter.limits, `adapter ${adapterName}`, 'adapter');
  const requiredLimits: Record<string, number> = {};
  for (const name of LIMITS_AT_ADAPTER_MAX) {
    requiredLimits[name] = adapter.limits[name];
  }
  const hasTimestamps = adapter.features.has('timestamp-query');
  const device = await adapter.requestDevice({
    label: options.label ?? 'wgsl-nn',
    requiredLimits,
    requiredFeatures: ENGINE_OPTIONAL_FEATURES.filter((f) => adapter.features.has(f)),
  });
  return { adapter, device, adapterName, hasTimestamps };
}

export interface DeviceRequirements {
  /** Features the engine uses where present, filtered to what the adapter has. */
  requiredFeatures: GPUFeatureName[];
  /** Limits worth raising to the adapter's maximum (bigger batches fit). */
  requiredLimits: Record<string, number>;
}

/**
 * What the engine would like from a device on `adapter`, for a host that
 * creates the device itself: merge these into your own requestDevice
 * descriptor (union the features, take the larger of each limit). None of it
 * is required: on a device with default limits and no features the engine
 * works, with 'subgroups' the CPU adapters train ~3.7x faster, and the buffer
 * limits bound the largest batch. Throws AdapterLimitError when the adapter
 * is below the engine's minimum limits.
 */
export function deviceRequirements(adapter: GPUAdapter): DeviceRequirements {
  checkLimits(adapter.limits, `adapter ${describeAdapter(adapter)}`);
  return {
    requiredFeatures: ENGINE_OPTIONAL_FEATURES.filter((f) => adapter.features.has(f)),
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
    },
  };
}

/**
 * Resolves (never rejects) when the device is lost, with a typed error to
 * show or rethrow. Destroying the device on purpose reports reason 'destroyed'.
 */
export function whenLost(device: GPUDevice): Promise<DeviceLostError> {
  return device.lost.then(
    (info) => new DeviceLostError(info.reason ?? 'unknown', info.message || 'no detail'),
  );
}
