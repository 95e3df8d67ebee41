/** Statistics that make a shifted-feature list trustworthy: intervals, paired tests, FDR control. */

const Z95 = 1.959963984540054;

/** 95% Wilson score interval of a proportion count / n. */
export function wilsonInterval(count: number, n: number, z = Z95): [number, number] {
  if (n <= 0) return [0, 1];
  const p = count / n;
  const z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / (1 + z2 / n);
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

/** erfc(x) for x >= 0 (Numerical Recipes' Chebyshev fit, relative error < 1.2e-7). */
function erfc(x: number): number {
  const t = 1 / (1 + 0.5 * x);
  const y =
    t *
    Math.exp(
      -x * x -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return y;
}

/**
 * Two-sided p-value that the mean paired difference d_t = z_s,t - z_b,t is zero, from its sum and sum of
 * squares over n tokens (normal approximation; |T| is in the thousands).
 */
export function pairedDifferencePValue(sum: number, sumSq: number, n: number): number {
  if (n < 2) return 1;
  const mean = sum / n;
  const variance = Math.max(0, (sumSq - n * mean * mean) / (n - 1));
  if (variance === 0) return mean === 0 ? 1 : 0;
  const z = Math.abs(mean) / Math.sqrt(variance / n);
  return Math.min(1, erfc(z / Math.SQRT2));
}

/** Benjamini-Hochberg adjusted p-values (q-values), in input order. */
export function benjaminiHochberg(p: number[]): number[] {
  const m = p.length;
  const order = p.map((_, i) => i).sort((a, b) => p[a] - p[b]);
  const q = new Array<number>(m);
  let running = 1;
  for (let r = m - 1; r >= 0; r--) {
    const i = order[r];
    running = Math.min(running, (p[i] * m) / (r + 1));
    q[i] = running;
  }
  return q;
}
