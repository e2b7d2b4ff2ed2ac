// mnist_batch: gathers one training batch from the dataset held on the GPU.
//   x:          (batch, pixels) f32  overwritten: image * f32(1 / 255)
//   labels:     (batch) u32          overwritten
//   images:     (imageCount * pixels) u8, packed 4 per u32 little-endian:
//               pixel p of image i is byte i * pixels + p
//   labelBytes: (imageCount) u8, packed the same way
//   perm:       (>= (step[1] + 1) * batch) u32, this epoch's order of images
//   step:       (>= 2) u32, step[1] = index of this batch within the epoch
// Row r is image perm[step[1] * batch + r]. A row whose perm position lies
// past the end of the perm binding (arrayLength), or whose image index is
// >= imageCount, is written as zeros with label 0xffffffff: nothing is read
// out of bounds, and softmax_cross_entropy skips such a row (no loss, no
// gradient, not counted in its metrics).
//
// One thread per output pixel; the thread of pixel 0 also writes the label.
// Images need not start on a word boundary (pixels = 5 is fine): each byte is
// located on its own.

struct Params {
  batch: u32,
  imageCount: u32,
  pixels: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> labels: array<u32>;
@group(0) @binding(2) var<storage, read> images: array<u32>;
@group(0) @binding(3) var<storage, read> labelBytes: array<u32>;
@group(0) @binding(4) var<storage, read> perm: array<u32>;
@group(0) @binding(5) var<storage, read> step: array<u32>;
@group(0) @binding(6) var<uniform> params: Params;

override WORKGROUP_SIZE: u32 = 256;

const INVALID_LABEL: u32 = 0xffffffffu;
// A multiply is correctly rounded in WGSL, a division only to 2.5 ulp: scaling
// by the f32 nearest 1/255 gives the same bits on every adapter (0 -> 0 and
// 255 -> 1 exactly; other values may differ from x / 255 by one ulp).
const INV_255: f32 = 1.0 / 255.0;

// Byte b of a u8 array packed little-endian into u32 words.
fn image_byte(b: u32) -> u32 {
  return (images[b >> 2u] >> ((b & 3u) * 8u)) & 0xffu;
}

fn label_byte(b: u32) -> u32 {
  return (labelBytes[b >> 2u] >> ((b & 3u) * 8u)) & 0xffu;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
) {
  // A 2-D grid covers batch * pixels beyond 65535 workgroups.
  let i = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
  let pixels = params.pixels;
  if (i >= params.batch * pixels) {
    return;
  }
  let row = i / pixels;
  let p = i - row * pixels;
  // The perm position step[1] * batch + row, checked against perm's length
  // without letting the product wrap around: a batch index past the last
  // whole batch in perm is rejected before multiplying.
  let perm_length = arrayLength(&perm);
  let batch_index = step[1];
  var image = params.imageCount; // an invalid index unless proven otherwise
  if (batch_index <= perm_length / params.batch) {
    let position = batch_index * params.batch + row;
    if (position < perm_length) {
      image = perm[position];
    }
  }
  if (image >= params.imageCount) {
    x[i] = 0.0;
    if (p == 0u) {
      labels[row] = INVALID_LABEL;
    }
    return;
  }
  x[i] = f32(image_byte(image * pixels + p)) * INV_255;
  if (p == 0u) {
    labels[row] = label_byte(image);
  }
}
