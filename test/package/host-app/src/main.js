// A graphics host that owns its device: it renders with its own pipeline,
// lets wgsl-nn encode training steps and predictions into its own command
// encoders frame after frame, and its fragment shader reads the predicted
// logits straight from a GPU buffer. Rendering is offscreen: in headless
// Chromium + SwiftShader, mapAsync fails once a canvas frame was presented.
import { Trainer, PAPER_CNN, parseMnist, mnistSubset } from 'wgsl-nn';

const status = document.getElementById('status');
const fail = (e) => {
  console.error(e);
  status.textContent = `host app: failed: ${e?.message ?? e}`;
};
window.addEventListener('unhandledrejection', (e) => fail(e.reason));

const adapter = await navigator.gpu.requestAdapter();
const device = await adapter.requestDevice(); // defaults: the host's choice
device.addEventListener('uncapturederror', (e) => fail(e.error));

const bytes = (name) => fetch(`/mnist/${name}`).then((r) => r.arrayBuffer());
const files = { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' };
const all = parseMnist(await bytes(files.images), await bytes(files.labels), files);
const train = mnistSubset(all, 256);

const trainer = await Trainer.create(device, { model: PAPER_CNN, batchSize: 32, seed: 7 }, { train });
await trainer.preparePredict(1);

// The host's buffers: one image in, ten logits out.
const sample = 1000;
const image = Float32Array.from(all.images.subarray(sample * 784, (sample + 1) * 784), (p) => p / 255);
const imageBuffer = device.createBuffer({ size: image.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
device.queue.writeBuffer(imageBuffer, 0, image);
const logitsBuffer = device.createBuffer({ size: 40, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });

// The host's own pipeline: a full-screen triangle coloured by the argmax of
// the logits (red = digit / 9).
const module = device.createShaderModule({
  code: /* wgsl */ `
    @group(0) @binding(0) var<storage, read> logits: array<f32, 10>;
    @vertex fn vs(@builtin(vertex_index) i: u32) -> @builtin(position) vec4f {
      let p = array(vec2f(-1, -1), vec2f(3, -1), vec2f(-1, 3));
      return vec4f(p[i], 0, 1);
    }
    @fragment fn fs() -> @location(0) vec4f {
      var best = 0u;
      for (var c = 1u; c < 10u; c++) { if (logits[c] > logits[best]) { best = c; } }
      return vec4f(f32(best) / 9.0, 0, 0, 1);
    }`,
});
const pipeline = device.createRenderPipeline({
  layout: 'auto',
  vertex: { module, entryPoint: 'vs' },
  fragment: { module, entryPoint: 'fs', targets: [{ format: 'rgba8unorm' }] },
});
const bindGroup = device.createBindGroup({
  layout: pipeline.getBindGroupLayout(0),
  entries: [{ binding: 0, resource: { buffer: logitsBuffer } }],
});
const target = device.createTexture({ size: [4, 4], format: 'rgba8unorm', usage: GPUTextureUsage.RENDER_ATTACHMENT | GPUTextureUsage.COPY_SRC });
const pixel = device.createBuffer({ size: 256, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ });
const logitsRead = device.createBuffer({ size: 40, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ });

let frames = 0;
let steps = 0;
for (let done = false; !done; frames++) {
  const encoder = device.createCommandEncoder({ label: `frame ${frames}` });
  const encoded = trainer.encodeTrainSteps(encoder, { steps: 2 });
  steps += encoded.steps;
  done = encoded.epochDone;
  trainer.predictInto(encoder, { input: imageBuffer, output: logitsBuffer, count: 1 });
  const pass = encoder.beginRenderPass({
    colorAttachments: [{ view: target.createView(), loadOp: 'clear', storeOp: 'store', clearValue: [0, 0, 1, 1] }],
  });
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.draw(3);
  pass.end();
  if (done) {
    encoder.copyTextureToBuffer({ texture: target }, { buffer: pixel, bytesPerRow: 256 }, [1, 1]);
    encoder.copyBufferToBuffer(logitsBuffer, 0, logitsRead, 0, 40);
  }
  device.queue.submit([encoder.finish()]);
  await device.queue.onSubmittedWorkDone();
}

await Promise.all([pixel.mapAsync(GPUMapMode.READ), logitsRead.mapAsync(GPUMapMode.READ)]);
const red = new Uint8Array(pixel.getMappedRange())[0];
const hostLogits = new Float32Array(logitsRead.getMappedRange().slice(0));
const { logits } = await trainer.predict(image);
const argmax = (a) => a.indexOf(Math.max(...a));
const digit = argmax(hostLogits);
const problems = [];
if (steps !== trainer.stepsPerEpoch) problems.push(`encoded ${steps} steps, the epoch has ${trainer.stepsPerEpoch}`);
if (!hostLogits.every((v, i) => Object.is(v, logits[i]))) problems.push(`host buffer logits ${hostLogits} != predict() ${logits}`);
if (red !== Math.round((digit / 9) * 255)) problems.push(`the host's pipeline drew red ${red} for digit ${digit}`);
trainer.destroy();
if (problems.length) fail(new Error(problems.join('; ')));
else status.textContent = `host app: ok: ${frames} frames, ${steps} steps, predicted ${digit} (label ${all.labels[sample]})`;
