/** docs/metrics.md's cos(u, v) from u·v, |u|² and |v|²: 1 when both are zero, 0 when one is. */
export function cosineFromSums(dot: number, sqA: number, sqB: number): number {
  if (sqA === 0 && sqB === 0) return 1;
  if (sqA === 0 || sqB === 0) return 0;
  return dot / Math.sqrt(sqA * sqB);
}

/** cos(a[from..to), b[from..to)), summed in float64. */
export function cosineOf(a: ArrayLike<number>, b: ArrayLike<number>, from = 0, to = a.length): number {
  let dot = 0,
    sqA = 0,
    sqB = 0;
  for (let i = from; i < to; i++) {
    dot += a[i] * b[i];
    sqA += a[i] * a[i];
    sqB += b[i] * b[i];
  }
  return cosineFromSums(dot, sqA, sqB);
}
