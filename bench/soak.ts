// A soak run, outside `npm test`: many training steps (and a prediction every
// so often) on the small CNN, counting the buffers alive on the device and
// the JS heap after a full GC. Both must stay flat: no buffer growth, and a
// heap bounded by what one epoch needs.
//
//   node --expose-gc --import ./scripts/register.mjs bench/soak.ts [STEPS]
//
// Prints one line per epoch and a verdict; exits 1 if buffers grew.
import type { MnistSplit } from '../src/data/mnist';
import { PRESETS } from '../src/model/model';
import { Trainer } from '../src/model/trainer';
import { acquireNodeDevice } from '../src/node/gpu';
import { Rng } from '../src/util/rng';

const steps = Number(process.argv[2] ?? 10_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const BATCH = 8;
const PER_EPOCH = 200;

const rng = new Rng(7);
const count = BATCH * PER_EPOCH;
const train: MnistSplit = {
  images: new Uint8Array(count * 784).map(() => (rng.next() < 0.2 ? rng.int(256) : 0)),
  labels: new Uint8Array(count).map(() => rng.int(10)),
  count,
  rows: 28,
  cols: 28,
};

const { device } = await acquireNodeDevice('wgsl-nn soak');
let live = 0;
const proto = GPUBuffer.prototype as { destroy: () => void };
const destroy = proto.destroy;
const alive = new Set<GPUBuffer>();
proto.destroy = function (this: GPUBuffer) {
  alive.delete(this);
  return destroy.call(this);
};
const create = device.createBuffer.bind(device);
device.createBuffer = (d: GPUBufferDescriptor) => {
  const b = create(d);
  alive.add(b);
  return b;
};

const trainer = await Trainer.create(device, { model: PRESETS['small-cnn'], batchSize: BATCH, seed: 1, learningRate: 1e-4 }, { train });
const image = new Float32Array(784);
const rows: { epoch: number; step: number; buffers: number; heapMiB: number }[] = [];
while (trainer.globalStep < steps) {
  await trainer.trainEpoch();
  await trainer.predict(image);
  await trainer.predict(new Float32Array(784 * ((trainer.epoch % 6) + 1)));
  gc();
  await new Promise((r) => setImmediate(r));
  gc();
  live = alive.size;
  const heapMiB = process.memoryUsage().heapUsed / 2 ** 20;
  rows.push({ epoch: trainer.epoch, step: trainer.globalStep, buffers: live, heapMiB });
  console.log(`epoch ${trainer.epoch} step ${trainer.globalStep}: ${live} buffers, heap ${heapMiB.toFixed(1)} MiB`);
}
trainer.destroy();
// The predict plan cache fills over the first epochs (sizes 1..6 cycle, 4
// are kept): compare from epoch 6 on.
const first = rows[Math.min(5, rows.length - 1)];
const last = rows[rows.length - 1];
const grew = last.buffers > first.buffers;
console.log(
  `${trainer.globalStep} steps: buffers ${first.buffers} -> ${last.buffers} (after epoch 6 -> last), ` +
    `heap ${first.heapMiB.toFixed(1)} -> ${last.heapMiB.toFixed(1)} MiB, after destroy ${alive.size} buffers (the shared 'unused binding' ones stay)`,
);
device.destroy();
process.exit(grew ? 1 : 0);
