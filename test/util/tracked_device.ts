// A host's device as the engine sees it, with the means to misbehave: a
// Proxy over a real device that counts the buffers made through it, can
// report other limits, can fail pipeline creation after some number of
// pipelines, and can drop every submit (so the GPU's work never runs).
export interface TrackedDevice {
  device: GPUDevice;
  /** Buffers made through this device and not yet destroyed. */
  live: Set<GPUBuffer>;
  /** Stops tracking destroy() (restores GPUBuffer.prototype.destroy). */
  release(): void;
}

export interface Misbehaviour {
  limits?: Partial<Record<keyof GPUSupportedLimits, number>>;
  /** Pipelines created before every later createComputePipelineAsync rejects. */
  failPipelinesAfter?: number;
  dropSubmits?: boolean;
}

export function trackedDevice(real: GPUDevice, how: Misbehaviour = {}): TrackedDevice {
  const live = new Set<GPUBuffer>();
  const proto = GPUBuffer.prototype as { destroy: () => void };
  const original = proto.destroy;
  proto.destroy = function (this: GPUBuffer) {
    live.delete(this);
    return original.call(this);
  };
  let pipelines = 0;
  const bind = (target: object, key: string | symbol) => {
    const v = Reflect.get(target, key, target);
    return typeof v === 'function' ? v.bind(target) : v;
  };
  const queue = new Proxy(real.queue, {
    get: (t, k) => (k === 'submit' && how.dropSubmits ? () => {} : bind(t, k)),
  });
  const limits = how.limits ? new Proxy(real.limits, { get: (t, k) => (k in how.limits! ? how.limits![k as keyof GPUSupportedLimits] : bind(t, k)) }) : null;
  const device = new Proxy(real, {
    get: (t, k) => {
      if (k === 'queue') return queue;
      if (k === 'limits' && limits) return limits;
      if (k === 'createBuffer') {
        return (d: GPUBufferDescriptor) => {
          const b = t.createBuffer(d);
          live.add(b);
          return b;
        };
      }
      if (k === 'createComputePipelineAsync' && how.failPipelinesAfter !== undefined) {
        return (d: GPUComputePipelineDescriptor) =>
          pipelines++ >= how.failPipelinesAfter! ? Promise.reject(new Error(`test: pipeline ${d.label} refused`)) : t.createComputePipelineAsync(d);
      }
      return bind(t, k);
    },
  }) as GPUDevice;
  return { device, live, release: () => (proto.destroy = original) };
}
