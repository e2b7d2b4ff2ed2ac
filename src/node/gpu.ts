// WebGPU in Node through Dawn (the 'webgpu' package, an optional peer
// dependency). Node-only: the browser entry never imports this file, and the
// package is loaded on first use, so 'wgsl-nn/node' works without it for
// everything that needs no GPU (loading MNIST).
import { acquireDevice, type AcquiredDevice } from '../gpu/device';

// Kept at module level on purpose: if the Dawn instance is garbage-collected
// while a device is alive, the process crashes.
let dawn: Promise<GPU> | undefined;

/** Which Vulkan driver Dawn loads is decided by VK_ICD_FILENAMES before start. */
export const ICD_FILES: Record<string, string> = {
  lavapipe: '/usr/share/vulkan/icd.d/lvp_icd.json',
  swiftshader: '/usr/lib/chromium/vk_swiftshader_icd.json',
};

async function loadDawn(): Promise<GPU> {
  let webgpu: { create(options: string[]): unknown; globals: object };
  try {
    webgpu = await import('webgpu');
  } catch (e) {
    throw new Error(
      "wgsl-nn/node: WebGPU in Node needs the 'webgpu' package (Dawn): " +
        `npm install webgpu (${(e as Error).message})`,
    );
  }
  // GPUBufferUsage, GPUMapMode, GPUShaderStage...: the engine and most
  // WebGPU code expect them as globals, as in a browser.
  Object.assign(globalThis, webgpu.globals);
  return webgpu.create([]) as GPU;
}

/**
 * Dawn's GPU object (what navigator.gpu is in a browser), created once per
 * process and kept referenced for its lifetime. Installs the WebGPU globals
 * (GPUBufferUsage, GPUMapMode, ...) on first call. Set VK_ICD_FILENAMES
 * before the first call to pick the Vulkan driver.
 */
export function nodeGpu(): Promise<GPU> {
  dawn ??= loadDawn();
  dawn.catch(() => (dawn = undefined));
  return dawn;
}

/**
 * An adapter and device from Dawn with the engine's preferred settings (the
 * adapter's own limits, 'subgroups' and 'timestamp-query' where offered): see
 * acquireDevice. To create the device yourself, use nodeGpu() and
 * deviceRequirements() instead.
 */
export async function acquireNodeDevice(label = 'wgsl-nn'): Promise<AcquiredDevice> {
  return acquireDevice({ gpu: await nodeGpu(), label });
}
