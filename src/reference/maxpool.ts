// CPU reference for 2-D max pooling (NHWC), forward and backward, in float64.
// Written as the plain scatter over windows (the GPU kernel gathers instead),
// so the two agree only if the GPU's window search is right.
import { maxPoolGeometry, type MaxPoolShape } from '../kernels/maxpool';

/** y = window max, argmax = flat NHWC index into x (first max on ties). */
export function maxPoolForward(
  x: ArrayLike<number>,
  shape: MaxPoolShape,
): { y: Float64Array; argmax: Uint32Array } {
  const { batch, inH, inW, channels: C, poolH, poolW } = shape;
  const strideH = shape.strideH ?? poolH;
  const strideW = shape.strideW ?? poolW;
  const { outH, outW, padTop, padLeft } = maxPoolGeometry(shape, 'maxpool reference');
  const y = new Float64Array(batch * outH * outW * C);
  const argmax = new Uint32Array(y.length);
  for (let n = 0; n < batch; n++) {
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        for (let c = 0; c < C; c++) {
          let best = -Infinity;
          let bestIndex = -1;
          for (let kh = 0; kh < poolH; kh++) {
            const ih = oh * strideH - padTop + kh;
            if (ih < 0 || ih >= inH) continue;
            for (let kw = 0; kw < poolW; kw++) {
              const iw = ow * strideW - padLeft + kw;
              if (iw < 0 || iw >= inW) continue;
              const index = ((n * inH + ih) * inW + iw) * C + c;
              if (bestIndex < 0 || x[index] > best) {
                best = x[index];
                bestIndex = index;
              }
            }
          }
          const o = ((n * outH + oh) * outW + ow) * C + c;
          y[o] = best;
          argmax[o] = bestIndex;
        }
      }
    }
  }
  return { y, argmax };
}

/**
 * dx = dy scattered to each window's argmax (summed where windows overlap).
 * With relu, a window passes gradient only where y > 0.
 */
export function maxPoolBackward(
  dy: ArrayLike<number>,
  argmax: ArrayLike<number>,
  y: ArrayLike<number>,
  shape: MaxPoolShape & { relu: boolean },
): Float64Array {
  const { outH, outW } = maxPoolGeometry(shape, 'maxpool reference');
  const dx = new Float64Array(shape.batch * shape.inH * shape.inW * shape.channels);
  const outputs = shape.batch * outH * outW * shape.channels;
  for (let o = 0; o < outputs; o++) {
    if (shape.relu && !(y[o] > 0)) continue;
    dx[argmax[o]] += dy[o];
  }
  return dx;
}
