import { HISTOGRAM_BINS } from './activationHistogram';
import type { LayerAccumulator } from './layerAccumulator';
import type { LayerSums } from './layerSums';
import { ACCUMULATOR_ARRAYS } from './serialize';

/**
 * How two LayerAccumulators of the same rows must agree. Continuous sums follow docs/metrics.md's
 * per-feature tolerance (1e-3 relative, or 1e-6 absolute): two correct implementations sum in different
 * orders in float32. Counts (firing counts, L0, histogram bins, which tokens are a feature's top contexts)
 * are `exact` where the inputs make every code exact in float32; otherwise a count may move by a code that
 * sits within rounding of a threshold: by 1e-3 of it, at least 1.
 */
export interface Agreement {
  exactCounts: boolean;
}

const RELATIVE = 1e-3;
const ABSOLUTE = 1e-6;
/** LayerSums entries that count tokens or codes; the others are float sums. */
const COUNT_SUMS: ReadonlySet<keyof LayerSums> = new Set(['tokens', 'l0_b', 'l0_s']);
const dimension = (i: number) => `dimension ${i}`;
/** How each of the accumulator's arrays is named and compared: a typed table, so a new array must be added here. */
const ARRAYS: Record<(typeof ACCUMULATOR_ARRAYS)[number], { label: string; count: boolean; where?: (i: number) => string }> = {
  cntB: { label: 'firing count (base)', count: true },
  cntS: { label: 'firing count (fine-tune)', count: true },
  sumZb: { label: 'sum of activations (base)', count: false },
  sumZs: { label: 'sum of activations (fine-tune)', count: false },
  sumDiff: { label: 'sum of |difference|', count: false },
  sumSqDiff: { label: 'sum of squared difference', count: false },
  sumHb: { label: 'sum of the residual (base)', count: false, where: dimension },
  sumHs: { label: 'sum of the residual (fine-tune)', count: false, where: dimension },
};
/** At most this many differences are named per field. */
const SHOWN = 3;

const closeFloat = (a: number, b: number) => Math.abs(a - b) <= Math.max(RELATIVE * Math.max(Math.abs(a), Math.abs(b)), ABSOLUTE);

/**
 * Where `other` disagrees with `reference` (the CPU's), one line per field: the field, how many entries
 * differ, and the first few as "feature: reference vs other". Empty when they agree.
 */
export function accumulatorDifferences(reference: LayerAccumulator, other: LayerAccumulator, agreement: Agreement): string[] {
  const slack = agreement.exactCounts ? 0 : RELATIVE;
  const closeCount = (a: number, b: number) => Math.abs(a - b) <= (slack === 0 ? 0 : Math.max(1, slack * Math.max(a, b)));
  const out: string[] = [];
  const field = (
    name: string,
    a: ArrayLike<number>,
    b: ArrayLike<number>,
    close: (x: number, y: number) => boolean,
    where: (i: number) => string = (i) => `feature ${i}`,
  ) => {
    const bad: string[] = [];
    let n = 0;
    for (let i = 0; i < a.length; i++) {
      if (close(a[i], b[i])) continue;
      if (n++ < SHOWN) bad.push(`${where(i)}: ${a[i]} vs ${b[i]}`);
    }
    if (n > 0) out.push(`${name}: ${n} of ${a.length} differ (${bad.join('; ')}${n > SHOWN ? '; ...' : ''})`);
  };
  for (const key of Object.keys(reference.sums) as (keyof LayerSums)[]) {
    const [a, b] = [reference.sums[key], other.sums[key]];
    if (!(COUNT_SUMS.has(key) ? closeCount(a, b) : closeFloat(a, b))) out.push(`${key}: ${a} vs ${b}`);
  }
  for (const key of ACCUMULATOR_ARRAYS) {
    const { label, count, where } = ARRAYS[key];
    field(label, reference[key], other[key], count ? closeCount : closeFloat, where);
  }
  const bin = (i: number) => `feature ${Math.floor(i / HISTOGRAM_BINS)} bin ${i % HISTOGRAM_BINS}`;
  field('histogram (base)', reference.histBase.counts, other.histBase.counts, closeCount, bin);
  field('histogram (fine-tune)', reference.histSft.counts, other.histSft.counts, closeCount, bin);
  for (const [name, a, b] of [
    ['top contexts (base)', reference.ctxBase, other.ctxBase],
    ['top contexts (fine-tune)', reference.ctxSft, other.ctxSft],
  ] as const) {
    const per = (i: number) => `feature ${Math.floor(i / a.capacity)} context ${i % a.capacity}`;
    // empty slots hold -Infinity in both
    field(`${name}: values`, a.values, b.values, (x, y) => x === y || closeFloat(x, y), per);
    // which token a slot names is a count-like outcome: exact only where the codes are
    if (slack === 0) {
      field(`${name}: samples`, a.samples, b.samples, (x, y) => x === y, per);
      field(`${name}: positions`, a.positions, b.positions, (x, y) => x === y, per);
    }
  }
  return out;
}
