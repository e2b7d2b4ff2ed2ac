// rng: a counter-based hash RNG. No state lives on the GPU: the random word
// for element `index` of step `step` under `seed` is a pure function of the
// three, so any thread can draw its own number in any order, and a training
// step replays bit for bit (src/reference/dropout.ts computes the same words).
//
// The hash is XXH32 (Yann Collet's xxHash, 32-bit) of the 8-byte message
// (step, index), both little-endian u32 words, with `seed` as the xxHash seed.
// Why this one: it passes SMHasher, it is the hash that "Hash Functions for
// GPU Rendering" (Jarzynski & Olano, 2020) rates best in quality among the
// cheap GPU hashes, it needs only u32 multiplies, rotates and shifts (no 64-bit
// arithmetic, which WGSL lacks), and libxxhash gives test vectors to check the
// TypeScript copy against. Its final avalanche spreads every input bit over
// the whole word, so neighbouring indices and consecutive steps are unrelated.
//
// rng_uniform01 keeps the top 24 bits: k * 2^-24 is exact in f32, so u lies in
// [0, 1) on a grid of 2^-24 and never rounds up to 1.

const XXH_PRIME32_2: u32 = 0x85EBCA77u;
const XXH_PRIME32_3: u32 = 0xC2B2AE3Du;
const XXH_PRIME32_4: u32 = 0x27D4EB2Fu;
const XXH_PRIME32_5: u32 = 0x165667B1u;

fn rng_rotl(x: u32, r: u32) -> u32 {
  return (x << r) | (x >> (32u - r));
}

// XXH32 of one more 4-byte word (the short-input path: inputs under 16 bytes).
fn rng_xxh32_word(h: u32, word: u32) -> u32 {
  return rng_rotl(h + word * XXH_PRIME32_3, 17u) * XXH_PRIME32_4;
}

// XXH32(bytes of (step, index) little-endian, seed).
fn rng_hash(seed: u32, step: u32, index: u32) -> u32 {
  var h = seed + XXH_PRIME32_5 + 8u; // 8 = message length in bytes
  h = rng_xxh32_word(h, step);
  h = rng_xxh32_word(h, index);
  // Avalanche.
  h ^= h >> 15u;
  h *= XXH_PRIME32_2;
  h ^= h >> 13u;
  h *= XXH_PRIME32_3;
  h ^= h >> 16u;
  return h;
}

// The top 24 bits of a hash word (the integer behind rng_uniform01).
fn rng_bits24(h: u32) -> u32 {
  return h >> 8u;
}

// Uniform in [0, 1) on a grid of 2^-24: exact in f32.
fn rng_uniform01(h: u32) -> f32 {
  return f32(h >> 8u) * (1.0 / 16777216.0);
}
