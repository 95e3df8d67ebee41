/**
 * The fixed bin edges of the per-feature activation histograms (docs/metrics.md, "Activation histograms"):
 * octaves e_i = 2^(i - 11), i = 0..22 (1/2048 to 2048). The dense graph (reducedGraph.ts) counts z > e_i with
 * them; metrics/activationHistogram.ts bins with the same edges. Powers of two are exact in float32, so the
 * graph (float32 comparisons) and JavaScript (float64) put every value in the same bin.
 */
export const HISTOGRAM_EDGES: readonly number[] = Object.freeze(Array.from({ length: 23 }, (_, i) => 2 ** (i - 11)));
