// Compares a GPU result with its CPU reference and reports the error.
// Passes where |got - want| <= atol + rtol * |want| for every element.

export interface Tolerance {
  atol: number;
  rtol: number;
}

export interface CloseStats {
  maxAbs: number;
  maxRel: number;
}

export function allclose(
  what: string,
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tol: Tolerance,
): CloseStats {
  if (got.length !== want.length) {
    throw new Error(`${what}: length ${got.length} != reference length ${want.length}`);
  }
  let maxAbs = 0;
  let maxRel = 0;
  let firstBad = -1;
  let bad = 0;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= tol.atol + tol.rtol * Math.abs(want[i]))) {
      bad++;
      if (firstBad < 0) firstBad = i;
    }
    if (!Number.isFinite(got[i])) maxAbs = Infinity;
    maxAbs = Math.max(maxAbs, d);
    maxRel = Math.max(maxRel, d / Math.max(Math.abs(want[i]), 1e-6));
  }
  const line =
    `[error] ${what}: n=${got.length} max_abs=${maxAbs.toExponential(2)} ` +
    `max_rel=${maxRel.toExponential(2)} (atol=${tol.atol}, rtol=${tol.rtol})`;
  console.log(line);
  if (bad > 0) {
    const pairs: string[] = [];
    for (let i = firstBad; i < got.length && pairs.length < 5; i++) {
      const d = Math.abs(got[i] - want[i]);
      if (!(d <= tol.atol + tol.rtol * Math.abs(want[i]))) pairs.push(`[${i}] got ${got[i]} want ${want[i]}`);
    }
    throw new Error(`${line}\n${bad} elements outside tolerance, first at ${firstBad}:\n  ${pairs.join('\n  ')}`);
  }
  return { maxAbs, maxRel };
}

/** Exact comparison for integer outputs (indices, counts). */
export function allequal(what: string, got: ArrayLike<number>, want: ArrayLike<number>): void {
  if (got.length !== want.length) {
    throw new Error(`${what}: length ${got.length} != reference length ${want.length}`);
  }
  let bad = 0;
  let first = -1;
  for (let i = 0; i < got.length; i++) {
    if (got[i] !== want[i]) {
      bad++;
      if (first < 0) first = i;
    }
  }
  console.log(`[error] ${what}: n=${got.length} mismatches=${bad} (exact)`);
  if (bad > 0) throw new Error(`${what}: ${bad} mismatches, first at [${first}]: got ${got[first]} want ${want[first]}`);
}
