// CPU reference for 2-D average pooling (NHWC), forward and backward, in
// float64. Written as a scatter over windows (the GPU backward gathers).
import { maxPoolGeometry } from '../kernels/maxpool';
import type { AvgPoolShape } from '../kernels/avgpool';

/** Calls visit(o, indices of x in window o) for every output element o. */
function windows(shape: AvgPoolShape, visit: (o: number, inputs: number[]) => void): void {
  const { batch, inH, inW, channels: C, poolH, poolW } = shape;
  const strideH = shape.strideH ?? poolH;
  const strideW = shape.strideW ?? poolW;
  const { outH, outW, padTop, padLeft } = maxPoolGeometry(shape, 'avgpool reference');
  for (let n = 0; n < batch; n++) {
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        for (let c = 0; c < C; c++) {
          const inputs: number[] = [];
          for (let kh = 0; kh < poolH; kh++) {
            const ih = oh * strideH - padTop + kh;
            if (ih < 0 || ih >= inH) continue;
            for (let kw = 0; kw < poolW; kw++) {
              const iw = ow * strideW - padLeft + kw;
              if (iw >= 0 && iw < inW) inputs.push(((n * inH + ih) * inW + iw) * C + c);
            }
          }
          visit(((n * outH + oh) * outW + ow) * C + c, inputs);
        }
      }
    }
  }
}

/** y = the mean of each window over the input elements it covers. */
export function avgPoolForward(x: ArrayLike<number>, shape: AvgPoolShape): Float64Array {
  const { outH, outW } = maxPoolGeometry(shape, 'avgpool reference');
  const y = new Float64Array(shape.batch * outH * outW * shape.channels);
  windows(shape, (o, inputs) => {
    y[o] = inputs.reduce((s, i) => s + x[i], 0) / inputs.length;
  });
  return y;
}

/** dx = each window's dy / count, added to every element it covers. */
export function avgPoolBackward(dy: ArrayLike<number>, shape: AvgPoolShape): Float64Array {
  const dx = new Float64Array(shape.batch * shape.inH * shape.inW * shape.channels);
  windows(shape, (o, inputs) => {
    for (const i of inputs) dx[i] += dy[o] / inputs.length;
  });
  return dx;
}
