// WebGPU in Node through Dawn (the 'webgpu' package). Node-only: the browser
// build never imports this file.
import { create, globals } from 'webgpu';
import { acquireDevice, type AcquiredDevice } from '../gpu/device';

Object.assign(globalThis, globals);

// Kept at module level on purpose: if the Dawn instance is garbage-collected
// while a device is alive, the process crashes.
let dawn: GPU | undefined;

/** Which Vulkan driver Dawn loads is decided by VK_ICD_FILENAMES before start. */
export const ICD_FILES: Record<string, string> = {
  lavapipe: '/usr/share/vulkan/icd.d/lvp_icd.json',
  swiftshader: '/usr/lib/chromium/vk_swiftshader_icd.json',
};

export function nodeGpu(): GPU {
  dawn ??= create([]) as unknown as GPU;
  return dawn;
}

export async function acquireNodeDevice(label = 'wgsl-nn'): Promise<AcquiredDevice> {
  return acquireDevice({ gpu: nodeGpu(), label });
}
