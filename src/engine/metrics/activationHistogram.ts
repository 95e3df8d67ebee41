/**
 * Per-feature activation histograms (docs/metrics.md, "Activation histograms"): how often each feature
 * fires at each magnitude, in fixed bins shared by every model, run and shard, so histograms add.
 *
 * Bins: octaves. Edges e_i = 2^(i - 11), i = 0..22 (1/2048 to 2048); bin 0 is (0, e_0], bin j is
 * (e_(j-1), e_j], the last bin (e_22, ∞): 24 bins. Only firing activations (z > 0, the rule of the firing
 * counts) are counted, so a feature's bins sum to its firing count. Powers of two are exact in float32,
 * so the graph (float32 comparisons) and JavaScript (float64) put every value in the same bin.
 */

import { HISTOGRAM_EDGES } from '../sae/histogramEdges';

export { HISTOGRAM_EDGES };
/** Bins per feature: one more than the edges (below the first edge, between edges, above the last). */
export const HISTOGRAM_BINS = HISTOGRAM_EDGES.length + 1;

const float64 = new Float64Array(1);
const words = new Uint32Array(float64.buffer);
const EXPONENT_BIAS = 1023;
/** log2 of the first edge (2^-11). */
const FIRST_EDGE_EXPONENT = -11;

/**
 * The bin of a firing activation z > 0: how many edges lie strictly below it. Read from z's float64
 * exponent and mantissa, exactly (z = m · 2^p, 1 <= m < 2: the edges up to 2^p lie below it, 2^p itself
 * only when m > 1); a binary search over the edges took a third of the sparse path's histogram time.
 */
export function histogramBin(z: number): number {
  float64[0] = z;
  const high = words[1];
  const biased = (high >>> 20) & 0x7ff;
  if (biased === 0) return 0; // subnormal: far below the first edge
  const exactPower = (high & 0xfffff) === 0 && words[0] === 0;
  const below = biased - EXPONENT_BIAS - FIRST_EDGE_EXPONENT + (exactPower ? 0 : 1);
  return below < 0 ? 0 : below > HISTOGRAM_EDGES.length ? HISTOGRAM_EDGES.length : below;
}

/**
 * One model's histograms over all features of a layer: counts[f * HISTOGRAM_BINS + j]. Uint32: 96 bytes per
 * feature (6.3 MB at width 65,536), and counts stay exact up to 2^32 tokens.
 */
export class ActivationHistograms {
  readonly counts: Uint32Array;

  constructor(readonly width: number) {
    this.counts = new Uint32Array(width * HISTOGRAM_BINS);
  }

  /** One firing activation (z > 0) of a feature. */
  add(feature: number, z: number): void {
    this.counts[feature * HISTOGRAM_BINS + histogramBin(z)]++;
  }

  /**
   * A chunk reduced in the graph (sae/reducedGraph.ts): firing[f] = #(z > 0) and above[i * width + f] =
   * #(z > e_i), both over the chunk's tokens; bin counts are their differences.
   */
  addCumulative(firing: ArrayLike<number>, above: ArrayLike<number>): void {
    const m = this.width,
      last = HISTOGRAM_EDGES.length;
    for (let f = 0; f < m; f++) {
      if (firing[f] === 0) continue;
      const row = f * HISTOGRAM_BINS;
      let previous = firing[f];
      for (let i = 0; i < last; i++) {
        const current = above[i * m + f];
        this.counts[row + i] += previous - current;
        previous = current;
      }
      this.counts[row + last] += previous;
    }
  }

  mergeFrom(other: ActivationHistograms): void {
    for (let i = 0; i < this.counts.length; i++) this.counts[i] += other.counts[i];
  }

  /** One feature's bin counts. */
  feature(f: number): number[] {
    return Array.from(this.counts.subarray(f * HISTOGRAM_BINS, (f + 1) * HISTOGRAM_BINS));
  }
}
