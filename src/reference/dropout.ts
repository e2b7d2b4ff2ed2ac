// CPU reference for inverted dropout, forward and backward, in float64, with
// the same counter-based hash as shaders/common/rng.wgsl so the GPU mask can
// be checked bit for bit. The hash is XXH32 of the 8-byte message
// (step, index) (little-endian u32 words) with `seed` as the xxHash seed.

const PRIME32_2 = 0x85ebca77;
const PRIME32_3 = 0xc2b2ae3d;
const PRIME32_4 = 0x27d4eb2f;
const PRIME32_5 = 0x165667b1;

function rotl32(x: number, r: number): number {
  return ((x << r) | (x >>> (32 - r))) >>> 0;
}

function xxh32Word(h: number, word: number): number {
  return Math.imul(rotl32((h + Math.imul(word, PRIME32_3)) >>> 0, 17), PRIME32_4) >>> 0;
}

/** XXH32(bytes of (step, index) little-endian, seed), a u32. */
export function dropoutHash(seed: number, step: number, index: number): number {
  let h = (seed + PRIME32_5 + 8) >>> 0;
  h = xxh32Word(h, step >>> 0);
  h = xxh32Word(h, index >>> 0);
  h = (h ^ (h >>> 15)) >>> 0;
  h = Math.imul(h, PRIME32_2) >>> 0;
  h = (h ^ (h >>> 13)) >>> 0;
  h = Math.imul(h, PRIME32_3) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** Uniform in [0, 1): the hash's top 24 bits over 2^24. */
export function dropoutUniform(seed: number, step: number, index: number): number {
  return (dropoutHash(seed, step, index) >>> 8) / 16777216;
}

/** mask[i] = 1 / (1 - rate) where u >= rate, else 0. */
export function dropoutMask(n: number, rate: number, seed: number, step: number): Float64Array {
  const mask = new Float64Array(n);
  const scale = 1 / (1 - rate);
  for (let i = 0; i < n; i++) mask[i] = dropoutUniform(seed, step, i) >= rate ? scale : 0;
  return mask;
}

/** y = x * mask (same argument order as the shader: outputs y, mask first). */
export function dropoutForward(
  x: ArrayLike<number>,
  rate: number,
  seed: number,
  step: number,
): { y: Float64Array; mask: Float64Array } {
  const mask = dropoutMask(x.length, rate, seed, step);
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = x[i] * mask[i];
  return { y, mask };
}

/** dx = dy * mask. */
export function dropoutBackward(dy: ArrayLike<number>, mask: ArrayLike<number>): Float64Array {
  const dx = new Float64Array(dy.length);
  for (let i = 0; i < dy.length; i++) dx[i] = dy[i] * mask[i];
  return dx;
}
