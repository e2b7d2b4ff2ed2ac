// Type-checked (never run) by the packaging test: the host-device API as a
// graphics project would call it, under strict tsc with both resolutions.
import {
  Trainer,
  PAPER_CNN,
  deviceRequirements,
  ShapeError,
  WgslNnError,
  type DeviceRequirements,
  type EncodedTrainSteps,
  type MnistSplit,
} from 'wgsl-nn';
import { nodeGpu, loadMnistNode } from 'wgsl-nn/node';

export async function hostFrame(train: MnistSplit): Promise<number> {
  const gpu: GPU = await nodeGpu();
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new Error('no adapter');
  const wanted: DeviceRequirements = deviceRequirements(adapter);
  const device = await adapter.requestDevice({
    requiredFeatures: wanted.requiredFeatures,
    requiredLimits: wanted.requiredLimits,
  });
  const trainer = await Trainer.create(device, { model: PAPER_CNN, batchSize: 32, seed: 3 }, { train });
  await trainer.preparePredict(4);
  const input = device.createBuffer({ size: 4 * 784 * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const output = device.createBuffer({ size: 4 * 10 * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  const encoder: GPUCommandEncoder = device.createCommandEncoder();
  const done: EncodedTrainSteps = trainer.encodeTrainSteps(encoder, { steps: 3, metrics: { buffer: output } });
  trainer.predictInto(encoder, { input, output, count: 4, outputOffset: 0 });
  device.queue.submit([encoder.finish()]);
  const weights: Map<string, Float32Array> = await trainer.getWeights();
  const kernel = weights.get('dense/kernel');
  if (kernel) trainer.setWeights({ 'dense/kernel': kernel.map((w) => w * 0.5) });
  const shapes: Map<string, number[]> = trainer.weightShapes();
  try {
    trainer.setWeights(new Map([['nope', new Float32Array(1)]]));
  } catch (e) {
    if (!(e instanceof ShapeError) || !(e instanceof WgslNnError)) throw e;
  }
  trainer[Symbol.dispose]();
  return done.steps + shapes.size;
}

export const data: Promise<{ train: MnistSplit; test: MnistSplit }> = loadMnistNode();
