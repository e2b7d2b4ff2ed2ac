// CPU reference for softmax cross-entropy, in float64. The forward loss and
// the backward dlogits come from one pass, as in the shader.

export interface SoftmaxCrossEntropyResult {
  /** (B, C): (softmax - onehot) / B, the gradient of the mean loss. */
  dlogits: Float64Array;
  /** (B): -log softmax(logits)[label]. */
  loss: Float64Array;
  /** (B): argmax, the first index on ties. */
  pred: Uint32Array;
  /** [sum of loss, correct predictions, rows counted] for this batch. */
  metrics: Float64Array;
}

/**
 * Same argument order as the shader: outputs returned, then logits and labels.
 * A label >= classes marks a row with no target: zero loss and gradient, and
 * it is left out of every metric.
 */
export function softmaxCrossEntropy(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  batch: number,
  classes: number,
): SoftmaxCrossEntropyResult {
  const dlogits = new Float64Array(batch * classes);
  const loss = new Float64Array(batch);
  const pred = new Uint32Array(batch);
  const metrics = new Float64Array(3);
  for (let r = 0; r < batch; r++) {
    const base = r * classes;
    let best = logits[base];
    let bestIndex = 0;
    for (let j = 1; j < classes; j++) {
      if (logits[base + j] > best) {
        best = logits[base + j];
        bestIndex = j;
      }
    }
    let sum = 0;
    for (let j = 0; j < classes; j++) sum += Math.exp(logits[base + j] - best);
    pred[r] = bestIndex;
    const label = labels[r];
    if (label >= classes) continue;
    for (let j = 0; j < classes; j++) {
      const p = Math.exp(logits[base + j] - best) / sum;
      dlogits[base + j] = (p - (j === label ? 1 : 0)) / batch;
    }
    loss[r] = Math.log(sum) - (logits[base + label] - best);
    metrics[0] += loss[r];
    metrics[1] += bestIndex === label ? 1 : 0;
    metrics[2] += 1;
  }
  return { dlogits, loss, pred, metrics };
}

/** The mean loss over the rows with a target, the quantity dlogits differentiates. */
export function meanCrossEntropy(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  batch: number,
  classes: number,
): number {
  const { metrics } = softmaxCrossEntropy(logits, labels, batch, classes);
  return metrics[0] / batch;
}
