// Node test setup: WebGPU through Dawn (the 'webgpu' package). The adapter is
// chosen by VK_ICD_FILENAMES, set in vitest.config.ts before any worker starts.
import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);
// Keep the Dawn instance referenced for the whole run: if it is collected
// while a device lives, the process crashes (see shared notes).
const gpu = create([]);
const g = globalThis as unknown as { navigator?: { gpu?: GPU }; __dawn?: unknown };
g.__dawn = gpu;
if (!g.navigator) g.navigator = {};
g.navigator.gpu = gpu as unknown as GPU;
