// Kernel creation is a guest on the host's device: the error scope it uses
// is opened and closed before its first await, so a host's own errors and
// scopes meanwhile stay the host's.
import { describe, expect, it } from 'vitest';
import { ShaderError } from '../../src/errors';
import { Kernel } from '../../src/gpu/kernel';
import { testDevice } from '../util/device';

// Each test compiles its own kernel (a unique constant), bypassing the cache.
let unique = 0;
const spec = () => ({
  name: 'scope_probe',
  source: `override SCALE: f32 = 1.0;
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(1) fn main() { out[0] = SCALE; }`,
  constants: { SCALE: ++unique },
});

const hostMistake = (device: GPUDevice) =>
  // MAP_READ may only be combined with COPY_DST: a validation error.
  device.createBuffer({ label: 'host mistake', size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE });

describe('Kernel.create and the host\'s error scopes', () => {
  it("a host's scope opened before, popped while a kernel compiles, gets the host's error", async () => {
    const device = await testDevice();
    device.pushErrorScope('validation');
    hostMistake(device);
    const kernel = Kernel.create(device, spec());
    const hostError = await device.popErrorScope();
    expect(hostError?.message).toMatch(/host mistake/);
    await expect(kernel).resolves.toBeInstanceOf(Kernel);
  });

  it("a host's mistake while a kernel compiles goes to the host's uncapturederror, not into the kernel's error", async () => {
    const device = await testDevice();
    const seen: string[] = [];
    const listener = (e: Event) => seen.push((e as GPUUncapturedErrorEvent).error.message);
    device.addEventListener('uncapturederror', listener);
    try {
      const kernel = Kernel.create(device, spec());
      hostMistake(device);
      await expect(kernel).resolves.toBeInstanceOf(Kernel);
      // Events arrive asynchronously; wait (without a time limit of our own)
      // until the device has processed everything submitted so far.
      for (let i = 0; i < 100 && seen.length === 0; i++) {
        await device.queue.onSubmittedWorkDone();
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(seen.join('\n')).toMatch(/host mistake/);
    } finally {
      device.removeEventListener('uncapturederror', listener);
    }
  });

  it('a WGSL error is still a ShaderError naming the file and line', async () => {
    const device = await testDevice();
    const bad = { name: 'broken_probe', source: '@group(0) @binding(0) var<storage, read_write> out: array<f32>;\n@compute @workgroup_size(1) fn main() { out[0] = nope; }' };
    const err = await Kernel.create(device, bad).catch((e) => e);
    expect(err).toBeInstanceOf(ShaderError);
    expect(err.message).toMatch(/shaders\/broken_probe\.wgsl:2:/);
  });
});
