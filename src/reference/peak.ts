// CPU reference for the ceiling kernels (peak_fma, peak_copy), in float64.
// The benchmarks and test/kernels/peak.test.ts check the GPU against these.

/**
 * out(threads, 4): for invocation i, the sum over `chains` chains of
 * `iterations` steps x <- x * a + b from x0 = (i % 64) + c + (0, .25, .5, .75),
 * summed in the shader's order: ((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7)).
 * In float64; with values exact in f32 (a = 1 or a power of two, small
 * integers and quarters) it equals the f32 result bit for bit.
 */
export function peakFma(shape: {
  threads: number;
  iterations: number;
  chains: number;
  a: number;
  b: number;
}): Float64Array {
  const { threads, iterations, chains, a, b } = shape;
  const out = new Float64Array(threads * 4);
  const x = new Float64Array(8);
  for (let i = 0; i < threads; i++) {
    for (let lane = 0; lane < 4; lane++) {
      for (let c = 0; c < 8; c++) x[c] = (i % 64) + lane * 0.25 + c;
      for (let t = 0; t < iterations; t++) {
        for (let c = 0; c < chains; c++) x[c] = x[c] * a + b;
      }
      // The shader's order of summation; chains that did not run are left out.
      let s = x[0];
      if (chains >= 2) s += x[1];
      if (chains >= 4) s += x[2] + x[3];
      if (chains >= 8) s += x[4] + x[5] + (x[6] + x[7]);
      out[i * 4 + lane] = s;
    }
  }
  return out;
}

/** dst = src. */
export function peakCopy(src: ArrayLike<number>): Float64Array {
  return Float64Array.from(src);
}
