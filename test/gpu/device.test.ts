// subgroupLanes decides where the subgroup kernels run; it must only answer
// for a fixed subgroup size of 4 or 8 with the feature enabled.
import { describe, expect, it } from 'vitest';
import { subgroupLanes } from '../../src/gpu/device';
import { testDevice } from '../util/device';

function fakeDevice(features: string[], min?: number, max?: number): GPUDevice {
  return {
    features: new Set(features),
    adapterInfo: min === undefined ? undefined : { subgroupMinSize: min, subgroupMaxSize: max },
  } as unknown as GPUDevice;
}

describe('subgroupLanes', () => {
  it('is the subgroup size when it is fixed at 4 or 8 and the feature is enabled', () => {
    expect(subgroupLanes(fakeDevice(['subgroups'], 8, 8))).toBe(8);
    expect(subgroupLanes(fakeDevice(['subgroups'], 4, 4))).toBe(4);
  });

  it('is null without the feature, with a varying or larger size, or without adapter info', () => {
    expect(subgroupLanes(fakeDevice([], 8, 8))).toBeNull();
    expect(subgroupLanes(fakeDevice(['subgroups'], 8, 32))).toBeNull();
    expect(subgroupLanes(fakeDevice(['subgroups'], 32, 32))).toBeNull();
    expect(subgroupLanes(fakeDevice(['subgroups'], 16, 16))).toBeNull();
    expect(subgroupLanes(fakeDevice(['subgroups']))).toBeNull();
  });

  it('agrees with the test adapter (lavapipe: 8 lanes, SwiftShader: 4) when it has subgroups', async () => {
    const device = await testDevice();
    const info = device.adapterInfo as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
    const lanes = subgroupLanes(device);
    if (device.features.has('subgroups') && info.subgroupMinSize === info.subgroupMaxSize) {
      expect(lanes).toBe(info.subgroupMinSize);
    } else {
      expect(lanes).toBeNull();
    }
  });
});
