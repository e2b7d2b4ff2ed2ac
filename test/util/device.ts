// The GPU device shared by the tests of one file. There is no skip: without
// an adapter, every GPU test fails with the reason.
import { acquireDevice, type AcquiredDevice } from '../../src/gpu/device';
import type { PreparedDispatch } from '../../src/gpu/kernel';

let acquired: Promise<AcquiredDevice> | undefined;
let loggedAdapter = false;

export async function testDevice(): Promise<GPUDevice> {
  acquired ??= acquireDevice({ label: 'wgsl-nn tests' });
  const a = await acquired;
  if (!loggedAdapter) {
    loggedAdapter = true;
    console.log(`[adapter] ${a.adapterName}`);
  }
  return a.device;
}

/** Runs dispatches in one pass, waits, and throws any GPU validation error. */
export async function runDispatches(
  device: GPUDevice,
  dispatches: PreparedDispatch[],
): Promise<void> {
  device.pushErrorScope('validation');
  device.pushErrorScope('out-of-memory');
  const enc = device.createCommandEncoder({ label: 'test' });
  const pass = enc.beginComputePass({ label: 'test' });
  for (const d of dispatches) d.encode(pass);
  pass.end();
  device.queue.submit([enc.finish()]);
  const oom = await device.popErrorScope();
  const validation = await device.popErrorScope();
  await device.queue.onSubmittedWorkDone();
  const err = oom ?? validation;
  if (err) throw new Error(`GPU error in ${dispatches.map((d) => d.label).join(', ')}: ${err.message}`);
}
