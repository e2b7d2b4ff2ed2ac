// CPU reference for conv2d, forward and backward, in float64.
//   x:  (N, H, W, C)      NHWC
//   w:  (KH, KW, C, K)    Keras HWIO
//   b:  (K)
//   y:  (N, OH, OW, K)
// Plain loops, written to be obviously right rather than fast; the GPU
// kernels are checked against these, and these against finite differences.

import { shapeActivation, type ActivationName } from '../kernels/activation';
import { conv2dGeometry, type Conv2dShape } from '../kernels/conv2d';
import { activate } from './activation';

/** The shape with strides filled in and the output geometry resolved. */
function resolve(shape: Conv2dShape) {
  const g = conv2dGeometry(shape, 'conv2d reference');
  return {
    ...shape,
    ...g,
    strideH: shape.strideH ?? 1,
    strideW: shape.strideW ?? 1,
  };
}

/** y = f(conv(x, w) + b), f = shape.activation (`relu: true`: 'relu'). */
export function conv2dForward(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  b: ArrayLike<number>,
  shape: Conv2dShape & { activation?: ActivationName; relu?: boolean },
): Float64Array {
  const s = resolve(shape);
  const activation = shapeActivation(shape);
  const { batch, inH, inW, inC, outC, kernelH, kernelW, outH, outW } = s;
  const y = new Float64Array(batch * outH * outW * outC);
  for (let n = 0; n < batch; n++) {
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        const yBase = ((n * outH + oh) * outW + ow) * outC;
        for (let k = 0; k < outC; k++) {
          let acc = b[k];
          for (let kh = 0; kh < kernelH; kh++) {
            const ih = oh * s.strideH - s.padTop + kh;
            if (ih < 0 || ih >= inH) continue;
            for (let kw = 0; kw < kernelW; kw++) {
              const iw = ow * s.strideW - s.padLeft + kw;
              if (iw < 0 || iw >= inW) continue;
              for (let c = 0; c < inC; c++) {
                acc +=
                  x[((n * inH + ih) * inW + iw) * inC + c] *
                  w[((kh * kernelW + kw) * inC + c) * outC + k];
              }
            }
          }
          y[yBase + k] = activate(acc, activation);
        }
      }
    }
  }
  return y;
}

/**
 * dx from the per-tap columns dcol (N, OH, OW, KH, KW, C): every output
 * pixel adds its column for tap (kh, kw) to the input it read through that
 * tap. With dcol = dy · wᵀ this is conv2dBackwardInput; the GPU's GEMM path
 * computes dx that way.
 */
export function conv2dCol2im(dcol: ArrayLike<number>, shape: Conv2dShape): Float64Array {
  const s = resolve(shape);
  const { batch, inH, inW, inC, kernelH, kernelW, outH, outW } = s;
  const dx = new Float64Array(batch * inH * inW * inC);
  const taps = kernelH * kernelW * inC;
  for (let n = 0; n < batch; n++) {
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        const row = ((n * outH + oh) * outW + ow) * taps;
        for (let kh = 0; kh < kernelH; kh++) {
          const ih = oh * s.strideH - s.padTop + kh;
          if (ih < 0 || ih >= inH) continue;
          for (let kw = 0; kw < kernelW; kw++) {
            const iw = ow * s.strideW - s.padLeft + kw;
            if (iw < 0 || iw >= inW) continue;
            for (let c = 0; c < inC; c++) {
              dx[((n * inH + ih) * inW + iw) * inC + c] += dcol[row + (kh * kernelW + kw) * inC + c];
            }
          }
        }
      }
    }
  }
  return dx;
}

/** dx = conv-transpose(dy, w); dy is the gradient w.r.t. the pre-activation output. */
export function conv2dBackwardInput(
  dy: ArrayLike<number>,
  w: ArrayLike<number>,
  shape: Conv2dShape,
): Float64Array {
  const s = resolve(shape);
  const { batch, inH, inW, inC, outC, kernelH, kernelW, outH, outW } = s;
  const dx = new Float64Array(batch * inH * inW * inC);
  // Scatter form: each output position sends dy * w back to the inputs it
  // read. The GPU gathers instead; the two must agree.
  for (let n = 0; n < batch; n++) {
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        for (let kh = 0; kh < kernelH; kh++) {
          const ih = oh * s.strideH - s.padTop + kh;
          if (ih < 0 || ih >= inH) continue;
          for (let kw = 0; kw < kernelW; kw++) {
            const iw = ow * s.strideW - s.padLeft + kw;
            if (iw < 0 || iw >= inW) continue;
            for (let c = 0; c < inC; c++) {
              let acc = 0;
              for (let k = 0; k < outC; k++) {
                acc +=
                  dy[((n * outH + oh) * outW + ow) * outC + k] *
                  w[((kh * kernelW + kw) * inC + c) * outC + k];
              }
              dx[((n * inH + ih) * inW + iw) * inC + c] += acc;
            }
          }
        }
      }
    }
  }
  return dx;
}

/** dw = sum over (n, oh, ow) of x-patch * dy; db = sum of dy. */
export function conv2dBackwardFilter(
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  shape: Conv2dShape,
): { dw: Float64Array; db: Float64Array } {
  const s = resolve(shape);
  const { batch, inH, inW, inC, outC, kernelH, kernelW, outH, outW } = s;
  const dw = new Float64Array(kernelH * kernelW * inC * outC);
  const db = new Float64Array(outC);
  for (let n = 0; n < batch; n++) {
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        const dyBase = ((n * outH + oh) * outW + ow) * outC;
        for (let k = 0; k < outC; k++) db[k] += dy[dyBase + k];
        for (let kh = 0; kh < kernelH; kh++) {
          const ih = oh * s.strideH - s.padTop + kh;
          if (ih < 0 || ih >= inH) continue;
          for (let kw = 0; kw < kernelW; kw++) {
            const iw = ow * s.strideW - s.padLeft + kw;
            if (iw < 0 || iw >= inW) continue;
            for (let c = 0; c < inC; c++) {
              const xv = x[((n * inH + ih) * inW + iw) * inC + c];
              const wBase = ((kh * kernelW + kw) * inC + c) * outC;
              for (let k = 0; k < outC; k++) dw[wBase + k] += xv * dy[dyBase + k];
            }
          }
        }
      }
    }
  }
  return { dw, db };
}
