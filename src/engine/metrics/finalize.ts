import type { MetricsConfig } from '../config/types';
import { FLAGS, type LayerMetricValues } from '../../shared/layerMetrics';
import type { FeatureCategory, LayerFlag, LayerReport, ShiftedFeature } from '../../shared/reportTypes';
import type { LayerAccumulator } from './layerAccumulator';
import { benjaminiHochberg, pairedDifferencePValue, wilsonInterval } from './significance';

export type LayerMetrics = LayerMetricValues;

/** How the change of the residual stream splits into what the dictionary reconstructs and the rest. */
export function decomposition(acc: LayerAccumulator): NonNullable<LayerReport['decomposition']> {
  const s = acc.sums;
  const n = s.tokens || 1;
  return {
    delta_sq: s.delta_sq / n,
    inside: s.inside / n,
    outside: s.outside / n,
    fraction_inside: s.delta_sq > 0 ? s.inside / s.delta_sq : 0,
    mean_norm_base: s.norm_b / n,
    mean_norm_sft: s.norm_s / n,
  };
}

/** The per-layer metrics of docs/metrics.md from the accumulated sums. */
export function layerMetrics(acc: LayerAccumulator): LayerMetrics {
  const s = acc.sums;
  const n = s.tokens;
  const mean = (x: number) => (n > 0 ? x / n : 0);
  // sum |h - mu|^2 = sum |h|^2 - n |mu|^2, with mu = sum h / n
  const centred = (sq: number, sumH: Float64Array) => {
    let muSq = 0;
    for (let i = 0; i < sumH.length; i++) muSq += sumH[i] * sumH[i];
    return sq - (n > 0 ? muSq / n : 0);
  };
  const ev = (err: number, sq: number, sumH: Float64Array) => {
    const total = centred(sq, sumH);
    return total > 0 ? 1 - err / total : 0;
  };
  return {
    dense_cosine: mean(s.cos_h),
    recon_cosine: mean(s.cos_r),
    feature_overlap: mean(s.overlap),
    active_jaccard: mean(s.jaccard),
    l1_divergence: s.l1_den > 0 ? s.l1_num / s.l1_den : 0,
    norm_ratio: s.norm_b > 0 ? s.norm_s / s.norm_b : 0,
    l0_base: mean(s.l0_b),
    l0_sft: mean(s.l0_s),
    explained_variance_base: ev(s.err_b, s.sq_b, acc.sumHb),
    explained_variance_sft: ev(s.err_s, s.sq_s, acc.sumHs),
  };
}

/** The flags of a layer: each rule of src/shared/layerMetrics.ts FLAGS (docs/metrics.md), in its order. */
export function layerFlags(m: LayerMetrics, c: MetricsConfig): LayerFlag[] {
  return FLAGS.filter((d) => d.raised(m, c)).map((d) => d.flag);
}

export interface FeatureStats {
  freq_base: number;
  freq_sft: number;
  mean_base: number;
  mean_sft: number;
  mean_abs_diff: number;
}

export function featureStats(acc: LayerAccumulator, i: number): FeatureStats {
  const n = acc.sums.tokens || 1;
  return {
    freq_base: acc.cntB[i] / n,
    freq_sft: acc.cntS[i] / n,
    mean_base: acc.sumZb[i] / n,
    mean_sft: acc.sumZs[i] / n,
    mean_abs_diff: acc.sumDiff[i] / n,
  };
}

/** docs/metrics.md's category rules, checked in order; undefined = stable. */
export function categorize(f: FeatureStats, c: MetricsConfig): FeatureCategory | undefined {
  if (f.freq_base < c.dormant_freq && f.freq_sft >= c.active_freq) return 'emerged';
  if (f.freq_sft < c.dormant_freq && f.freq_base >= c.active_freq) return 'vanished';
  const active = Math.max(f.freq_base, f.freq_sft) >= c.active_freq;
  if (active && f.mean_sft >= (1 + c.divergence_threshold) * f.mean_base) return 'amplified';
  if (active && f.mean_sft <= (1 - c.divergence_threshold) * f.mean_base) return 'suppressed';
  return undefined;
}

/**
 * Significance of every shifted feature: Wilson intervals of its frequencies, a paired test of its mean
 * activation change, and Benjamini-Hochberg over the layer's shifted features at rate `fdr`.
 */
function addSignificance(acc: LayerAccumulator, shifted: ShiftedFeature[], fdr: number): Record<FeatureCategory, number> {
  const n = acc.sums.tokens;
  const p = shifted.map((f) => pairedDifferencePValue(acc.sumZs[f.id] - acc.sumZb[f.id], acc.sumSqDiff[f.id], n));
  const q = benjaminiHochberg(p);
  const counts: Record<FeatureCategory, number> = { emerged: 0, vanished: 0, amplified: 0, suppressed: 0 };
  shifted.forEach((f, i) => {
    f.p_value = p[i];
    f.q_value = q[i];
    f.significant = q[i] <= fdr;
    f.freq_base_ci = wilsonInterval(acc.cntB[f.id], n);
    f.freq_sft_ci = wilsonInterval(acc.cntS[f.id], n);
    if (f.significant) counts[f.category]++;
  });
  return counts;
}

export interface ShiftedFeatureList {
  /** Every non-stable feature, ordered. */
  all: ShiftedFeature[];
  /** The first `top_features` of them. */
  shifted: ShiftedFeature[];
  shiftedCount: number;
  categoryCounts: Record<FeatureCategory, number>;
  significantCounts: Record<FeatureCategory, number>;
}

/** All non-stable features ordered by mean_abs_diff (ties: lower index), the first `top_features` kept. */
export function shiftedFeatures(acc: LayerAccumulator, c: MetricsConfig): ShiftedFeatureList {
  const counts: Record<FeatureCategory, number> = { emerged: 0, vanished: 0, amplified: 0, suppressed: 0 };
  const all: ShiftedFeature[] = [];
  for (let i = 0; i < acc.width; i++) {
    const stats = featureStats(acc, i);
    const category = categorize(stats, c);
    if (!category) continue;
    counts[category]++;
    all.push({ id: i, category, ...stats });
  }
  all.sort((a, b) => b.mean_abs_diff - a.mean_abs_diff || a.id - b.id);
  const significantCounts = addSignificance(acc, all, c.fdr);
  return { all, shifted: all.slice(0, c.top_features), shiftedCount: all.length, categoryCounts: counts, significantCounts };
}
