import { describe, expect, it } from 'vitest';
import { meanCrossEntropy, softmaxCrossEntropy } from '../../src/reference/softmax_cross_entropy';
import { Rng } from '../../src/util/rng';
import { allclose, allequal } from '../util/allclose';

describe('softmax_cross_entropy reference', () => {
  it('matches a hand-computed case', () => {
    // Row 0: exp(logits) = 1, 2, 3, so softmax = 1/6, 1/3, 1/2; label 2.
    // Row 1: all equal, softmax = 1/3 each; label 1; argmax is the first, 0.
    // Row 2: label out of range: no loss, no gradient, not counted.
    const logits = [0, Math.log(2), Math.log(3), 5, 5, 5, 1, 2, 3];
    const r = softmaxCrossEntropy(logits, [2, 1, 0xffffffff], 3, 3);
    // Float64 arithmetic on these few terms: a few ulp of 1.
    const tol = { atol: 1e-15, rtol: 1e-15 };
    allclose('hand loss', r.loss, [Math.log(2), Math.log(3), 0], tol);
    allclose(
      'hand dlogits',
      r.dlogits,
      [1 / 6 / 3, 1 / 3 / 3, -1 / 2 / 3, 1 / 3 / 3, -2 / 3 / 3, 1 / 3 / 3, 0, 0, 0],
      tol,
    );
    allequal('hand pred', r.pred, [2, 0, 2]);
    // Row 0 is predicted right (2), row 1 wrong (0 for label 1).
    allclose('hand metrics', r.metrics, [Math.log(2) + Math.log(3), 1, 2], tol);
  });

  it('is stable for huge logits', () => {
    const r = softmaxCrossEntropy([1e4, -1e4, 1e4, -1e4], [1, 0], 2, 2);
    allclose('huge loss', r.loss, [2e4, 0], { atol: 0, rtol: 1e-15 });
    expect([...r.dlogits].every(Number.isFinite)).toBe(true);
  });

  for (const [batch, classes] of [
    [1, 10],
    [7, 3],
    [16, 10],
  ]) {
    it(`dlogits is the gradient of the mean loss, B=${batch} C=${classes}`, () => {
      const rng = new Rng(batch * 100 + classes);
      const logits = Float64Array.from(rng.floats(batch * classes, -3, 3));
      const labels = Array.from({ length: batch }, () => rng.int(classes));
      const { dlogits } = softmaxCrossEntropy(logits, labels, batch, classes);
      const fd = new Float64Array(batch * classes);
      const h = 1e-5;
      for (let i = 0; i < logits.length; i++) {
        const keep = logits[i];
        logits[i] = keep + h;
        const up = meanCrossEntropy(logits, labels, batch, classes);
        logits[i] = keep - h;
        const down = meanCrossEntropy(logits, labels, batch, classes);
        logits[i] = keep;
        fd[i] = (up - down) / (2 * h);
      }
      // Central differences: truncation ~h^2 * |f'''| ~ 1e-10, rounding
      // ~eps * |f| / h ~ 1e-11 for a loss of order 1.
      allclose(`fd B=${batch} C=${classes}`, dlogits, fd, { atol: 1e-9, rtol: 1e-7 });
    });
  }
});
